"""What is wrong with a component's Terraform state, read directly from the backend (no
Terraform, no lock taken), and the one repair that is safe to make without Terraform: the
digest item.

Per component: is the current state object readable, does it carry a lineage and serial, does
the backend's MD5 digest item match it (Terraform refuses to read a state whose digest
differs), is a lock held, and is the state the one the last ledger record left. If not, either
an apply of the deploy path was killed while Terraform applied (its intent, written before
Terraform started, has no ledger record) or someone wrote the state outside the deploy path.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass

from botocore.exceptions import ClientError

from bbws_infra.core.errors import UserError
from bbws_infra.core.registry import Component, Environment
from bbws_infra.core.untyped import JsonObject, Session
from bbws_infra.state import ledger, state_backend, state_bucket, state_versions

STATE_READABLE = "state readable"
LINEAGE_SERIAL = "lineage and serial"
DIGEST = "digest"
LOCK = "lock"
LEDGER = "ledger"
CHECKS = (STATE_READABLE, LINEAGE_SERIAL, DIGEST, LOCK, LEDGER)


@dataclass(frozen=True)
class Finding:
    component: str
    check: str  # one of CHECKS
    ok: bool
    found: str  # short, human: what was seen
    fix: str = ""  # one sentence or a command, when not ok


LockInfo = state_backend.LockInfo
_created_epoch = state_backend.created_epoch  # the tests pin its parsing here


def _lock_id(env: Environment, component: Component) -> str:
    return state_backend.lock_id(env, component.state_key)


def _md5(body: bytes) -> str:
    # what the S3 backend stores: the hex MD5 of the object's bytes (a checksum, not security)
    return hashlib.md5(body, usedforsecurity=False).hexdigest()


def _digest_id(env: Environment, component: Component) -> str:
    return state_backend.digest_id(env, component.state_key)


def _get_item(session: Session, env: Environment, lock_id: str) -> JsonObject | None:
    dynamodb = session.client("dynamodb", region_name=env.region)
    # consistent: a lock taken or released a moment ago must show as it is now
    item: JsonObject | None = dynamodb.get_item(TableName=env.lock_table, ConsistentRead=True,
                                                Key={"LockID": {"S": lock_id}}).get("Item")
    return item


def lock_info(session: Session, env: Environment, component: Component) -> LockInfo | None:
    """The lock held on the component's state, None when it is not locked."""
    return state_backend.read_lock(session, env, component.state_key)


def digest_item(session: Session, env: Environment, component: Component) -> str | None:
    """The MD5 digest the backend stored for the state, None when there is no digest item."""
    item = _get_item(session, env, _digest_id(env, component))
    return item["Digest"]["S"] if item and "Digest" in item else None


def state_object(session: Session, env: Environment, component: Component
                 ) -> tuple[bytes, str | None] | None:
    """(bytes, version id) of the current state object, None when there is none."""
    current = state_versions.current_object(session, env, component)
    return None if current is None else current[:2]


def age_text(seconds: float | None) -> str:
    """'45 s', '3 min', '2.1 h'; 'unknown' when the age could not be worked out."""
    if seconds is None:
        return "unknown"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.0f} min" if seconds >= 60 else f"{seconds:.0f} s"


def _version(version: str | None) -> str:
    """A state version id, whole: it is what invoke rollback --version-id takes."""
    return version or "(none)"


def _restore_fix(env: Environment, component: Component) -> str:
    name = component.name
    return (f"restore a readable version: invoke rollback --env {env.name} --component {name} "
            f"--version-id <version> --confirm {env.rollback_confirmation} --restore-state "
            f"(list the versions with invoke state-versions --env {env.name} --component {name})")


