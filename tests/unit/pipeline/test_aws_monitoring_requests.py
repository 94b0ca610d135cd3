"""Recorded requests to the monitoring component's services as IAM authorises them
(tests/support/aws_requests.py, tests/support/aws_monitoring_requests.py): each protocol the
SDKs use, the resource each operation names, and what a request also needs."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from moto.core import cbor

from bbws_infra.core.registry import load_environment
from tests.support.aws_monitoring_requests import KmsKeys
from tests.support.aws_requests import calls

DEV = load_environment("dev")
ACCOUNT, REGION = DEV.account_id, DEV.region
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:bbws-alerts-dev"


def _entry(service: str, body: str | bytes, *, target: str | None = None, path: str = "/",
           region: str = REGION) -> dict[str, Any]:
    auth = (f"AWS4-HMAC-SHA256 Credential=KEY/20260101/{region}/{service}/aws4_request, "
            "SignedHeaders=host, Signature=0")
    headers = {"Authorization": auth, **({"X-Amz-Target": target} if target else {})}
    if isinstance(body, bytes):
        return {"method": "POST", "url": f"http://h{path}", "headers": headers,
                "body": base64.b64encode(body).decode(), "body_encoded": True}
    return {"method": "POST", "url": f"http://h{path}", "headers": headers, "body": body,
            "body_encoded": False}


def _seen(*entries: dict[str, Any], keys: KmsKeys | None = None
          ) -> list[tuple[str, str, str]]:
    return [(c.service, c.request.action, c.request.resource)
            for c in calls(list(entries), {"KEY": DEV}, keys)]


def test_sns_topics_subscriptions_and_the_tags_createtopic_gives():
    assert _seen(
        _entry("sns", "Action=CreateTopic&Name=bbws-alerts-dev&Tags.member.1.Key=k"
                      "&Tags.member.1.Value=v"),
        _entry("sns", f"Action=GetSubscriptionAttributes&SubscriptionArn={TOPIC}%3Aab-12"),
        _entry("sns", "Action=ListTopics"),
    ) == [("sns", "sns:CreateTopic", TOPIC), ("sns", "sns:TagResource", TOPIC),
          ("sns", "sns:GetSubscriptionAttributes", TOPIC), ("sns", "sns:ListTopics", "*")]


def test_cloudwatch_in_each_protocol_alarms_one_by_one_dashboards_global():
    alarm = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:"
    dashboard = f"arn:aws:cloudwatch::{ACCOUNT}:dashboard/bbws-data-stores-dev"
    cbor_body = cbor.dumps({"AlarmNames": ["a-dev", "b-dev"]})
    assert _seen(
        # the provider (Go SDK v1): the query protocol
        _entry("monitoring", "Action=PutMetricAlarm&AlarmName=a-dev&Tags.member.1.Key=k"),
        _entry("monitoring", "Action=DeleteDashboards&DashboardNames.member.1="
                             "bbws-data-stores-dev"),
        # boto3: JSON, or Smithy RPC v2 CBOR
        _entry("monitoring", json.dumps({"AlarmNamePrefix": "bbws-"}),
               target="GraniteServiceVersion20100801.DescribeAlarms"),
        _entry("monitoring", cbor_body,
               path="/service/GraniteServiceVersion20100801/operation/DescribeAlarms"),
        _entry("monitoring", json.dumps({}), target="GraniteServiceVersion20100801.DescribeAlarms"),
    ) == [("cloudwatch", "cloudwatch:PutMetricAlarm", f"{alarm}a-dev"),
          ("cloudwatch", "cloudwatch:TagResource", f"{alarm}a-dev"),
          ("cloudwatch", "cloudwatch:DeleteDashboards", dashboard),
          ("cloudwatch", "cloudwatch:DescribeAlarms", f"{alarm}bbws-*"),
          ("cloudwatch", "cloudwatch:DescribeAlarms", f"{alarm}a-dev"),
          ("cloudwatch", "cloudwatch:DescribeAlarms", f"{alarm}b-dev"),
          ("cloudwatch", "cloudwatch:DescribeAlarms", f"{alarm}*")]


def test_eventbridge_rules_by_bus_and_budgets_by_their_two_actions():
    rule = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/"
    budget = f"arn:aws:budgets::{ACCOUNT}:budget/bbws-monthly-cost-dev"
    assert _seen(
        _entry("events", json.dumps({"Rule": "r", "EventBusName": "default"}),
               target="AWSEvents.ListTargetsByRule"),
        _entry("events", json.dumps({"Name": "r", "EventBusName": "ops"}),
               target="AWSEvents.PutRule"),
        _entry("events", json.dumps({"Rule": "r", "Targets": [
            {"Id": "t", "Arn": TOPIC, "RoleArn": "arn:aws:iam::1:role/x"}]}),
               target="AWSEvents.PutTargets"),
        _entry("budgets", json.dumps({"AccountId": ACCOUNT, "Budget": {
            "BudgetName": "bbws-monthly-cost-dev"}}),
               target="AWSBudgetServiceGateway.CreateBudget", region="us-east-1"),
        _entry("budgets", json.dumps({"AccountId": ACCOUNT,
                                      "BudgetName": "bbws-monthly-cost-dev"}),
               target="AWSBudgetServiceGateway.DescribeNotificationsForBudget"),
    ) == [("events", "events:ListTargetsByRule", f"{rule}r"),
          ("events", "events:PutRule", f"{rule}ops/r"),
          ("events", "events:PutTargets", f"{rule}r"),
          ("events", "iam:PassRole", "arn:aws:iam::1:role/x"),
          ("budgets", "budgets:ModifyBudget", budget),
          ("budgets", "budgets:ViewBudget", budget)]


def test_kms_keys_by_arn_aliases_on_both_sides_and_each_key_with_its_policy():
    key_policy = {"Version": "2012-10-17", "Statement": [{
        "Sid": "Account", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
        "Action": "kms:*", "Resource": "*"}]}
    key = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/k-1"
    alias = f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/bbws-alerts-dev"
    keys = KmsKeys()

    def kms(operation: str, **body: Any) -> dict[str, Any]:
        return _entry("kms", json.dumps(body), target=f"TrentService.{operation}")

    made = calls([kms("CreateKey", Policy=json.dumps(key_policy), Tags=[{"TagKey": "k"}]),
                  kms("EnableKeyRotation", KeyId="k-1"),
                  kms("CreateAlias", AliasName="alias/bbws-alerts-dev", TargetKeyId="k-1"),
                  kms("DescribeKey", KeyId="alias/bbws-alerts-dev"),
                  kms("GetKeyPolicy", KeyId=alias),
                  kms("ListAliases", KeyId=key)], {"KEY": DEV}, keys)
    assert [(c.request.action, c.request.resource, c.resource_policy is not None)
            for c in made] == [
        ("kms:CreateKey", "*", False),
        # tags at creation: kms:TagResource on every key of the account and region
        ("kms:TagResource", f"arn:aws:kms:{REGION}:{ACCOUNT}:key/*", True),
        ("kms:EnableKeyRotation", key, True),
        ("kms:CreateAlias", alias, False), ("kms:CreateAlias", key, True),
        ("kms:DescribeKey", key, True), ("kms:GetKeyPolicy", key, True),
        ("kms:ListAliases", "*", False)]
    assert all(c.resource_policy == key_policy for c in made if c.resource_policy)
    with pytest.raises(ValueError, match="alias no recorded request created"):
        calls([kms("DescribeKey", KeyId="alias/unknown")], {"KEY": DEV}, keys)


def test_backup_jobs_are_listed_on_no_resource():
    entry = _entry("backup", "", path="/backup-jobs/")
    entry["method"] = "GET"
    entry["url"] = f"http://h/backup-jobs/?resourceArn=arn%3Aaws%3Adynamodb%3A{REGION}%3A1%3At"
    assert _seen(entry) == [("backup", "backup:ListBackupJobs", "*")]
