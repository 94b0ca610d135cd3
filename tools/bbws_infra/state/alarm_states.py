"""What the monitoring of an env says now (`invoke alarms`): each CloudWatch alarm this
repository defines, its state and since when, and each table's last AWS Backup job."""

from __future__ import annotations

from dataclasses import dataclass

from bbws_infra.core.registry import Environment
from bbws_infra.core.untyped import JsonObject, Session

FAILED_JOB_STATES = frozenset({"FAILED", "ABORTED", "EXPIRED", "PARTIAL"})


@dataclass(frozen=True)
class AlarmState:
    name: str
    state: str  # OK, ALARM or INSUFFICIENT_DATA
    since: str  # ISO 8601, to the second
    reason: str
    metric: str  # the metric, or the expression of a metric-math alarm

    @property
    def firing(self) -> bool:
        return self.state == "ALARM"


@dataclass(frozen=True)
class BackupJob:
    table: str
    job_id: str
    state: str
    created: str
    message: str

    @property
    def failed(self) -> bool:
        return self.state in FAILED_JOB_STATES


def env_alarms(session: Session, env: Environment) -> list[JsonObject]:
    """Every metric alarm of the env this repository names (bbws-...-<env>), every page."""
    cloudwatch = session.client("cloudwatch", region_name=env.region)
    return [alarm for page in cloudwatch.get_paginator("describe_alarms").paginate(
                AlarmNamePrefix="bbws-", AlarmTypes=["MetricAlarm"])
            for alarm in page.get("MetricAlarms", [])
            if alarm["AlarmName"].endswith(f"-{env.name}")]


def alarm_states(session: Session, env: Environment) -> list[AlarmState]:
    """The env's alarms, firing ones first, then by name."""
    found = [AlarmState(
        name=alarm["AlarmName"], state=alarm.get("StateValue", "INSUFFICIENT_DATA"),
        since=alarm["StateUpdatedTimestamp"].isoformat(timespec="seconds")
        if alarm.get("StateUpdatedTimestamp") else "",
        reason=alarm.get("StateReason", ""),
        metric=alarm.get("MetricName") or next(
            (m["Expression"] for m in alarm.get("Metrics") or [] if m.get("Expression")), ""))
        for alarm in env_alarms(session, env)]
    return sorted(found, key=lambda a: (not a.firing, a.name))


def last_backup_jobs(session: Session, env: Environment, tables: list[str]) -> list[BackupJob]:
    """Each table's newest AWS Backup job (scheduled or on demand); a table without one is
    listed with state "none"."""
    backup = session.client("backup", region_name=env.region)
    found = []
    for table in tables:
        arn = f"arn:aws:dynamodb:{env.region}:{env.account_id}:table/{table}"
        jobs = backup.list_backup_jobs(ByResourceArn=arn, MaxResults=20).get("BackupJobs", [])
        newest = max(jobs, key=lambda job: job["CreationDate"], default=None)
        found.append(BackupJob(table, "", "none", "", "no backup job yet") if newest is None
                     else BackupJob(table, newest["BackupJobId"], newest["State"],
                                    newest["CreationDate"].isoformat(timespec="seconds"),
                                    newest.get("StatusMessage", "")))
    return found