def _read_state(session: Session, env: Environment, component: Component
                ) -> tuple[Finding, tuple[bytes, str | None] | None, JsonObject | None]:
    """The "state readable" finding, the object (when there is one) and its parsed document
    (when it parses)."""
    name = component.name
    try:
        current = state_object(session, env, component)
    except ClientError as error:
        if error.response["Error"]["Code"] != "NoSuchBucket":
            raise
        return (Finding(name, STATE_READABLE, False,
                        f"state bucket {env.state_bucket} does not exist",
                        f"invoke bootstrap --env {env.name}"), None, None)
    if current is None:
        return Finding(name, STATE_READABLE, True, "no state yet"), None, None
    body, version = current
    where = f"state object (version {_version(version)})"
    if not body:
        # Terraform reads an empty object as "never deployed" and would create everything anew
        return (Finding(name, STATE_READABLE, False, f"{where} is empty",
                        _restore_fix(env, component)), current, None)
    try:
        document = json.loads(body)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        return (Finding(name, STATE_READABLE, False, f"{where} is not a JSON state document",
                        _restore_fix(env, component)), current, None)
    return Finding(name, STATE_READABLE, True, f"{len(body)} bytes"), current, document


def _lineage_serial(env: Environment, component: Component, document: JsonObject) -> Finding:
    lineage, serial = document.get("lineage"), document.get("serial")
    # bool is an int in Python, but never a serial
    ok_serial = isinstance(serial, int) and not isinstance(serial, bool) and serial >= 0
    ok_lineage = isinstance(lineage, str) and bool(lineage)
    found = f"serial {serial}, lineage {str(lineage or '')[:8] or '(none)'}"
    ok = ok_serial and ok_lineage
    return Finding(component.name, LINEAGE_SERIAL, ok, found,
                   "" if ok else _restore_fix(env, component))


def _digest(session: Session, env: Environment, component: Component, body: bytes) -> Finding:
    stored, actual = digest_item(session, env, component), _md5(body)
    if stored is None:
        # Terraform writes the item with its next state write; nothing refuses to read meanwhile
        return Finding(component.name, DIGEST, True, "no digest item")
    if stored == actual:
        return Finding(component.name, DIGEST, True, f"matches ({actual})")
    return Finding(component.name, DIGEST, False, f"stored {stored}, state object {actual}",
                   f"invoke doctor --env {env.name} --fix-digest (sets it to the state "
                   "object's MD5); the next Terraform run fails with 'state data in S3 does "
                   "not have the expected content' until then")


def _lock(session: Session, env: Environment, component: Component) -> Finding:
    name = component.name
    try:
        held = lock_info(session, env, component)
    except ClientError as error:
        if error.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
        return Finding(name, LOCK, False, f"lock table {env.lock_table} does not exist",
                       f"invoke bootstrap --env {env.name}")
    if held is None:
        return Finding(name, LOCK, True, "not locked")
    return Finding(name, LOCK, False,
                   f"held by {held.who or '(unknown)'} ({held.operation or 'unknown operation'}"
                   f", lock {held.id}) for {age_text(held.age_s)}",
                   f"if nothing is running: invoke unlock --env {env.name} --component {name} "
                   f"--lock-id {held.id}")


def _same_content(session: Session, env: Environment, component: Component, version: str | None,
                  document: JsonObject) -> bool:
    """Whether `version` holds what `document` holds, serial and check results aside."""
    if not version:
        return False
    try:
        _, earlier = state_versions.document(session, env, component, version)
    except ClientError:
        return False
    keys = ("lineage", "resources", "outputs")
    return earlier is not None and all(earlier.get(k) == document.get(k) for k in keys)


