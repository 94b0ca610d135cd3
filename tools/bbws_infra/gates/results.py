"""What the gates report: findings, a gate function's Checked, a gate's GateResult, and the two
ways a gate does not pass or fail (GateError, GateSkipped).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass


# ---- results -----------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class GateFinding:
    """One problem at one place. `blocking` is False for findings reported only as advice
    (e.g. Trivy's LOW and MEDIUM)."""

    file: str
    line: int
    rule: str
    severity: str
    message: str
    blocking: bool = True

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: [{self.rule} {self.severity}] {self.message}"


@dataclass
class Checked:
    """What a gate function returns."""

    findings: list[GateFinding] = field(default_factory=list)
    note: str = ""


@dataclass
class GateResult:
    """One gate's outcome. ok is True only for "passed": a gate that failed, could not run
    ("error") or did not apply ("skipped") never counts as passed."""

    name: str
    ok: bool
    status: str  # passed | failed | skipped | error
    blocking: bool
    findings: list[GateFinding]
    seconds: float
    note: str = ""

    @property
    def blocking_findings(self) -> list[GateFinding]:
        return [f for f in self.findings if f.blocking]

    @property
    def advisory_findings(self) -> list[GateFinding]:
        return [f for f in self.findings if not f.blocking]


class GateError(Exception):
    """The gate could not run (its tool is missing, cannot be installed or crashed)."""


class GateSkipped(Exception):
    """The gate does not apply here; the message says why."""
