"""The Terraform state bucket and lock table of an environment, created exactly as in AWS."""

from __future__ import annotations

import json
import re
import time
from calendar import timegm
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from botocore.exceptions import ClientError

from bbws_infra.core.registry import Environment
from bbws_infra.core.untyped import Client, Session
from bbws_infra.state import state_bucket


def ensure_state_backend(session: Session, env: Environment, enforce: bool = False) -> list[str]:
    """Create what is missing (idempotent) and return a line for each thing created. With
    enforce (the bootstrap task), re-assert the protections of a bucket that exists, so a
    bucket made before them (or changed by hand) is hardened (state_bucket.py). The bucket and
    the lock table do not depend on each other: they are checked and made at the same time
    (a fresh sandbox's first command waits on both)."""
    s3 = session.client("s3", region_name=env.region)
    dynamodb = session.client("dynamodb", region_name=env.region)
    with ThreadPoolExecutor(max_workers=1) as pool:
        table = pool.submit(_ensure_lock_table, dynamodb, env)
        created = _ensure_state_bucket(s3, env, enforce)
        return created + table.result()


def _ensure_state_bucket(s3: Client, env: Environment, enforce: bool) -> list[str]:
    created: list[str] = []
    bucket = env.state_bucket
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as error:
        if error.response["Error"]["Code"] not in ("404", "NoSuchBucket", "NotFound"):
            raise
        s3.create_bucket(Bucket=bucket,
                         CreateBucketConfiguration={"LocationConstraint": env.region})
        created.append(f"state bucket {bucket}")
    if created or enforce:
        created += state_bucket.ensure_log_bucket(s3, env, _tags(env))
        state_bucket.protect_state_bucket(s3, env, _tags(env))
    return created


def _ensure_lock_table(dynamodb: Client, env: Environment) -> list[str]:
    table = env.lock_table
    try:
        dynamodb.describe_table(TableName=table)
    except ClientError as error:
        if error.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
        dynamodb.create_table(
            TableName=table,
            AttributeDefinitions=[{"AttributeName": "LockID", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "LockID", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
            SSESpecification={"Enabled": True},
            Tags=_tags(env),
        )
        dynamodb.get_waiter("table_exists").wait(TableName=table)
        return [f"lock table {table}"]
    return []


def _tags(env: Environment) -> list[dict[str, str]]:
    tags = {**env.values.get("tags", {}), "Environment": env.name, "Component": "terraform-state"}
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def lock_id(env: Environment, state_key: str) -> str:
    """The S3 backend's lock item of a state in the lock table (its LockID): `<bucket>/<key>`,
    present while a run holds the lock."""
    return f"{env.state_bucket}/{state_key}"


def digest_id(env: Environment, state_key: str) -> str:
    """The S3 backend's digest item of a state (`Digest`: MD5 of the state object last
    written); not a lock."""
    return f"{lock_id(env, state_key)}-md5"


# Terraform writes Created as Go's time.Time: "2026-11-26 09:41:47.346926238 +0000 UTC" in
# messages, RFC 3339 ("2026-11-26T09:41:47.346926238Z") in the JSON; Go trims trailing zeros
# of the fraction, so its length varies, and Python cannot parse nanoseconds itself.
_CREATED = re.compile(
    r"\s*(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?(?:\s+[A-Za-z][A-Za-z0-9+-]*)?\s*")


def created_epoch(text: str) -> float | None:
    """Seconds since the epoch of a lock's Created, None when it does not parse."""
    match = _CREATED.fullmatch(text or "")
    if not match:
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction, zone = match.group(7), match.group(8)
    try:
        seconds = timegm((year, month, day, hour, minute, second, 0, 0, 0))
    except (ValueError, OverflowError):
        return None
    if fraction:
        seconds += int(fraction) / 10 ** len(fraction)
    if zone and zone != "Z":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        seconds -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    return seconds


@dataclass(frozen=True)
class LockInfo:
    """A held state lock as Terraform describes it in the lock item's Info. A lock whose Info
    is not a JSON object is still a lock: then its fields are empty and `unreadable` says why."""

    id: str
    operation: str
    who: str
    created: str
    age_s: float | None
    path: str
    unreadable: str = ""


def parse_lock_info(raw: str) -> LockInfo:
    """The lock item's Info (Terraform's JSON) as a LockInfo; never raises."""
    try:
        info = json.loads(raw)
    except ValueError as error:
        return LockInfo("", "", "", "", None, "", unreadable=f"Info is not JSON ({error})")
    if not isinstance(info, dict):
        return LockInfo("", "", "", "", None, "", unreadable="Info is not a JSON object")
    created = str(info.get("Created", ""))
    epoch = created_epoch(created)
    age = max(0.0, time.time() - epoch) if epoch is not None else None
    return LockInfo(id=str(info.get("ID", "")), operation=str(info.get("Operation", "")),
                    who=str(info.get("Who", "")), created=created, age_s=age,
                    path=str(info.get("Path", "")))


def lockfile_key(state_key: str) -> str:
    """The S3 backend's lock object (use_lockfile) beside a state: `<key>.tflock`, holding the
    same Info as the lock item while a run holds the lock."""
    return f"{state_key}.tflock"


def read_lock(session: Session, env: Environment, state_key: str) -> LockInfo | None:
    """The lock held on one state right now, None when it is not locked: the lock table's
    item (only Terraform's lock item carries Info; the digest item never does), else the lock
    object (a run that died between taking one lock and the other leaves only that one)."""
    dynamodb = session.client("dynamodb", region_name=env.region)
    # consistent: a lock taken or released a moment ago must show as it is now
    item = dynamodb.get_item(TableName=env.lock_table, ConsistentRead=True,
                             Key={"LockID": {"S": lock_id(env, state_key)}}).get("Item")
    if item and "Info" in item:
        return parse_lock_info(str(item["Info"].get("S", "")))
    s3 = session.client("s3", region_name=env.region)
    try:
        body = s3.get_object(Bucket=env.state_bucket, Key=lockfile_key(state_key))["Body"]
    except ClientError as error:
        # no object, or no bucket (doctor reports that one itself)
        if error.response["Error"]["Code"] in ("NoSuchKey", "NoSuchBucket", "404", "NotFound"):
            return None
        raise
    return parse_lock_info(body.read().decode("utf-8", errors="replace"))


def held_locks(session: Session, env: Environment, state_keys: list[str]
               ) -> dict[str, LockInfo]:
    """State key -> the lock held on it right now, for each of these state keys that is
    locked; read by read_lock, so a lock with unreadable Info shows with empty values rather
    than raising."""
    locks: dict[str, LockInfo] = {}
    for key in state_keys:
        held = read_lock(session, env, key)
        if held is not None:
            locks[key] = held
    return locks
