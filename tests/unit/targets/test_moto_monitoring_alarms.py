"""bbws_infra.targets.moto_monitoring_alarms and moto_monitoring_events: alarm state changes and
EventBridge events delivered to SNS as AWS delivers them (message, subject, input transformer),
refusals in the alarm history, DescribeAlarmHistory (moto in-process)."""

from __future__ import annotations

import json
from typing import Any

from tests.unit.targets.monitoring_fixtures import ACCOUNT, Aws, deliveries

DIMENSIONS = [{"Name": "TableName", "Value": "tenants"},
              {"Name": "GlobalSecondaryIndexName", "Value": "EmailIndex"}]


def _alarm(aws: Aws, topic: str, name: str = "throttles", **extra: Any) -> Any:
    cloudwatch = aws("cloudwatch")
    cloudwatch.put_metric_alarm(
        AlarmName=name, AlarmDescription="GSI reads throttled", Namespace="AWS/DynamoDB",
        MetricName="ReadThrottleEvents", Statistic="Sum", Period=300, EvaluationPeriods=1,
        Threshold=0, ComparisonOperator="GreaterThanThreshold", TreatMissingData="notBreaching",
        Dimensions=DIMENSIONS, AlarmActions=[topic], OKActions=[topic], **extra)
    return cloudwatch


def _history(cloudwatch: Any, name: str = "throttles", kind: str | None = None) -> list[Any]:
    kwargs = {"HistoryItemType": kind} if kind else {}
    items: list[Any] = cloudwatch.describe_alarm_history(AlarmName=name, **kwargs)[
        "AlarmHistoryItems"]
    return items


def test_an_alarm_publishes_cloudwatchs_message_to_each_subscription(aws: Aws):
    topic = aws.topic()
    cloudwatch = _alarm(aws, topic)
    alarm = cloudwatch.describe_alarms(AlarmNames=["throttles"])["MetricAlarms"][0]
    assert alarm["StateValue"] == "INSUFFICIENT_DATA"  # as on AWS (moto: OK)
    cloudwatch.set_alarm_state(AlarmName="throttles", StateValue="ALARM",
                               StateReason="Threshold Crossed: 1 datapoint [3.0]")
    records = deliveries(topic)
    assert {r["protocol"] for r in records} == {"email", "https"}
    for record in records:
        assert record["subject"] == 'ALARM: "throttles" in Africa (Cape Town)'
        assert record["publisher"] == "cloudwatch.amazonaws.com" and record["delivered"]
    message = json.loads(records[0]["message"])
    assert {k: message[k] for k in ("AlarmName", "AlarmDescription", "AWSAccountId",
                                    "NewStateValue", "NewStateReason", "OldStateValue",
                                    "Region", "AlarmArn")} == {
        "AlarmName": "throttles", "AlarmDescription": "GSI reads throttled",
        "AWSAccountId": ACCOUNT, "NewStateValue": "ALARM",
        "NewStateReason": "Threshold Crossed: 1 datapoint [3.0]",
        "OldStateValue": "INSUFFICIENT_DATA", "Region": "Africa (Cape Town)",
        "AlarmArn": alarm["AlarmArn"]}
    assert message["StateChangeTime"].endswith("+0000")
    assert message["Trigger"] == {
        "MetricName": "ReadThrottleEvents", "Namespace": "AWS/DynamoDB",
        "StatisticType": "Statistic", "Statistic": "SUM", "Unit": None,
        "Dimensions": [{"value": "tenants", "name": "TableName"},
                       {"value": "EmailIndex", "name": "GlobalSecondaryIndexName"}],
        "Period": 300, "EvaluationPeriods": 1, "ComparisonOperator": "GreaterThanThreshold",
        "Threshold": 0.0, "TreatMissingData": "notBreaching",
        "EvaluateLowSampleCountPercentile": ""}


def test_each_state_runs_its_own_actions_and_only_on_a_change(aws: Aws):
    topic = aws.topic()
    cloudwatch = _alarm(aws, topic)
    cloudwatch.set_alarm_state(AlarmName="throttles", StateValue="INSUFFICIENT_DATA",
                               StateReason="same state")
    assert deliveries(topic) == []  # no change, and no InsufficientDataActions anyway
    cloudwatch.set_alarm_state(AlarmName="throttles", StateValue="OK", StateReason="calm")
    assert {r["subject"] for r in deliveries(topic)} == {
        'OK: "throttles" in Africa (Cape Town)'}
    cloudwatch.set_alarm_state(AlarmName="throttles", StateValue="OK", StateReason="again")
    assert len(deliveries(topic)) == 2
    assert [i["HistorySummary"] for i in _history(cloudwatch, kind="StateUpdate")] == [
        "Alarm updated from INSUFFICIENT_DATA to OK"]


