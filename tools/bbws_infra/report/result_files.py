"""The drift and verify results the scheduled runs leave in the work directory
(<work>/drift/<env>/<component>.json and <work>/verify/<env>/<component>.json, written
atomically by `invoke drift` and `invoke verify`): read when present, "not checked" otherwise.
A file that cannot be read is shown as such, never taken for a pass."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from bbws_infra.core.paths import work_dir
from bbws_infra.core.untyped import JsonObject
from bbws_infra.report.model import NOT_CHECKED, Check, Finding

DRIFT, VERIFY = "drift", "verify"
UNREADABLE = "unreadable"


def result_path(kind: str, env: str, component: str, root: Path | None = None) -> Path:
    return (root or work_dir()) / kind / env / f"{component}.json"


def _problems(data: JsonObject) -> list[str]:
    """What a verify result says is wrong (its problems, or why it could not tell)."""
    reason = data.get("reason")
    return [str(p) for p in data.get("problems") or []] + ([str(reason)] if reason else [])


def _findings(data: JsonObject) -> list[Finding]:
    """Each address a drift result found changed, and why it is accepted where it is."""
    return [Finding(str(f.get("address", "?")), str(f.get("action", "?")),
                    str(f.get("allowed_by") or "")) for f in data.get("findings") or []]


def read_check(kind: str, env: str, component: str, deployed_at: str = "",
               root: Path | None = None) -> Check:
    """The component's last drift or verify result; `deployed_at` (ISO time of its last
    deployment) marks an older result stale."""
    path = result_path(kind, env, component, root)
    if not path.is_file():
        return Check(NOT_CHECKED)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not isinstance(data.get("status"), str):
            raise ValueError("no status")
    except (OSError, ValueError) as error:
        return Check(UNREADABLE, problems=[f"{path}: {error}"])
    checked_at = str(data.get("checked_at") or "")
    return Check(status=data["status"], checked_at=checked_at,
                 commit=str(data.get("commit") or ""),
                 problems=_problems(data) if kind == VERIFY else [],
                 findings=_findings(data) if kind == DRIFT else [],
                 stale=bool(deployed_at and checked_at and _before(checked_at, deployed_at)))


def _before(first: str, second: str) -> bool:
    """Whether ISO time `first` is earlier than `second` (Z or +00:00 alike)."""
    try:
        return (datetime.fromisoformat(first.replace("Z", "+00:00"))
                < datetime.fromisoformat(second.replace("Z", "+00:00")))
    except ValueError:
        return False
