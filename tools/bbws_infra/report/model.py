"""The status page's one model: what the HTML page, the job summary and `--json` all show.

Plain dataclasses of strings and numbers, so the JSON is asdict() of the same objects the page
is rendered from and the two can never say different things.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from bbws_infra.core.untyped import JsonObject
from bbws_infra.state.alarm_states import AlarmState

NOT_CHECKED = "not checked"
FORMAT = 1


@dataclass(frozen=True)
class Finding:
    """An address a drift run found changed outside Terraform."""

    address: str
    action: str
    allowed_by: str = ""  # the allowlist's reason when it is accepted


@dataclass(frozen=True)
class Check:
    """A drift or verify result file's verdict for one component (status NOT_CHECKED when
    there is no file). `stale`: it was made before the component's last deployment."""

    status: str
    checked_at: str = ""
    commit: str = ""
    problems: list[str] = field(default_factory=list)  # verify's, or why it is unreadable
    findings: list[Finding] = field(default_factory=list)  # drift's
    stale: bool = False


@dataclass(frozen=True)
class Deployment:
    """The ledger record of what a component runs now."""

    commit: str
    dirty: bool
    action: str
    finished_at: str
    who: str
    verification: str  # passed, failed or skipped
    failed_checks: list[str] = field(default_factory=list)

    @property
    def verified(self) -> bool:
        return self.verification == "passed"


@dataclass(frozen=True)
class StateInfo:
    version_id: str
    serial: int
    written: str
    resources: int


@dataclass(frozen=True)
class ComponentStatus:
    component: str
    deployed: Deployment | None  # None: never deployed
    state: StateInfo | None
    verify: Check
    drift: Check
    monthly_usd: float | None  # None: nothing to price (no state) or pricing failed
    cost_note: str = ""


@dataclass(frozen=True)
class Pending:
    """A commit the previous env verified that this env does not run yet."""

    component: str
    commit: str
    verified_in: str
    verified_at: str
    running_here: str  # the commit this env runs, "" when none
    note: str = ""  # e.g. why promoting it would be refused


@dataclass(frozen=True)
class BackupInfo:
    """A table's newest on-demand backup and its last AWS Backup job."""

    component: str
    table: str
    last_backup: str  # created time, "" when none
    backup_name: str
    backup_status: str
    backup_arn: str
    job_state: str  # "none" when no job yet
    job_created: str
    job_message: str

    @property
    def job_failed(self) -> bool:
        return self.job_state in ("FAILED", "ABORTED", "EXPIRED", "PARTIAL")


@dataclass(frozen=True)
class Event:
    """One ledger record on the timeline."""

    env: str
    component: str
    action: str
    commit: str
    result: str
    verification: str
    finished_at: str
    who: str


@dataclass
class EnvStatus:
    env: str
    account_id: str
    region: str
    unreachable: str = ""  # why this env's AWS could not be read; "" when it could
    components: list[ComponentStatus] = field(default_factory=list)
    pending: list[Pending] = field(default_factory=list)
    backups: list[BackupInfo] = field(default_factory=list)
    alarms: list[AlarmState] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # a part that could not be read

    @property
    def monthly_usd(self) -> float:
        return sum(c.monthly_usd or 0.0 for c in self.components)

    @property
    def firing(self) -> list[AlarmState]:
        return [a for a in self.alarms if a.firing]


@dataclass
class Report:
    target: str
    generated_at: str
    repository_commit: str
    envs: list[EnvStatus]
    timeline: list[Event]
    seconds: float = 0.0
    format: int = FORMAT

    @property
    def partial(self) -> bool:
        """Whether some env, or some part of one, could not be read."""
        return any(e.unreachable or e.problems for e in self.envs)

    def to_json(self) -> JsonObject:
        data = asdict(self)
        data["partial"] = self.partial
        for env, status in zip(data["envs"], self.envs, strict=True):
            env["monthly_usd"] = round(status.monthly_usd, 2)
        return data