def test_disabled_actions_publish_nothing(aws: Aws):
    topic = aws.topic()
    cloudwatch = _alarm(aws, topic, ActionsEnabled=False)
    cloudwatch.set_alarm_state(AlarmName="throttles", StateValue="ALARM", StateReason="x")
    assert deliveries(topic) == []
    assert _history(cloudwatch, kind="Action") == []


def test_an_update_keeps_the_alarms_state_and_the_history_tells_it_all(aws: Aws):
    topic = aws.topic()
    cloudwatch = _alarm(aws, topic)
    cloudwatch.set_alarm_state(AlarmName="throttles", StateValue="ALARM", StateReason="x")
    _alarm(aws, topic, ActionsEnabled=True)  # PutMetricAlarm again: AWS keeps the state
    alarm = cloudwatch.describe_alarms(AlarmNames=["throttles"])["MetricAlarms"][0]
    assert (alarm["StateValue"], alarm["StateReason"]) == ("ALARM", "x")
    summaries = [i["HistorySummary"] for i in reversed(_history(cloudwatch))]
    assert summaries == ['Alarm "throttles" created',
                         "Alarm updated from INSUFFICIENT_DATA to ALARM",
                         f"Successfully executed action {topic}",
                         'Alarm "throttles" updated']
    ascending = cloudwatch.describe_alarm_history(AlarmName="throttles",
                                                  ScanBy="TimestampAscending", MaxRecords=2)
    assert [i["HistoryItemType"] for i in ascending["AlarmHistoryItems"]] == [
        "ConfigurationUpdate", "StateUpdate"]
    assert ascending["NextToken"]
    (action,) = _history(cloudwatch, kind="Action")
    data = json.loads(action["HistoryData"])
    assert (data["actionState"], data["notificationResource"]) == ("Succeeded", topic)
    assert json.loads(data["publishedMessage"])["NewStateValue"] == "ALARM"


def test_a_refused_delivery_is_in_the_alarm_history(aws: Aws):
    topic = aws.topic(key_services=["budgets.amazonaws.com"])
    cloudwatch = _alarm(aws, topic)
    cloudwatch.set_alarm_state(AlarmName="throttles", StateValue="ALARM", StateReason="x")
    reason = ("CloudWatch Alarms does not have authorization to access the SNS topic "
              "encryption key.")
    (action,) = _history(cloudwatch, kind="Action")
    assert action["HistorySummary"] == (
        f'Failed to execute action {topic}. Received error: "{reason}"')
    data = json.loads(action["HistoryData"])
    assert (data["actionState"], data["error"], data["publishedMessage"]) == (
        "Failed", reason, None)
    (record,) = deliveries(topic)
    assert (record["delivered"], record["reason"]) == (False, reason)


def test_a_metric_math_alarm_sends_its_metrics_as_the_trigger(aws: Aws):
    topic = aws.topic()
    cloudwatch = aws("cloudwatch")
    queries = [{"Id": f"m{i}", "ReturnData": False, "MetricStat": {
        "Metric": {"Namespace": "AWS/DynamoDB", "MetricName": "SystemErrors",
                   "Dimensions": [{"Name": "TableName", "Value": "tenants"},
                                  {"Name": "Operation", "Value": operation}]},
        "Period": 300, "Stat": "Sum"}} for i, operation in enumerate(("GetItem", "PutItem"))]
    queries.append({"Id": "total", "Expression": "SUM(METRICS())", "Label": "System errors",
                    "ReturnData": True})
    cloudwatch.put_metric_alarm(AlarmName="errors", EvaluationPeriods=1, Threshold=0,
                                ComparisonOperator="GreaterThanThreshold", Metrics=queries,
                                AlarmActions=[topic])
    cloudwatch.set_alarm_state(AlarmName="errors", StateValue="ALARM", StateReason="x")
    trigger = json.loads(deliveries(topic)[0]["message"])["Trigger"]
    assert "MetricName" not in trigger and trigger["Threshold"] == 0.0
    assert trigger["Metrics"][0] == {"Id": "m0", "ReturnData": False, "MetricStat": {
        "Metric": {"Dimensions": [{"value": "tenants", "name": "TableName"},
                                  {"value": "GetItem", "name": "Operation"}],
                   "MetricName": "SystemErrors", "Namespace": "AWS/DynamoDB"},
        "Period": 300, "Stat": "Sum"}}
    assert trigger["Metrics"][2] == {"Id": "total", "Expression": "SUM(METRICS())",
                                     "Label": "System errors", "ReturnData": True}


BACKUP_EVENT = {"Source": "aws.backup", "DetailType": "Backup Job State Change",
                "Resources": ["arn:aws:backup:af-south-1:123456789012:recovery-point:x"],
                "Detail": json.dumps({"state": "FAILED", "backupJobId": "job-1",
                                      "resourceArn": "arn:aws:dynamodb:::table/tenants"})}