def _ledger(session: Session, env: Environment, component: Component, version: str | None,
            document: JsonObject) -> Finding:
    name = component.name
    # the newest record whatever its result (a failed apply may still have written the state),
    # never one keyed in the future
    newest = next(ledger.records(session, env, name), None)
    left = newest.state_after.version_id if newest else None
    if newest is not None and left == version:
        return Finding(name, LEDGER, True,
                       f"state version {_version(version)} is the one the last "
                       f"{newest.action} left")
    if newest is not None and _same_content(session, env, component, left, document):
        # Terraform persists the state it holds when a plan is interrupted (a new serial,
        # the same resources): nothing changed outside the deploy path.
        return Finding(name, LEDGER, True,
                       f"state version {_version(version)} rewrites the one the last "
                       f"{newest.action} left ({_version(left)}) with the same resources and "
                       "outputs (as an interrupted plan does)")
    # Only now read the intents: a healthy state never costs more than the newest record.
    intent = _unrecorded_intent(session, env, component, newest)
    if intent is not None:
        return _killed_apply(env, component, version, intent)
    if newest is None:
        return Finding(name, LEDGER, True, "no ledger record")
    return Finding(name, LEDGER, False,
                   f"state version {_version(version)} is not the one the last ledger record "
                   f"left ({_version(left)})",
                   "the state was written outside the deploy path (a terraform command run by "
                   f"hand, or a state push); check with invoke state-versions --env {env.name} "
                   f"--component {name} and invoke history --env {env.name} --component {name}")


def _stamp(started_at: str) -> str:
    """The start time as ledger and intent keys begin with it (ledger._key)."""
    return started_at.replace("-", "").replace(":", "")


def _keys(session: Session, env: Environment, prefix: str) -> list[str]:
    s3 = session.client("s3", region_name=env.region)
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=env.state_bucket,
                                                              Prefix=prefix):
        keys += [item["Key"] for item in page.get("Contents", [])]
    return keys


def intents(session: Session, env: Environment, component: str, since: str | None = None
            ) -> list[ledger.Record]:
    """The component's intents, newest first (keys start with the start time), only those
    started at or after `since` (ISO 8601) when given; one that is not a JSON object is passed
    over (it cannot name a run)."""
    s3 = session.client("s3", region_name=env.region)
    names = {key: key.rsplit("/", 1)[-1] for key in
             _keys(session, env, f"{ledger.INTENTS_PREFIX}{component}/")}
    earliest = _stamp(since or "")
    keys = sorted((k for k, n in names.items() if n >= earliest), key=names.__getitem__,
                  reverse=True)
    found = []
    for key in keys:
        try:
            data = json.loads(s3.get_object(Bucket=env.state_bucket, Key=key)["Body"].read())
        except ValueError:
            continue
        if isinstance(data, dict):
            found.append(ledger.Record.from_dict(data, key))
    return found


def _recorded(session: Session, env: Environment, intent: ledger.Record) -> bool:
    """Whether a ledger record finished the intent's run: same component, start and bundle
    (only the records that started at that second are read)."""
    s3 = session.client("s3", region_name=env.region)
    prefix = f"{ledger.PREFIX}{intent.component}/{_stamp(intent.started_at)}-"
    for key in _keys(session, env, prefix):
        record = json.loads(s3.get_object(Bucket=env.state_bucket, Key=key)["Body"].read())
        if (record.get("started_at"), record.get("bundle_sha256")) == (
                intent.started_at, intent.bundle_sha256):
            return True
    return False


def _unrecorded_intent(session: Session, env: Environment, component: Component,
                       newest: ledger.Record | None) -> ledger.Record | None:
    """The newest intent that began from the state the last record left (or after that
    record) and never got its own record: an apply killed while Terraform applied."""
    left = newest.state_after.version_id if newest else None
    # an earlier intent than the newest record cannot explain what came after it
    for intent in intents(session, env, component.name, newest.started_at if newest else None):
        after_newest = newest is None or intent.started_at > newest.started_at
        if intent.state_before.version_id != left and not after_newest:
            continue
        if not _recorded(session, env, intent):
            return intent
    return None


