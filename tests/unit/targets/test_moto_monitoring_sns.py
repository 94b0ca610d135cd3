"""bbws_infra.targets.moto_monitoring_sns and moto_monitoring_policy: SNS deliveries recorded
(nothing sent), email pending confirmation, services' publishes allowed or refused by the
topic's and the key's policies as AWS decides at delivery, and the records read back from a
running server (moto_monitoring_client)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from moto.server import ThreadedMotoServer

from bbws_infra.core.errors import OperationError
from bbws_infra.targets import moto_monitoring, moto_monitoring_client, moto_monitoring_policy
from bbws_infra.targets.moto_monitoring_policy import Publisher
from bbws_infra.targets.moto_monitoring_sns import publish_as_service
from tests.unit.targets.monitoring_fixtures import (
    ACCOUNT,
    SERVICES,
    Aws,
    deliveries,
    topic_policy,
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port

ALARM = f"arn:aws:cloudwatch:af-south-1:{ACCOUNT}:alarm:throttles"
RULE = f"arn:aws:events:af-south-1:{ACCOUNT}:rule/backup-failed"
CLOUDWATCH = Publisher("cloudwatch.amazonaws.com", ACCOUNT, ALARM)
EVENTS = Publisher("events.amazonaws.com", ACCOUNT, RULE)


def test_email_subscriptions_stay_pending_and_https_ones_confirm(aws: Aws):
    sns = aws("sns")
    topic = aws.topic()
    listed = {s["Protocol"]: s["SubscriptionArn"]
              for s in sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]}
    assert listed["email"] == "PendingConfirmation"  # as AWS lists a pending one
    assert listed["https"].startswith(topic + ":")
    assert [s["SubscriptionArn"] for s in sns.list_subscriptions()["Subscriptions"]] == [
        listed["email"], listed["https"]]
    attributes = {r["protocol"]: sns.get_subscription_attributes(
        SubscriptionArn=r["subscription_arn"])["Attributes"] for r in _published(aws, topic)}
    assert attributes["email"]["PendingConfirmation"] == "true"
    assert attributes["email"]["ConfirmationWasAuthenticated"] == "false"
    assert attributes["https"]["PendingConfirmation"] == "false"


def _published(aws: Aws, topic: str) -> list[dict[str, object]]:
    aws("sns").publish(TopicArn=topic, Message="probe")
    return deliveries(topic)


def test_a_publish_is_recorded_for_every_subscription_and_sent_nowhere(
        aws: Aws, monkeypatch: pytest.MonkeyPatch):
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("the sandbox sent a delivery over the network")

    monkeypatch.setattr(requests, "post", no_network)
    topic = aws.topic()
    aws("sns").publish(TopicArn=topic, Message="disk full", Subject="alert")
    records = deliveries(topic)
    assert {(r["protocol"], r["endpoint"]) for r in records} == {
        ("email", "oncall@example.com"), ("https", "https://hooks.example.com/bbws")}
    for record in records:
        assert (record["message"], record["subject"], record["delivered"], record["reason"],
                record["publisher"]) == ("disk full", "alert", True, "", "")
        assert record["subscription_arn"].startswith(topic + ":")
        assert record["sent_at"].endswith("+00:00")


def test_a_service_publishes_when_both_policies_allow_it(aws: Aws):
    topic = aws.topic()
    assert publish_as_service(CLOUDWATCH, topic, "{}", "ALARM") is None
    assert [(r["protocol"], r["publisher"], r["delivered"]) for r in deliveries(topic)] == [
        ("email", "cloudwatch.amazonaws.com", True),
        ("https", "cloudwatch.amazonaws.com", True)]


def test_a_key_policy_without_the_service_refuses_the_delivery(aws: Aws):
    topic = aws.topic(key_services=["budgets.amazonaws.com"])
    reason = publish_as_service(CLOUDWATCH, topic, "{}", "ALARM")
    assert reason == ("CloudWatch Alarms does not have authorization to access the SNS topic "
                      "encryption key.")
    (record,) = deliveries(topic)  # once, for the topic: no subscription got it
    assert (record["delivered"], record["reason"], record["subscription_arn"],
            record["message"]) == (False, reason, "", "{}")


def test_the_aws_managed_sns_key_admits_no_service(aws: Aws):
    topic = aws.topic(key="alias/aws/sns")
    reason = publish_as_service(EVENTS, topic, "{}", None)
    assert reason is not None and reason.startswith(
        "Amazon EventBridge does not have authorization to access the SNS topic encryption key")
    assert "alias/aws/sns is an AWS managed key" in reason


def test_a_topic_policy_without_the_service_or_for_another_account_refuses(aws: Aws):
    topic = aws.topic(policy_services=["cloudwatch.amazonaws.com"])
    assert publish_as_service(EVENTS, topic, "{}", None) == (
        f"Amazon EventBridge is not authorized to perform: SNS:Publish on resource:{topic}")
    assert publish_as_service(CLOUDWATCH, topic, "{}", None) is None
    elsewhere = Publisher("cloudwatch.amazonaws.com", "210987654321", ALARM)
    assert publish_as_service(elsewhere, topic, "{}", None) is not None  # aws:SourceAccount


def test_the_default_topic_policy_admits_the_accounts_alarms_but_not_eventbridge(aws: Aws):
    topic = aws.topic(policy_services=[])  # SNS's default policy: AWS:SourceOwner = account
    assert publish_as_service(CLOUDWATCH, topic, "{}", None) is None
    assert publish_as_service(EVENTS, topic, "{}", None) is not None


def test_a_disabled_or_missing_key_refuses(aws: Aws):
    kms = aws("kms")
    key = kms.create_key(Policy=json.dumps({"Statement": []}))["KeyMetadata"]["KeyId"]
    kms.disable_key(KeyId=key)
    topic = aws.topic(key=key)
    assert "is Disabled" in str(publish_as_service(CLOUDWATCH, topic, "{}", None))
    gone = aws.topic(name="gone", key="alias/never-created")
    assert "does not exist" in str(publish_as_service(CLOUDWATCH, gone, "{}", None))
    assert publish_as_service(CLOUDWATCH, topic + "-missing", "{}", None) == (
        f"Topic {topic}-missing does not exist.")


def test_deny_statements_and_conditions_are_evaluated():
    topic = f"arn:aws:sns:af-south-1:{ACCOUNT}:alerts"
    policy = {"Statement": [
        {"Effect": "Allow", "Principal": {"Service": SERVICES}, "Action": "SNS:*",
         "Resource": "*"},
        {"Effect": "Deny", "Principal": "*", "Action": "sns:Publish", "Resource": topic,
         "Condition": {"ArnNotLike": {"aws:SourceArn": f"arn:aws:cloudwatch:*:{ACCOUNT}:*"}}}]}
    assert moto_monitoring_policy.topic_refusal(policy, topic, CLOUDWATCH) is None
    assert moto_monitoring_policy.topic_refusal(policy, topic, EVENTS) is not None


@pytest.fixture
def server() -> Iterator[str]:
    port = free_port()
    with moto_monitoring.applied():
        running = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        running.start()
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            running.stop()


def test_the_records_are_read_back_from_a_running_server(server: str):
    import boto3

    sns = boto3.client("sns", endpoint_url=server, region_name="af-south-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    topic = sns.create_topic(Name="alerts")["TopicArn"]
    other = sns.create_topic(Name="other")["TopicArn"]
    for arn in (topic, other):
        sns.subscribe(TopicArn=arn, Protocol="email", Endpoint="oncall@example.com")
        sns.publish(TopicArn=arn, Message=f"to {arn}")
    (record,) = moto_monitoring_client.sns_deliveries(server, topic)
    assert (record.topic_arn, record.protocol, record.message, record.delivered) == (
        topic, "email", f"to {topic}", True)
    assert len(moto_monitoring_client.sns_deliveries(server)) == 2


def test_budget_spend_is_sent_to_a_running_server(server: str):
    import boto3

    def client(service: str) -> Any:
        return boto3.client(service, endpoint_url=server, region_name="af-south-1",
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    sns, budgets = client("sns"), client("budgets")
    topic = sns.create_topic(Name="alerts")["TopicArn"]
    sns.set_topic_attributes(
        TopicArn=topic, AttributeName="Policy",
        AttributeValue=topic_policy(topic, ["budgets.amazonaws.com"]))
    budgets.create_budget(
        AccountId=ACCOUNT, Budget={"BudgetName": "monthly", "BudgetType": "COST",
                                   "TimeUnit": "MONTHLY",
                                   "BudgetLimit": {"Amount": "100", "Unit": "USD"}},
        NotificationsWithSubscribers=[{"Notification": {
            "NotificationType": "ACTUAL", "ComparisonOperator": "GREATER_THAN",
            "Threshold": 80, "ThresholdType": "PERCENTAGE"},
            "Subscribers": [{"SubscriptionType": "SNS", "Address": topic}]}])
    (fired,) = moto_monitoring_client.set_budget_spend(server, ACCOUNT, "monthly", "90", "0")
    assert fired["subscribers"] == [{"address": topic, "delivered": True, "reason": ""}]
    with pytest.raises(OperationError, match="budget never-created does not exist"):
        moto_monitoring_client.set_budget_spend(server, ACCOUNT, "never-created", "1", "1")


def test_reading_a_sandbox_that_does_not_answer_says_so():
    with pytest.raises(OperationError, match="did not answer its SNS deliveries"):
        moto_monitoring_client.sns_deliveries(f"http://127.0.0.1:{free_port()}")
