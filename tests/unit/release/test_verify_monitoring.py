"""verify_monitoring's comparison of an alarm as the plan gives it (Terraform's attribute names,
maps, defaults) with the same alarm as DescribeAlarms returns it: equal when equal, and every
setting that differs named with both values."""

from __future__ import annotations

from datetime import UTC, datetime

from bbws_infra.release import verify_monitoring
from bbws_infra.release.verify_monitoring import SAME

TOPIC = "arn:aws:sns:af-south-1:815856636111:bbws-alerts-sit"

PLANNED_MATH = {
    "alarm_name": "bbws-tenants-system-errors-sit", "namespace": "", "metric_name": "",
    "dimensions": None, "statistic": "", "period": 0, "threshold": 0,
    "comparison_operator": "GreaterThanThreshold", "evaluation_periods": 1,
    "datapoints_to_alarm": 1, "treat_missing_data": "notBreaching", "actions_enabled": True,
    "alarm_actions": [TOPIC], "ok_actions": [TOPIC],
    "metric_query": [
        {"id": "m0", "expression": "", "return_data": False, "metric": [{
            "namespace": "AWS/DynamoDB", "metric_name": "SystemErrors", "period": 300,
            "stat": "Sum", "dimensions": {"TableName": "tenants", "Operation": "GetItem"}}]},
        {"id": "errors", "expression": "SUM(METRICS())", "return_data": True, "metric": []},
    ],
}

DEPLOYED_MATH = {
    "AlarmName": "bbws-tenants-system-errors-sit", "Threshold": 0.0,
    "ComparisonOperator": "GreaterThanThreshold", "EvaluationPeriods": 1,
    "DatapointsToAlarm": 1, "TreatMissingData": "notBreaching", "ActionsEnabled": True,
    "AlarmActions": [TOPIC], "OKActions": [TOPIC], "Dimensions": [],
    "StateUpdatedTimestamp": datetime(2026, 12, 6, tzinfo=UTC),
    "Metrics": [
        {"Id": "m0", "ReturnData": False, "MetricStat": {
            "Metric": {"Namespace": "AWS/DynamoDB", "MetricName": "SystemErrors",
                       "Dimensions": [{"Name": "Operation", "Value": "GetItem"},
                                      {"Name": "TableName", "Value": "tenants"}]},
            "Period": 300, "Stat": "Sum"}},
        {"Id": "errors", "Expression": "SUM(METRICS())", "ReturnData": True},
    ],
}


def _compare(planned: dict, deployed: dict) -> str:
    return verify_monitoring._differences(verify_monitoring._planned_alarm(planned),
                                          verify_monitoring._deployed_alarm(deployed))


def test_a_metric_math_alarm_as_planned_and_as_deployed_is_the_same():
    assert _compare(PLANNED_MATH, DEPLOYED_MATH) == SAME


def test_each_setting_changed_behind_terraforms_back_is_named():
    deployed = {**DEPLOYED_MATH, "Threshold": 5.0, "OKActions": []}
    deployed["Metrics"] = [dict(DEPLOYED_MATH["Metrics"][0]), DEPLOYED_MATH["Metrics"][1]]
    deployed["Metrics"][0]["MetricStat"] = {**deployed["Metrics"][0]["MetricStat"], "Stat": "Max"}
    found = _compare(PLANNED_MATH, deployed)
    assert found.startswith("differs: ")
    assert "Threshold 5.0 (source 0.0)" in found
    assert f'OKActions [] (source ["{TOPIC}"])' in found
    assert '"Stat": "Max"' in found and '"Stat": "Sum"' in found


def test_a_single_metric_alarm_compares_its_dimensions_as_a_map():
    planned = {"alarm_name": "bbws-tenants-read-throttles-sit", "namespace": "AWS/DynamoDB",
               "metric_name": "ReadThrottleEvents", "dimensions": {"TableName": "tenants"},
               "statistic": "Sum", "period": 300, "threshold": 0,
               "comparison_operator": "GreaterThanThreshold", "evaluation_periods": 1,
               "datapoints_to_alarm": 1, "treat_missing_data": "notBreaching",
               "actions_enabled": True, "alarm_actions": [TOPIC], "ok_actions": [TOPIC],
               "metric_query": []}
    deployed = {"Namespace": "AWS/DynamoDB", "MetricName": "ReadThrottleEvents",
                "Dimensions": [{"Name": "TableName", "Value": "tenants"}], "Statistic": "Sum",
                "Period": 300, "Threshold": 0.0, "ComparisonOperator": "GreaterThanThreshold",
                "EvaluationPeriods": 1, "DatapointsToAlarm": 1,
                "TreatMissingData": "notBreaching", "ActionsEnabled": True,
                "AlarmActions": [TOPIC], "OKActions": [TOPIC]}
    assert _compare(planned, deployed) == SAME
    moved = {**deployed, "Dimensions": [{"Name": "TableName", "Value": "products"}]}
    assert _compare(planned, moved) == ('differs: Dimensions {"TableName": "products"} '
                                        '(source {"TableName": "tenants"})')
