"""The deployment ledger: one JSON object per apply, promotion and rollback, kept in the env's
state bucket beside the state (versioned and encrypted like it) under
ledger/<component>/<started>-<action>-<id>.json.

One object per record means two writers never overwrite each other and nothing needs a lock
(each is written with If-None-Match: *, so even a repeated key could not replace a record);
the key starts with the UTC start time, so a key listing sorted backwards is newest first.
Writing is the only way records are made, and a failed write is an error: an apply that cannot
be recorded is reported as failed to record, never passed over with a warning.

The release order trusts a record only as far as AWS can vouch for it: a record keyed in the
future is never the newest, and a verification counts only when the state version its
state_after names exists with that serial and lineage (and, when the apply wrote state, was
written while the apply ran). Before Terraform applies, the deploy path leaves an intent
(ledger-intents/<component>/<key>) so that a run killed mid-apply is still known to doctor.
See docs/decisions/ledger.md for who may write here and how AWS enforces it.

A data migration run (`invoke migrate`) is recorded here too, as action "migrate" with the
migration's id and counts. It changes items, never Terraform state, so every reader of what is
deployed (current, verified, running_commit, doctor) passes those records over, by their key
alone; only history and the migration listing read them.
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime, timedelta

from botocore.exceptions import BotoCoreError, ClientError

from bbws_infra.core.errors import OperationError
from bbws_infra.core.registry import COMPONENTS, Environment
from bbws_infra.core.untyped import JsonObject, Session

PREFIX = "ledger/"
INTENTS_PREFIX = "ledger-intents/"
FORMAT = 1
ACTIONS = ("apply", "promote", "rollback")
MIGRATE = "migrate"  # a data migration run: no state, no deployment (see the docstring)
# result values: applied; failed (may have changed something); nothing applied (failed before
# Terraform changed anything: it withdraws no earlier verification); started (intents only)
APPLIED, NOT_APPLIED, NOTHING_APPLIED, STARTED = "applied", "failed", "nothing applied", "started"
# a migration run stopped by a signal: its checkpoints let the next run go on
INTERRUPTED = "interrupted"
# How far the clocks of the writer, S3 and the reader may disagree.
CLOCK_SKEW = timedelta(minutes=5)
PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"  # verification values


@dataclass
class StatePoint:
    """The component's state object at one moment (empty when there was none)."""

    version_id: str | None = None
    serial: int = 0
    lineage: str = ""


@dataclass
class Record:
    env: str
    component: str
    action: str  # one of ACTIONS
    target: str
    commit: str
    dirty: bool
    inputs_sha256: str
    bundle_sha256: str  # sha256 of the applied plan file
    state_before: StatePoint
    state_after: StatePoint
    who: str
    started_at: str  # ISO 8601, UTC
    finished_at: str
    result: str  # APPLIED or NOT_APPLIED
    verification: str  # PASSED, FAILED or SKIPPED
    failed_checks: list[str] = field(default_factory=list)
    backups: list[str] = field(default_factory=list)  # ARNs of on-demand backups taken first
    error: str = ""
    rolled_back_to: str = ""  # rollbacks: the state version id gone back to
    migration: str = ""  # migrate records: the migration's id
    counts: dict[str, int] = field(default_factory=dict)  # migrate: seen, changed, ...
    resumed_from: dict[str, str] = field(default_factory=dict)  # migrate: segment -> position
    key: str = ""  # the object key, filled in when written or read
    format: int = FORMAT

    @property
    def verified(self) -> bool:
        return self.result == APPLIED and self.verification == PASSED

    def to_json(self) -> str:
        data = asdict(self)
        data.pop("key")
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, data: JsonObject, key: str) -> Record:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        for name in ("state_before", "state_after"):
            values[name] = StatePoint(**(values.get(name) or {}))
        return cls(**{**values, "key": key})


def _key(record: Record, prefix: str = PREFIX) -> str:
    stamp = record.started_at.replace("-", "").replace(":", "")
    return f"{prefix}{record.component}/{stamp}-{record.action}-{uuid.uuid4().hex[:8]}.json"


