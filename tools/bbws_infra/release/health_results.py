"""The results `invoke drift` and `invoke verify` leave on disk, one file per env and component,
for whoever reads them later (the status report, the triage of the scheduled workflows):

    <work dir>/drift/<env>/<component>.json
        {"env", "component", "checked_at", "commit", "status": clean|drifted|allowlisted|error,
         "findings": [{"address", "action", "fingerprint", "attributes": [path, ...],
                       "allowed_by": reason or null}]}
    <work dir>/verify/<env>/<component>.json
        {"env", "component", "checked_at", "commit", "status": healthy|failing|unknown,
         "problems": [sentence, ...], "reason": sentence or null}

checked_at is ISO 8601 in UTC. A drift result's commit is the HEAD of the tree that ran the
check; a verify result's is the commit the component was checked against (the ledger's), or
HEAD when nothing was ever applied. Each file is written to a temporary name and renamed, so a
reader never sees half of one. "unknown" means verify cannot vouch for what runs: the last
apply the ledger records failed (it may have changed part of the component), or nothing was
ever applied; a run that provably applied nothing (a lost race) does not count as the last.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bbws_infra.core.paths import work_dir
from bbws_infra.core.registry import Environment
from bbws_infra.core.untyped import Session
from bbws_infra.release.drift import Drift
from bbws_infra.release.drift_fingerprints import fingerprint
from bbws_infra.release.verify_checks import Check
from bbws_infra.state import ledger

DRIFT, VERIFY = "drift", "verify"  # the kinds of result, and their folders
CLEAN, DRIFTED, ALLOWLISTED, ERROR = "clean", "drifted", "allowlisted", "error"
HEALTHY, FAILING, UNKNOWN = "healthy", "failing", "unknown"
_ERROR_WIDTH = 300


@dataclass(frozen=True)
class DriftFinding:
    address: str
    action: str
    fingerprint: str
    attributes: list[str]
    allowed_by: str | None


@dataclass
class DriftResult:
    env: str
    component: str
    checked_at: str
    commit: str
    status: str
    findings: list[DriftFinding] = field(default_factory=list)


@dataclass
class VerifyResult:
    env: str
    component: str
    checked_at: str
    commit: str
    status: str
    problems: list[str] = field(default_factory=list)
    reason: str | None = None


def drift_result(env_name: str, component: str, found: list[Drift] | None, commit: str,
                 checked_at: str) -> DriftResult:
    """The component's drift as classified (None: its check did not run through)."""
    if found is None:
        return DriftResult(env_name, component, checked_at, commit, ERROR)
    findings = [DriftFinding(d.address, d.action, fingerprint(env_name, d),
                             [c.path for c in d.changes],
                             d.allowed_by.reason if d.allowed_by else None) for d in found]
    status = (DRIFTED if any(f.allowed_by is None for f in findings)
              else ALLOWLISTED if findings else CLEAN)
    return DriftResult(env_name, component, checked_at, commit, status, findings)


def verify_result(env_name: str, component: str, checks: list[Check], unknown_reason: str | None,
                  commit: str, checked_at: str) -> VerifyResult:
    """The component's checks, and why verify cannot vouch for it (None when it can)."""
    problems = [f"{c.name}: expected {c.expected}, found {c.found}" for c in checks if not c.ok]
    status = UNKNOWN if unknown_reason else FAILING if problems else HEALTHY
    return VerifyResult(env_name, component, checked_at, commit, status, problems,
                        unknown_reason)


def unknown_reason(env_name: str, component: str, records: Iterable[ledger.Record]
                   ) -> str | None:
    """Why what runs is unknown, from the component's ledger records newest first: its last
    apply failed, or nothing was ever applied; None when the last apply went through."""
    for record in records:
        if record.result == ledger.NOTHING_APPLIED:
            continue  # changed nothing: what ran before still runs
        if record.result == ledger.APPLIED:
            return None
        error = " ".join(record.error.split()).rstrip(".")
        error = error if len(error) <= _ERROR_WIDTH else error[:_ERROR_WIDTH - 3] + "..."
        return (f"the last {record.action} of {component} in {env_name} (commit "
                f"{record.commit[:12] or 'none'}, started {record.started_at} by {record.who}) "
                f"failed{': ' + error if error else ''}; what runs is unknown until an apply "
                "goes through")
    return f"nothing was ever applied to {component} in {env_name}"


def write_drift(env_name: str, components: list[str], found: dict[str, list[Drift]],
                errors: dict[str, str], commit: str, checked_at: str) -> list[DriftResult]:
    """Each component's drift result, written (a component in errors did not run through)."""
    written = []
    for name in components:
        result = drift_result(env_name, name, None if name in errors else found.get(name),
                              commit, checked_at)
        write(DRIFT, result)
        written.append(result)
    return written


def write_verify(session: Session, env: Environment, components: list[str],
                 checks: list[Check], not_run: str | None, head: str, checked_at: str
                 ) -> list[VerifyResult]:
    """Each component's verify result, written: unknown when verify did not run through
    (not_run says why) or the ledger (read through session) cannot vouch for what runs; the
    commit is the one its last apply used (HEAD when there was none)."""
    written = []
    for name in components:
        reason = not_run or unknown_reason(env.name, name, ledger.records(session, env, name))
        current = ledger.current(session, env, name)
        result = verify_result(env.name, name, [c for c in checks if c.component == name],
                               reason, current.commit if current else head, checked_at)
        write(VERIFY, result)
        written.append(result)
    return written


def result_path(kind: str, env_name: str, component: str) -> Path:
    return work_dir() / kind / env_name / f"{component}.json"


def write(kind: str, result: DriftResult | VerifyResult) -> Path:
    """Write one result atomically (a temporary file in the same folder, then a rename)."""
    path = result_path(kind, result.env, result.component)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(asdict(result), indent=2, sort_keys=True) + "\n"
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path
