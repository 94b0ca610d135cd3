"""One run of a migration at a time per env: a lease item in the env's state lock table
(LockID `<state bucket>/migrations/<component>/<id>`, beside Terraform's own lock items), taken
with a conditional write and renewed while the run goes on.

Two runs of one migration would each checkpoint their own positions into the one checkpoint
object and overwrite each other's, so a resumed run could skip pages neither finished. A run
that dies without releasing (SIGKILL, a lost machine) leaves a lease that expires LEASE_S after
its last renewal; the next run takes it over then, and goes on from the checkpoints. A holder
on this very machine whose process is gone is provably dead: its lease is taken over at once.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from botocore.exceptions import ClientError

from bbws_infra.core import git
from bbws_infra.core.errors import UserError
from bbws_infra.core.registry import Environment
from bbws_infra.core.untyped import Session
from bbws_infra.migrations.checkpoints import PREFIX

LEASE_S = 300.0  # how long a lease outlives its last renewal
RENEW_S = 60.0


def lease_id(env: Environment, component: str, migration: str) -> str:
    return f"{env.state_bucket}/{PREFIX}{component}/{migration}"


@dataclass(frozen=True)
class Holder:
    who: str
    since: str
    expires: float
    token: str
    host: str = ""
    pid: int = 0

    @classmethod
    def from_item(cls, item: dict[str, dict[str, str]]) -> Holder:
        info = json.loads(item.get("Info", {}).get("S", "{}"))
        return cls(str(info.get("who", "?")), str(info.get("since", "?")),
                   float(item.get("Expires", {}).get("N", "0")), item.get("Token", {}).get("S", ""),
                   str(info.get("host", "")), int(info.get("pid", 0)))

    @property
    def gone(self) -> bool:
        """Its process ran on this machine and no longer exists."""
        if self.host != socket.gethostname() or self.pid <= 0:
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # another user's live process
            return False
        return False


class Lease:
    """A held lease: renew() pushes its expiry on; a lease taken over by another run (it
    expired) cannot be renewed, and renew() raises LeaseLost."""

    def __init__(self, session: Session, env: Environment, component: str,
                 migration: str) -> None:
        self.dynamodb = session.client("dynamodb", region_name=env.region)
        self.table, self.id = env.lock_table, lease_id(env, component, migration)
        self.token = uuid.uuid4().hex
        self.name = f"{component} {migration}"
        self.env_name = env.name
        self.lost = threading.Event()  # set when a renewal failed: the run must stop

    def _item(self, since: str) -> dict[str, dict[str, str]]:
        info = json.dumps({"who": git.who(), "since": since, "operation": "migrate",
                           "host": socket.gethostname(), "pid": os.getpid()})
        return {"LockID": {"S": self.id}, "Token": {"S": self.token}, "Info": {"S": info},
                "Expires": {"N": f"{time.time() + LEASE_S:.0f}"}}

    def take(self, since: str) -> None:
        """Take the lease when nobody holds it or the holder's lease expired; otherwise one
        sentence naming who holds it."""
        try:
            self.dynamodb.put_item(
                TableName=self.table, Item=self._item(since),
                ConditionExpression="attribute_not_exists(LockID) OR Expires < :now",
                ExpressionAttributeValues={":now": {"N": f"{time.time():.0f}"}})
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            holder = Holder.from_item(self._current())
            if holder.gone and self._take_over(holder, since):
                return
            left = max(0.0, holder.expires - time.time())
            raise UserError(
                f"{self.name} is already being run in {self.env_name} by {holder.who} (since "
                f"{holder.since}); two runs would overwrite each other's checkpoints, so this "
                f"one changed nothing. If that run is gone, its lease ends in {left:.0f} s and "
                "the next run goes on from its checkpoints.") from None

    def _take_over(self, holder: Holder, since: str) -> bool:
        """Replace a dead holder's lease, as long as it is still that holder's."""
        return self._while_held_by(holder.token, "put_item", Item=self._item(since))

    def _current(self) -> dict[str, dict[str, str]]:
        found = self.dynamodb.get_item(TableName=self.table, Key={"LockID": {"S": self.id}},
                                       ConsistentRead=True).get("Item")
        return found or {}

    def renew(self, since: str) -> None:
        if not self._while_held_by(self.token, "put_item", Item=self._item(since)):
            raise LeaseLost(f"The lease of {self.name} in {self.env_name} was taken over by "
                            "another run (this one was not renewed in time); this run "
                            "stopped.")

    def release(self) -> None:
        """Remove the lease if it is still this run's (never another run's)."""
        self._while_held_by(self.token, "delete_item", Key={"LockID": {"S": self.id}})

    def _while_held_by(self, token: str, operation: str, **request: object) -> bool:
        """A put_item or delete_item of the lease item on the condition that `token` holds it;
        whether it was made."""
        try:
            getattr(self.dynamodb, operation)(
                TableName=self.table, ConditionExpression="#token = :token",
                ExpressionAttributeNames={"#token": "Token"},
                ExpressionAttributeValues={":token": {"S": token}}, **request)
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return False
        return True


class LeaseLost(UserError):
    """Another run took the lease over: this one must stop writing checkpoints."""


@contextmanager
def held(session: Session, env: Environment, component: str, migration: str,
         since: str) -> Iterator[Lease]:
    """The lease for the block's duration, renewed every RENEW_S by a background thread; a
    renewal that fails sets `lost` on the yielded lease (the run checks it and stops)."""
    lease = Lease(session, env, component, migration)
    lease.take(since)
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(RENEW_S):
            try:
                lease.renew(since)
            except Exception:  # lost, or AWS unreachable: stop rather than race another run
                lease.lost.set()
                return

    thread = threading.Thread(target=renew, name="lease", daemon=True)
    thread.start()
    try:
        yield lease
    finally:
        stop.set()
        thread.join()
        lease.release()
