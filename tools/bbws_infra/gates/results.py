"""What the gates report: findings, a gate function's Checked, a gate's GateResult, and the two
ways a gate does not pass or fail (GateError, GateSkipped).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bbws_infra.core.findings import Finding

# ---- results -----------------------------------------------------------------------------


@dataclass
class Checked:
    """What a gate function returns."""

    findings: list[Finding] = field(default_factory=list)
    note: str = ""


@dataclass
class GateResult:
    """One gate's outcome. ok is True only for "passed": a gate that failed, could not run
    ("error") or did not apply ("skipped") never counts as passed."""

    name: str
    ok: bool
    status: str  # passed | failed | skipped | error
    blocking: bool
    findings: list[Finding]
    seconds: float
    note: str = ""

    @property
    def blocking_findings(self) -> list[Finding]:
        return [f for f in self.findings if f.blocking]

    @property
    def advisory_findings(self) -> list[Finding]:
        return [f for f in self.findings if not f.blocking]


class GateError(Exception):
    """The gate could not run (its tool is missing, cannot be installed or crashed)."""


class GateSkipped(Exception):
    """The gate does not apply here; the message says why."""
