"""CloudWatch alarms that act as on AWS, for the sandbox (bbws_infra.targets.moto_monitoring
applies this). moto 5.2 records a state change and does nothing else; it never evaluates an
alarm against metric data either, so SetAlarmState is the one way a sandbox alarm changes state.

- A change of state (SetAlarmState to a state other than the current one) runs the actions of
  the new state (AlarmActions on ALARM, OKActions on OK, InsufficientDataActions) while
  ActionsEnabled: each SNS topic gets the JSON message CloudWatch sends (AlarmName, AWSAccountId,
  NewStateValue, OldStateValue, Trigger, ...) with the subject `ALARM: "<name>" in <region name>`,
  published as cloudwatch.amazonaws.com for the alarm (moto_monitoring_sns.publish_as_service,
  so the topic's and its key's policies decide, as on AWS).
- DescribeAlarmHistory, which moto lacks: ConfigurationUpdate items on create and update,
  StateUpdate on each change, Action items "Successfully executed action <arn>" or
  "Failed to execute action <arn>. Received error: "<reason>"" (the only place AWS reports a
  delivery that failed).
- A new alarm starts INSUFFICIENT_DATA ("Unchecked: Initial alarm creation"), as on AWS (moto:
  OK); PutMetricAlarm on an existing alarm keeps its state, as on AWS (moto: reset to OK).
"""

from __future__ import annotations

import functools
import json
from datetime import UTC, datetime

from botocore.loaders import create_loader
from moto.cloudwatch.models import Alarm, CloudWatchBackend
from moto.cloudwatch.responses import CloudWatchResponse
from moto.core.responses import ActionResult
from moto.core.utils import utcnow

from bbws_infra.core.untyped import Json, JsonObject
from bbws_infra.targets import moto_monitoring_sns
from bbws_infra.targets.moto_monitoring_policy import Publisher

SERVICE = "cloudwatch.amazonaws.com"
INITIAL_REASON = "Unchecked: Initial alarm creation"
MAX_RECORDS = 100
SUBJECT_LIMIT = 100  # SNS refuses longer subjects; CloudWatch cuts them
_HISTORY = "bbws_alarm_history"


@functools.cache
def region_name(region: str) -> str:
    """The name CloudWatch writes in messages: af-south-1 -> Africa (Cape Town)."""
    for partition in create_loader().load_data("endpoints")["partitions"]:
        described = partition["regions"].get(region)
        if described:
            return str(described.get("description", region))
    return region


def _timestamp(moment: datetime) -> str:
    """2026-12-06T08:00:00.000+0000, as in CloudWatch's messages."""
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def history(backend: CloudWatchBackend) -> list[JsonObject]:
    items: list[JsonObject] = backend.__dict__.setdefault(_HISTORY, [])
    return items


def _add_history(backend: CloudWatchBackend, alarm: Alarm, kind: str, summary: str,
                 data: JsonObject) -> None:
    history(backend).append({
        "AlarmName": alarm.name, "AlarmType": "MetricAlarm", "Timestamp": utcnow(),
        "HistoryItemType": kind, "HistorySummary": summary, "HistoryData": json.dumps(data)})


# --- the message CloudWatch publishes ---------------------------------------------------------


def _dimensions(dimensions: list[Json]) -> list[dict[str, str]]:
    return [{"value": d.value, "name": d.name} for d in dimensions]


def _metrics(alarm: Alarm) -> list[JsonObject]:
    metrics: list[JsonObject] = []
    for query in alarm.metric_data_queries:
        item: JsonObject = {"Id": query.id}
        if query.expression:
            item["Expression"] = query.expression
        if query.label:
            item["Label"] = query.label
        stat = query.metric_stat
        if stat is not None:
            item["MetricStat"] = {
                "Metric": {"Dimensions": _dimensions(stat.metric.dimensions),
                           "MetricName": stat.metric.metric_name,
                           "Namespace": stat.metric.namespace},
                "Period": int(stat.period), "Stat": stat.stat}
        item["ReturnData"] = str(query.return_data).lower() != "false"
        metrics.append(item)
    return metrics


def trigger(alarm: Alarm) -> JsonObject:
    common: JsonObject = {
        "Period": int(alarm.period) if alarm.period else None,
        "EvaluationPeriods": int(alarm.evaluation_periods),
        "ComparisonOperator": alarm.comparison_operator,
        "Threshold": float(alarm.threshold) if alarm.threshold is not None else None,
        "TreatMissingData": alarm.treat_missing_data or "missing",
        "EvaluateLowSampleCountPercentile": alarm.evaluate_low_sample_count_percentile or "",
    }
    if alarm.datapoints_to_alarm:
        common["DatapointsToAlarm"] = int(alarm.datapoints_to_alarm)
    if alarm.metric_data_queries:
        common.pop("Period")
        return {**common, "Metrics": _metrics(alarm)}
    statistic: JsonObject = (
        {"StatisticType": "ExtendedStatistic", "ExtendedStatistic": alarm.extended_statistic}
        if alarm.extended_statistic else
        {"StatisticType": "Statistic", "Statistic": str(alarm.statistic or "").upper()})
    return {"MetricName": alarm.metric_name, "Namespace": alarm.namespace, **statistic,
            "Unit": alarm.unit, "Dimensions": _dimensions(alarm.dimensions), **common}