def key_action(key: str) -> str:
    """The action a record's key names (<start>-<action>-<id>.json); "" for another key."""
    parts = key.rsplit("/", 1)[-1].split("-")
    return parts[1] if len(parts) == 3 and key_time(key) is not None else ""


def key_time(key: str) -> datetime | None:
    """When a record's key says it started (None when the key is not one this module makes)."""
    try:
        return datetime.strptime(key.rsplit("/", 1)[-1].split("-", 1)[0],
                                 "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def _in_the_past(key: str) -> bool:
    when = key_time(key)
    return when is not None and when <= datetime.now(UTC) + CLOCK_SKEW


def write_intent(session: Session, env: Environment, record: Record) -> str:
    """Before Terraform applies: what is about to be applied, so that a run killed while its
    worker finishes the apply leaves a trace doctor can name. Never removed."""
    return write(session, env, record, prefix=INTENTS_PREFIX)


def write(session: Session, env: Environment, record: Record, prefix: str = PREFIX) -> str:
    """Store the record; its key. Raises OperationError (with the record) when it cannot."""
    from botocore.exceptions import BotoCoreError, ClientError

    key = _key(record, prefix)
    try:
        # If-None-Match: S3 refuses to replace an existing key, and the deploy role may write
        # ledger/ only with it (iam_policy): a record is created, never overwritten.
        session.client("s3", region_name=env.region).put_object(
            Bucket=env.state_bucket, Key=key, Body=record.to_json().encode(),
            ContentType="application/json", IfNoneMatch="*")
    except (ClientError, BotoCoreError) as error:
        raise OperationError(
            f"The {record.action} of {record.component} in {env.name} ended "
            f"({record.result}) but its ledger record could not be written to "
            f"s3://{env.state_bucket}/{key} ({error}); the record follows, keep it.",
            details=record.to_json()) from None
    record.key = key
    return key


def records(session: Session, env: Environment, component: str | None = None,
            include_future: bool = False, migrations: bool = False) -> Iterator[Record]:
    """Records newest first, of one component or all; each object is read only when reached.
    Records keyed in the future (no run can have started then) are left out unless asked for:
    they never count as the newest. Migration records are left out unless `migrations`: they
    say nothing about what is deployed."""
    return _records(session, env, component,
                    lambda key: (include_future or _in_the_past(key))
                    and (migrations or key_action(key) != MIGRATE))


def _records(session: Session, env: Environment, component: str | None,
             wanted: Callable[[str], bool]) -> Iterator[Record]:
    s3 = session.client("s3", region_name=env.region)
    prefix = f"{PREFIX}{component}/" if component else PREFIX
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=env.state_bucket,
                                                              Prefix=prefix):
        keys += [item["Key"] for item in page.get("Contents", [])]
    # newest first across components: order by the file name (start time first)
    keys.sort(key=lambda k: k.rsplit("/", 1)[-1], reverse=True)
    for key in filter(wanted, keys):
        body = s3.get_object(Bucket=env.state_bucket, Key=key)["Body"].read()
        yield Record.from_dict(json.loads(body), key)


def read(session: Session, env: Environment, component: str | None = None,
         limit: int | None = None) -> list[Record]:
    """Up to `limit` records, newest first, all of them (history shows what is there),
    migration runs included."""
    return list(itertools.islice(records(session, env, component, include_future=True,
                                         migrations=True), limit))


def migration_records(session: Session, env: Environment, component: str) -> Iterator[Record]:
    """The component's migration runs, newest first; only their objects are read."""
    return _records(session, env, component, lambda key: key_action(key) == MIGRATE)


def current(session: Session, env: Environment, component: str) -> Record | None:
    """What the component runs now: its newest record whose apply went through."""
    return next((r for r in records(session, env, component) if r.result == APPLIED), None)


@dataclass(frozen=True)
class Deployed:
    """What one component of one env runs now (record None: never deployed)."""

    env: str
    component: str
    record: Record | None


