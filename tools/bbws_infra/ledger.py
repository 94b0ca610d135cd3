"""The deployment ledger: one JSON object per apply, promotion and rollback, kept in the env's
state bucket beside the state (versioned and encrypted like it) under
ledger/<component>/<started>-<action>-<id>.json.

One object per record means two writers never overwrite each other and nothing needs a lock
(each is written with If-None-Match: *, so even a repeated key could not replace a record);
the key starts with the UTC start time, so a key listing sorted backwards is newest first.
Writing is the only way records are made, and a failed write is an error: an apply that cannot
be recorded is reported as failed to record, never passed over with a warning.
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from bbws_infra.errors import OperationError
from bbws_infra.registry import Environment

PREFIX = "ledger/"
FORMAT = 1
ACTIONS = ("apply", "promote", "rollback")
APPLIED, NOT_APPLIED = "applied", "failed"  # result values
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
    def from_dict(cls, data: dict[str, Any], key: str) -> Record:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        for name in ("state_before", "state_after"):
            values[name] = StatePoint(**(values.get(name) or {}))
        return cls(**{**values, "key": key})


def _key(record: Record) -> str:
    stamp = record.started_at.replace("-", "").replace(":", "")
    return f"{PREFIX}{record.component}/{stamp}-{record.action}-{uuid.uuid4().hex[:8]}.json"


def write(session: Any, env: Environment, record: Record) -> str:
    """Store the record; its key. Raises OperationError (with the record) when it cannot."""
    from botocore.exceptions import BotoCoreError, ClientError

    key = _key(record)
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


def records(session: Any, env: Environment, component: str | None = None
            ) -> Iterator[Record]:
    """Records newest first, of one component or all; each object is read only when reached."""
    s3 = session.client("s3", region_name=env.region)
    prefix = f"{PREFIX}{component}/" if component else PREFIX
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=env.state_bucket,
                                                              Prefix=prefix):
        keys += [item["Key"] for item in page.get("Contents", [])]
    # newest first across components: order by the file name (start time first)
    keys.sort(key=lambda k: k.rsplit("/", 1)[-1], reverse=True)
    for key in keys:
        body = s3.get_object(Bucket=env.state_bucket, Key=key)["Body"].read()
        yield Record.from_dict(json.loads(body), key)


def read(session: Any, env: Environment, component: str | None = None,
         limit: int | None = None) -> list[Record]:
    """Up to `limit` records, newest first."""
    return list(itertools.islice(records(session, env, component), limit))


def current(session: Any, env: Environment, component: str) -> Record | None:
    """What the component runs now: its newest record whose apply went through."""
    return next((r for r in records(session, env, component) if r.result == APPLIED), None)


def verified(session: Any, env: Environment, component: str, commit: str) -> Record | None:
    """The newest record of exactly `commit` (from a clean tree), when it applied and verified.
    A later failed apply, failed or skipped verification of the same commit withdraws an
    earlier pass: what runs there now is no longer known to match the commit."""
    newest = next((r for r in records(session, env, component)
                   if r.commit == commit and not r.dirty), None)
    return newest if newest is not None and newest.verified else None