def message(alarm: Alarm, account: str, old_state: str) -> JsonObject:
    return {
        "AlarmName": alarm.name,
        "AlarmDescription": alarm.description,
        "AWSAccountId": account,
        "AlarmConfigurationUpdatedTimestamp": _timestamp(alarm.configuration_updated_timestamp),
        "NewStateValue": alarm.state_value,
        "NewStateReason": alarm.state_reason,
        "StateChangeTime": _timestamp(alarm.state_updated_timestamp),
        "Region": region_name(alarm.region_name),
        "AlarmArn": alarm.alarm_arn,
        "OldStateValue": old_state,
        "OKActions": list(alarm.ok_actions),
        "AlarmActions": list(alarm.alarm_actions),
        "InsufficientDataActions": list(alarm.insufficient_data_actions),
        "Trigger": trigger(alarm),
    }


def subject(alarm: Alarm) -> str:
    text = f'{alarm.state_value}: "{alarm.name}" in {region_name(alarm.region_name)}'
    return text[:SUBJECT_LIMIT]


def _actions(alarm: Alarm) -> list[str]:
    by_state = {"ALARM": alarm.alarm_actions, "OK": alarm.ok_actions,
                "INSUFFICIENT_DATA": alarm.insufficient_data_actions}
    return list(by_state.get(alarm.state_value) or [])


def run_actions(backend: CloudWatchBackend, alarm: Alarm, old_state: str) -> None:
    """Publish the state change to the new state's SNS actions; each outcome in the history."""
    if not alarm.actions_enabled:
        return
    publisher = Publisher(SERVICE, backend.account_id, alarm.alarm_arn)
    text = json.dumps(message(alarm, backend.account_id, old_state))
    for action in _actions(alarm):
        if ":sns:" not in action:
            continue  # Auto Scaling, EC2, Systems Manager actions: not modelled
        reason = moto_monitoring_sns.publish_as_service(publisher, action, text, subject(alarm))
        stamp = int(alarm.state_updated_timestamp.replace(tzinfo=UTC).timestamp() * 1000)
        if reason is None:
            _add_history(backend, alarm, "Action", f"Successfully executed action {action}", {
                "actionState": "Succeeded", "stateUpdateTimestamp": stamp,
                "notificationResource": action, "publishedMessage": text})
        else:
            _add_history(backend, alarm, "Action",
                         f'Failed to execute action {action}. Received error: "{reason}"', {
                             "actionState": "Failed", "stateUpdateTimestamp": stamp,
                             "notificationResource": action, "publishedMessage": None,
                             "error": reason})


# --- backend ----------------------------------------------------------------------------------

_original_put_metric_alarm = CloudWatchBackend.put_metric_alarm
_original_set_alarm_state = CloudWatchBackend.set_alarm_state


def put_metric_alarm(self: CloudWatchBackend, *args: Json, **kwargs: Json) -> Alarm:
    name = kwargs["name"] if "name" in kwargs else args[0]
    before = self.alarms.get(name)
    alarm = _original_put_metric_alarm(self, *args, **kwargs)
    if before is not None:
        for kept in ("state_value", "state_reason", "state_reason_data",
                     "state_updated_timestamp"):
            setattr(alarm, kept, getattr(before, kept))
        _add_history(self, alarm, "ConfigurationUpdate", f'Alarm "{name}" updated',
                     {"version": "1.0", "type": "Update", "updatedAlarm": {"alarmName": name}})
    else:
        alarm.state_value, alarm.state_reason = "INSUFFICIENT_DATA", INITIAL_REASON
        _add_history(self, alarm, "ConfigurationUpdate", f'Alarm "{name}" created',
                     {"version": "1.0", "type": "Create", "createdAlarm": {"alarmName": name}})
    return alarm


def set_alarm_state(self: CloudWatchBackend, alarm_name: str, reason: str, reason_data: str,
                    state_value: str) -> None:
    alarm = self.alarms.get(alarm_name)
    old_state, old_reason = (alarm.state_value, alarm.state_reason) if alarm else ("", "")
    _original_set_alarm_state(self, alarm_name, reason, reason_data, state_value)
    alarm = self.alarms[alarm_name]
    if state_value == old_state:
        return  # AWS runs actions only when the state changes
    _add_history(self, alarm, "StateUpdate", f"Alarm updated from {old_state} to {state_value}",
                 {"version": "1.0",
                  "oldState": {"stateValue": old_state, "stateReason": old_reason},
                  "newState": {"stateValue": state_value, "stateReason": reason}})
    run_actions(self, alarm, old_state)


def describe_alarm_history(self: CloudWatchBackend, alarm_name: str | None,
                           item_type: str | None, start: datetime | None,
                           end: datetime | None, newest_first: bool = True) -> list[JsonObject]:
    def inside(item: JsonObject) -> bool:
        stamp = item["Timestamp"].replace(tzinfo=UTC)
        return ((start is None or stamp >= start.astimezone(UTC))
                and (end is None or stamp <= end.astimezone(UTC)))

    items = [i for i in history(self)
             if (alarm_name is None or i["AlarmName"] == alarm_name)
             and (item_type is None or i["HistoryItemType"] == item_type) and inside(i)]
    return list(reversed(items)) if newest_first else items


def response_describe_alarm_history(self: CloudWatchResponse) -> ActionResult:
    items = describe_alarm_history(
        self.cloudwatch_backend, self._get_param("AlarmName"),
        self._get_param("HistoryItemType"), self._get_param("StartDate"),
        self._get_param("EndDate"),
        newest_first=self._get_param("ScanBy") != "TimestampAscending")
    start = int(self._get_param("NextToken") or 0)
    size = int(self._get_param("MaxRecords") or MAX_RECORDS)
    result: JsonObject = {"AlarmHistoryItems": items[start:start + size]}
    if start + size < len(items):
        result["NextToken"] = str(start + size)
    return ActionResult(result)
