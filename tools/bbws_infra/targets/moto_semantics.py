"""Rules AWS enforces beyond the shape of a request, which moto does not: each refuses as AWS
does, with AWS's code and message. moto_validation's hook runs `before` after the model check
(so the request is well formed) and before moto's own handler, and `after` once moto answered.

| service | operation | rule | error |
|---|---|---|---|
| DynamoDB | UpdateTimeToLive | one change of a table's TTL per hour | ValidationException |
| DynamoDB | UpdateTable | one GSI created or deleted per request | LimitExceededException |
| Backup | Create/UpdateBackupPlan | schedules in AWS cron syntax | InvalidParameterValue... |
| Backup | Create/UpdateBackupPlan | 90 days in cold before deletion | InvalidParameterValue... |
| CloudWatch | PutMetricAlarm | MetricName or Metrics, one query returning data | ValidationError |
| EventBridge | PutTargets | InputTemplate placeholders all defined | ValidationException |

A copy action whose destination vault does not exist is accepted, as AWS accepts it: the
destination may sit in another account or region, so AWS checks it only when a copy job runs.
The rule that a backup selection's IAM role must exist and trust AWS Backup lives with the
selection operations in moto_backup.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from moto.core.exceptions import ServiceException
from moto.core.responses import BaseResponse
from moto.dynamodb.models import dynamodb_backends

from bbws_infra.core.untyped import JsonObject

TTL_INTERVAL_S = 3600.0
TTL_TOO_SOON = "Time to live has been modified multiple times within a fixed interval"
ONE_INDEX = ("Subscriber limit exceeded: Only 1 online index can be created or deleted "
             "simultaneously per table")
_TTL_CHANGED_AT = "bbws_ttl_changed_at"  # kept on moto's Table, so a new table starts afresh

# The clock the TTL interval is measured with (the unit tests move it).
clock: Callable[[], float] = time.time


def _table(response: BaseResponse, params: JsonObject) -> object | None:
    backend = dynamodb_backends[response.current_account][response.region]
    return backend.tables.get(str(params.get("TableName", "")))


def time_to_live(response: BaseResponse, params: JsonObject) -> None:
    table = _table(response, params)
    changed_at = getattr(table, _TTL_CHANGED_AT, None)
    if changed_at is not None and clock() - changed_at < TTL_INTERVAL_S:
        raise ServiceException("ValidationException", TTL_TOO_SOON)


def time_to_live_changed(response: BaseResponse, params: JsonObject) -> None:
    table = _table(response, params)
    if table is not None:
        setattr(table, _TTL_CHANGED_AT, clock())


def one_index_per_update(_: BaseResponse, params: JsonObject) -> None:
    updates = params.get("GlobalSecondaryIndexUpdates") or []
    if sum(1 for u in updates if "Create" in u or "Delete" in u) > 1:
        raise ServiceException("LimitExceededException", ONE_INDEX)


# --- AWS cron: cron(minutes hours day-of-month month day-of-week year) ----------------------

_MONTHS = "JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC"
_DAYS = "SUN|MON|TUE|WED|THU|FRI|SAT"


def _field(value: str, name: str, low: int, high: int, special: str = "") -> bool:
    """One cron field: `*`, or a comma list of values, ranges and `/` increments, where a value
    is a number in [low, high] or (months, weekdays) a name."""
    number = rf"(?:\d+|{name})" if name else r"\d+"
    item = rf"(?:\*|{number}(?:-{number})?)(?:/\d+)?"
    if re.fullmatch(rf"{item}(?:,{item})*", value, re.IGNORECASE) is None:
        return bool(special) and re.fullmatch(special, value, re.IGNORECASE) is not None
    return all(low <= int(n) <= high for n in re.findall(r"(?<![/\d])\d+", value))


def cron_problem(expression: str) -> str | None:
    """Why `expression` is not an AWS cron expression, or None when it is one."""
    match = re.fullmatch(r"cron\((.*)\)", expression.strip())
    if match is None:
        return "it is not of the form cron(...)"
    fields = match[1].split()
    if len(fields) != 6:
        return f"it has {len(fields)} fields instead of 6"
    minutes, hours, day_of_month, month, day_of_week, year = fields
    if (day_of_month == "?") == (day_of_week == "?"):
        return "exactly one of day-of-month and day-of-week must be '?'"
    checks = [
        (minutes, _field(minutes, "", 0, 59)),
        (hours, _field(hours, "", 0, 23)),
        (day_of_month, day_of_month == "?" or _field(day_of_month, "", 1, 31, r"L|LW|\d{1,2}W")),
        (month, _field(month, _MONTHS, 1, 12)),
        (day_of_week, day_of_week == "?" or _field(day_of_week, _DAYS, 1, 7,
                                                   rf"(?:[1-7]|{_DAYS})(?:L|#[1-5])|L")),
        (year, _field(year, "", 1970, 2199)),
    ]
    for value, ok in checks:
        if not ok:
            return f"the field '{value}' is not valid"
    return None


COLD_MINIMUM_DAYS = 90


def lifecycle_problem(lifecycle: JsonObject) -> str | None:
    """AWS keeps a recovery point in cold storage for at least 90 days, so it refuses a
    lifecycle that deletes it sooner."""
    cold, delete = lifecycle.get("MoveToColdStorageAfterDays"), lifecycle.get("DeleteAfterDays")
    if cold is not None and delete is not None and delete < cold + COLD_MINIMUM_DAYS:
        return (f"DeleteAfterDays ({delete}) must be at least {COLD_MINIMUM_DAYS} days more "
                f"than MoveToColdStorageAfterDays ({cold})")
    return None


def backup_rules(_: BaseResponse, params: JsonObject) -> None:
    for rule in (params.get("BackupPlan") or {}).get("Rules") or []:
        expression = rule.get("ScheduleExpression")
        if expression:  # absent: AWS Backup's default daily schedule
            problem = cron_problem(expression)
            if problem is not None:
                raise ServiceException(
                    "InvalidParameterValueException",
                    f"Invalid schedule expression {expression}: {problem}.")
        lifecycles = [rule.get("Lifecycle"), *(c.get("Lifecycle")
                                               for c in rule.get("CopyActions") or [])]
        for lifecycle in filter(None, lifecycles):
            problem = lifecycle_problem(lifecycle)
            if problem is not None:
                raise ServiceException("InvalidParameterValueException",
                                       f"Invalid lifecycle in rule {rule.get('RuleName')}: "
                                       f"{problem}.")


# --- CloudWatch and EventBridge -----------------------------------------------------------------

ALARM_METRIC_SETTINGS = ("MetricName", "Namespace", "Dimensions", "Period", "Statistic",
                         "ExtendedStatistic")
ONE_RETURNS_DATA = "Exactly one element of the metrics list should return data."
PREDEFINED_PLACEHOLDERS = frozenset({"aws.events.rule-arn", "aws.events.rule-name",
                                     "aws.events.event.ingestion-time", "aws.events.event",
                                     "aws.events.event.json"})


def alarm_metrics(_: BaseResponse, params: JsonObject) -> None:
    """An alarm watches one metric (MetricName) or metric math (Metrics), where exactly one
    query returns data (ReturnData defaults to true) and the metric settings live in the
    queries. (Anomaly-detection alarms, with ThresholdMetricId, are not modelled.)"""
    metrics = params.get("Metrics") or []
    if not metrics:
        if not params.get("MetricName"):
            raise ServiceException("ValidationError", "MetricName must not be null")
        return
    mixed = [name for name in ALARM_METRIC_SETTINGS if params.get(name)]
    if mixed:
        raise ServiceException(
            "ValidationError", f"With Metrics, {', '.join(mixed)} must not be specified: "
                               "they belong in the metrics list.")
    if params.get("ThresholdMetricId"):
        return
    if sum(1 for m in metrics if m.get("ReturnData", True)) != 1:
        raise ServiceException("ValidationError", ONE_RETURNS_DATA)


def target_placeholders(_: BaseResponse, params: JsonObject) -> None:
    for target in params.get("Targets") or []:
        transformer = target.get("InputTransformer") or {}
        known = set(transformer.get("InputPathsMap") or {}) | PREDEFINED_PLACEHOLDERS
        for name in re.findall(r"<([^<>\s]+)>", str(transformer.get("InputTemplate") or "")):
            if name not in known:
                raise ServiceException(
                    "ValidationException", f"InputTemplate for target {target.get('Id')} "
                                           f"contains invalid placeholder {name}.")


_BEFORE: dict[tuple[str, str], Callable[[BaseResponse, JsonObject], None]] = {
    ("dynamodb", "UpdateTimeToLive"): time_to_live,
    ("dynamodb", "UpdateTable"): one_index_per_update,
    ("backup", "CreateBackupPlan"): backup_rules,
    ("backup", "UpdateBackupPlan"): backup_rules,
    ("cloudwatch", "PutMetricAlarm"): alarm_metrics,
    ("events", "PutTargets"): target_placeholders,
}
_AFTER: dict[tuple[str, str], Callable[[BaseResponse, JsonObject], None]] = {
    ("dynamodb", "UpdateTimeToLive"): time_to_live_changed,
}


def before(response: BaseResponse, service: str, operation: str, params: JsonObject) -> None:
    rule = _BEFORE.get((service, operation))
    if rule is not None:
        rule(response, params)


def after(response: BaseResponse, service: str, operation: str, params: JsonObject,
          status: int) -> None:
    rule = _AFTER.get((service, operation))
    if rule is not None and status < 300:
        rule(response, params)