def deployed_everywhere(session_for: Callable[[Environment], Session], envs: list[Environment],
                        components: list[str]) -> tuple[list[Deployed], dict[str, str]]:
    """What each component runs in each env, and each env whose ledger could not be read with
    why: on AWS, one set of credentials may not read every env's ledger, and the other envs
    are still listed (session_for(env) is called inside that rule too)."""
    found: list[Deployed] = []
    unreadable: dict[str, str] = {}
    for env in envs:
        try:
            session = session_for(env)
            found += [Deployed(env.name, name, current(session, env, name))
                      for name in components]
        except (ClientError, BotoCoreError) as error:
            unreadable[env.name] = str(error)
    return found, unreadable


def running_commit(session: Session, env: Environment, component: str) -> Record | None:
    """The newest applied record that names a commit: the configuration the component's
    resources were last made from. A state restore without a commit changed no resource, so
    it is passed over; None when no applied record names a commit."""
    return next((r for r in records(session, env, component)
                 if r.result == APPLIED and r.commit), None)


def verified(session: Session, env: Environment, component: str, commit: str) -> Record | None:
    """The newest record of exactly `commit` (from a clean tree), when it applied and verified
    and the state version it left vouches for it. A later failed apply, failed or skipped
    verification of the same commit withdraws an earlier pass (what runs there now is no
    longer known to match the commit); a run that applied nothing withdraws nothing."""
    known = list(records(session, env, component))
    newest = next((r for r in known
                   if r.commit == commit and not r.dirty and r.result != NOTHING_APPLIED),
                  None)
    if newest is None or not newest.verified:
        return None
    return newest if state_problem(session, env, newest, known) is None else None


def newest_verified(session: Session, env: Environment, component: str) -> Record | None:
    """The newest verified record from a clean tree that its state version vouches for
    (promotion's default commit)."""
    known = list(records(session, env, component))
    return next((r for r in known if r.verified and not r.dirty
                 and state_problem(session, env, r, known) is None), None)


def wrote(record: Record) -> bool:
    """Whether the run the record describes wrote a new state version."""
    return bool(record.state_after.version_id) \
        and record.state_after.version_id != record.state_before.version_id


def state_problem(session: Session, env: Environment, record: Record,
                  known: Iterable[Record] = ()) -> str | None:
    """Why the state version a record's state_after names does not vouch for it, or None: it
    must exist under the component's state key with the recorded serial and lineage, and, when
    the apply wrote state, have been written between the record's start and end, and be
    claimed as written by no other of the `known` records (a copy of a real record's state
    points under another commit)."""
    from botocore.exceptions import ClientError

    after = record.state_after
    if wrote(record) and any(other.key != record.key and wrote(other)
                              and other.state_after.version_id == after.version_id
                              for other in known):
        return f"another record also claims to have written state version {after.version_id}"
    component = COMPONENTS.get(record.component)
    if component is None or not after.version_id:
        return "it names no state version"
    try:
        found = session.client("s3", region_name=env.region).get_object(
            Bucket=env.state_bucket, Key=component.state_key, VersionId=after.version_id)
        state = json.loads(found["Body"].read())
    except (ClientError, ValueError) as error:
        return f"state version {after.version_id} cannot be read ({error})"
    if (state.get("serial"), state.get("lineage")) != (after.serial, after.lineage):
        return (f"state version {after.version_id} has serial {state.get('serial')} and "
                f"lineage {state.get('lineage')}, not {after.serial} and {after.lineage}")
    if after.version_id != record.state_before.version_id:
        written = found["LastModified"]
        try:
            start = datetime.fromisoformat(record.started_at.replace("Z", "+00:00"))
            end = datetime.fromisoformat(record.finished_at.replace("Z", "+00:00"))
        except ValueError:
            return "its start or end time is unreadable"
        if not start - CLOCK_SKEW <= written <= end + CLOCK_SKEW:
            return (f"state version {after.version_id} was written at {written.isoformat()}, "
                    "outside the run the record describes")
    return None
