"""bbws_infra.targets.moto_semantics for the monitoring services: alarms and EventBridge
targets AWS refuses, refused here too (moto_validation's hook, moto in-process)."""

from __future__ import annotations

from typing import Any

from bbws_infra.targets import moto_validation
from tests.support.aws_errors import refusal, unvalidated_client
from tests.unit.targets.monitoring_fixtures import Aws

QUERY = {"Id": "m0", "ReturnData": False, "MetricStat": {
    "Metric": {"Namespace": "AWS/DynamoDB", "MetricName": "SystemErrors",
               "Dimensions": [{"Name": "TableName", "Value": "tenants"}]},
    "Period": 300, "Stat": "Sum"}}
TOTAL = {"Id": "total", "Expression": "SUM(METRICS())", "ReturnData": True}
ALARM = {"AlarmName": "errors", "EvaluationPeriods": 1, "Threshold": 0,
         "ComparisonOperator": "GreaterThanThreshold"}


def _put_alarm(cloudwatch: Any, **kwargs: Any) -> tuple[str, str, int]:
    return refusal(cloudwatch.put_metric_alarm, **{**ALARM, **kwargs})


def test_metric_math_alarms_must_return_exactly_one_series(aws: Aws):
    cloudwatch = unvalidated_client("cloudwatch")
    with moto_validation.applied():
        assert _put_alarm(cloudwatch, Metrics=[QUERY, {**TOTAL, "ReturnData": False}]) == (
            "ValidationError", "Exactly one element of the metrics list should return data.",
            400)
        # ReturnData left out counts as true: two series
        assert _put_alarm(cloudwatch, Metrics=[{**QUERY, "ReturnData": None}, TOTAL])[0] == (
            "ValidationError")
        code, message, _ = _put_alarm(cloudwatch, Metrics=[QUERY, TOTAL], Period=300,
                                      Statistic="Sum")
        assert code == "ValidationError" and "Period, Statistic" in message
        assert _put_alarm(cloudwatch)[:2] == ("ValidationError", "MetricName must not be null")
        cloudwatch.put_metric_alarm(**ALARM, Metrics=[QUERY, TOTAL])
    assert [a["AlarmName"] for a in cloudwatch.describe_alarms()["MetricAlarms"]] == ["errors"]


def test_an_input_template_may_only_use_defined_placeholders(aws: Aws):
    events = unvalidated_client("events")
    events.put_rule(Name="backup-failed", EventPattern='{"source": ["aws.backup"]}')
    target = {"Id": "alerts", "Arn": "arn:aws:sns:af-south-1:123456789012:alerts",
              "InputTransformer": {"InputPathsMap": {"state": "$.detail.state"},
                                   "InputTemplate": '"<state> at <time> (<aws.events.rule-name>)"'}}
    with moto_validation.applied():
        assert refusal(events.put_targets, Rule="backup-failed", Targets=[target]) == (
            "ValidationException",
            "InputTemplate for target alerts contains invalid placeholder time.", 400)
        target["InputTransformer"]["InputPathsMap"]["time"] = "$.time"
        assert events.put_targets(Rule="backup-failed", Targets=[target])[
            "FailedEntryCount"] == 0