PATTERN = json.dumps({"source": ["aws.backup"],
                      "detail-type": ["Backup Job State Change", "Copy Job State Change"],
                      "detail": {"state": ["FAILED", "ABORTED", "EXPIRED"]}})


def _rule(aws: Aws, topic: str, **target: Any) -> Any:
    events = aws("events")
    events.put_rule(Name="backup-failed", EventPattern=PATTERN)
    events.put_targets(Rule="backup-failed", Targets=[{"Id": "alerts", "Arn": topic, **target}])
    return events


def test_a_matching_event_reaches_the_topic_through_the_input_transformer(aws: Aws):
    topic = aws.topic()
    events = _rule(aws, topic, InputTransformer={
        "InputPathsMap": {"state": "$.detail.state", "job": "$.detail.backupJobId",
                          "resource": "$.detail.resourceArn"},
        "InputTemplate": '"AWS Backup job <job> for <resource> ended <state>."'})
    result = events.put_events(Entries=[
        BACKUP_EVENT, {**BACKUP_EVENT, "Detail": json.dumps({"state": "COMPLETED"})}])
    assert result["FailedEntryCount"] == 0
    records = deliveries(topic)
    assert {(r["protocol"], r["message"]) for r in records} == {
        (protocol, '"AWS Backup job job-1 for arn:aws:dynamodb:::table/tenants ended FAILED."')
        for protocol in ("email", "https")}
    assert {r["publisher"] for r in records} == {"events.amazonaws.com"}


def test_without_input_settings_the_event_itself_is_delivered(aws: Aws):
    topic = aws.topic()
    _rule(aws, topic).put_events(Entries=[BACKUP_EVENT])
    event = json.loads(deliveries(topic)[0]["message"])
    assert (event["source"], event["detail-type"], event["account"], event["region"]) == (
        "aws.backup", "Backup Job State Change", ACCOUNT, "af-south-1")
    assert event["detail"]["state"] == "FAILED" and event["time"].endswith("Z")
    assert event["resources"] == BACKUP_EVENT["Resources"]


def test_constant_input_and_input_path(aws: Aws):
    topic = aws.topic()
    events = _rule(aws, topic, Input='{"alert": "backup"}')
    events.put_events(Entries=[BACKUP_EVENT])
    assert deliveries(topic)[-1]["message"] == '{"alert": "backup"}'
    events.put_targets(Rule="backup-failed", Targets=[
        {"Id": "alerts", "Arn": topic, "InputPath": "$.detail"}])
    events.put_events(Entries=[BACKUP_EVENT])
    assert json.loads(deliveries(topic)[-1]["message"])["backupJobId"] == "job-1"


def test_eventbridge_needs_the_topic_policy_to_name_it(aws: Aws):
    topic = aws.topic(policy_services=["cloudwatch.amazonaws.com"])
    _rule(aws, topic).put_events(Entries=[BACKUP_EVENT])
    (record,) = deliveries(topic)
    assert not record["delivered"]
    assert record["reason"].startswith("Amazon EventBridge is not authorized to perform")


def test_a_json_template_quotes_what_it_inserts_outside_strings(aws: Aws):
    topic = aws.topic()
    _rule(aws, topic, InputTransformer={
        "InputPathsMap": {"state": "$.detail.state", "job": "$.detail.backupJobId",
                          "missing": "$.detail.nothing", "detail": "$.detail"},
        "InputTemplate": '{"state": <state>, "text": "job <job> is <state>", '
                         '"gone": <missing>, "detail": <detail>}'}).put_events(
        Entries=[BACKUP_EVENT])
    message = json.loads(deliveries(topic)[0]["message"])
    assert message == {"state": "FAILED", "text": "job job-1 is FAILED", "gone": None,
                       "detail": json.loads(BACKUP_EVENT["Detail"])}
    plain = aws.topic(name="plain")
    aws("events").put_targets(Rule="backup-failed", Targets=[{
        "Id": "plain", "Arn": plain, "InputTransformer": {
            "InputPathsMap": {"state": "$.detail.state"},
            "InputTemplate": "Backup <state>."}}])
    aws("events").put_events(Entries=[BACKUP_EVENT])
    assert deliveries(plain)[0]["message"] == "Backup FAILED."


def test_a_disabled_rule_delivers_nothing(aws: Aws):
    topic = aws.topic()
    events = _rule(aws, topic)
    events.disable_rule(Name="backup-failed")
    events.put_events(Entries=[BACKUP_EVENT])
    assert deliveries(topic) == []
    events.enable_rule(Name="backup-failed")
    events.put_events(Entries=[BACKUP_EVENT])
    assert len(deliveries(topic)) == 2