def _killed_apply(env: Environment, component: Component, version: str | None,
                  intent: ledger.Record) -> Finding:
    name, action = component.name, intent.action
    again = {
        "promote": f"invoke promote --to {env.name} --component {name} --commit "
                   f"{intent.commit[:12]} --confirm {env.apply_confirmation}",
        "rollback": f"invoke rollback --env {env.name} --component {name} --version-id "
                    f"<the same version> --confirm {env.rollback_confirmation}",
    }.get(action, f"invoke plan --env {env.name} --component {name}, then invoke apply --env "
                  f"{env.name} --component {name} --confirm {env.apply_confirmation}, from a "
                  f"checkout of {intent.commit[:12]}")
    return Finding(
        name, LEDGER, False,
        f"state version {_version(version)} was written by the {action} of commit "
        f"{intent.commit[:12]} started at {intent.started_at} by {intent.who or '(unknown)'}, "
        "whose ledger record is missing (the run was killed while Terraform applied, unless "
        "it is still running: see the lock check)",
        f"check what it left with invoke verify --env {env.name} --component {name}, then "
        f"record it by running the {action} again through the deploy path ({again}): its "
        "ledger record then names the state it leaves")


def examine(session: Session, env: Environment, components: list[Component]) -> list[Finding]:
    """The findings of every component, in CHECKS order; without a readable state object only
    its "state readable" and "lock" findings are made."""
    findings: list[Finding] = []
    for component in components:
        readable, current, document = _read_state(session, env, component)
        findings.append(readable)
        if current is not None and document is not None:
            body, version = current
            findings.append(_lineage_serial(env, component, document))
            findings.append(_digest(session, env, component, body))
            findings.append(_lock(session, env, component))
            findings.append(_ledger(session, env, component, version, document))
        else:
            findings.append(_lock(session, env, component))
    return findings


BACKEND = "(state bucket)"  # the component column of the state bucket's own finding
HARDENED = "hardened"


def examine_backend(session: Session, env: Environment, bootstrap: str) -> list[Finding]:
    """Whether the state bucket has every protection bootstrap sets (`bootstrap` is the
    command that sets them); nothing when the bucket does not exist (the components' "state
    readable" findings say so)."""
    s3 = session.client("s3", region_name=env.region)
    try:
        problems = state_bucket.hardening_problems(s3, env)
    except ClientError as error:
        if error.response["Error"]["Code"] in ("NoSuchBucket", "404", "NotFound"):
            return []
        raise
    if not problems:
        return [Finding(BACKEND, HARDENED, True,
                        "versioned, encrypted, private, TLS only, access logs on")]
    return [Finding(BACKEND, HARDENED, False, "; ".join(problems),
                    f"{bootstrap} (sets every protection again; changes nothing else)")]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ") or " "


def markdown(title: str, findings: list[Finding]) -> str:
    """The findings as a Markdown table under a heading (for a workflow's job summary)."""
    verdict = "every check passed" if all(f.ok for f in findings) else "problems found"
    lines = [f"### {title}: {verdict}", "", "| component | check | result | found | fix |",
             "| --- | --- | --- | --- | --- |"]
    lines += [f"| {f.component} | {f.check} | {'ok' if f.ok else '**FAIL**'} | "
              f"{_cell(f.found)} | {_cell(f.fix)} |" for f in findings]
    return "\n".join(lines)


def fix_digest(session: Session, env: Environment, component: Component
               ) -> tuple[str | None, str]:
    """Set the digest item to the MD5 of the current state object; (old, new) digest."""
    current = state_object(session, env, component)
    if current is None:
        raise UserError(f"{component.name} has no state object in s3://{env.state_bucket}/"
                        f"{component.state_key}; there is no digest to set.")
    old, new = digest_item(session, env, component), _md5(current[0])
    # the same item Terraform writes: LockID <bucket>/<key>-md5 with Digest = hex MD5
    session.client("dynamodb", region_name=env.region).put_item(
        TableName=env.lock_table,
        Item={"LockID": {"S": _digest_id(env, component)}, "Digest": {"S": new}})
    return old, new


def fix_digests(session: Session, env: Environment, components: list[Component],
                findings: list[Finding]) -> Iterator[tuple[str, str | None, str]]:
    """Fix the digest of each component whose digest check failed, one at a time: (component,
    old digest, new digest) as each is set."""
    broken = {f.component for f in findings if f.check == DIGEST and not f.ok}
    for component in components:
        if component.name in broken:
            old, new = fix_digest(session, env, component)
            yield component.name, old, new

