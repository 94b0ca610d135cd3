"""bbws_infra.targets.moto_monitoring_budgets: the AWS Budgets operations the provider's
aws_budgets_budget calls that moto lacks, with AWS's shapes and errors (moto in-process)."""

from __future__ import annotations

from typing import Any

import pytest

from bbws_infra.targets import moto_monitoring, moto_monitoring_budget_alerts, moto_validation
from tests.support.aws_errors import refusal, unvalidated_client
from tests.unit.targets.monitoring_fixtures import ACCOUNT, Aws, deliveries

TOPIC = f"arn:aws:sns:af-south-1:{ACCOUNT}:alerts"
ACTUAL = {"NotificationType": "ACTUAL", "ComparisonOperator": "GREATER_THAN",
          "Threshold": 80, "ThresholdType": "PERCENTAGE"}
FORECASTED = {**ACTUAL, "NotificationType": "FORECASTED", "Threshold": 100}
SNS = {"SubscriptionType": "SNS", "Address": TOPIC}
EMAIL = {"SubscriptionType": "EMAIL", "Address": "oncall@example.com"}


def _budget(amount: str = "100.0") -> dict[str, Any]:
    return {"BudgetName": "bbws-monthly", "BudgetType": "COST", "TimeUnit": "MONTHLY",
            "BudgetLimit": {"Amount": amount, "Unit": "USD"}}


@pytest.fixture
def budgets(aws: Aws) -> Any:
    client = aws("budgets")
    client.create_budget(AccountId=ACCOUNT, Budget=_budget(), NotificationsWithSubscribers=[
        {"Notification": ACTUAL, "Subscribers": [SNS, EMAIL]},
        {"Notification": FORECASTED, "Subscribers": [SNS]}])
    return client


def _subscribers(budgets: Any, notification: dict[str, Any]) -> list[dict[str, str]]:
    found: list[dict[str, str]] = budgets.describe_subscribers_for_notification(
        AccountId=ACCOUNT, BudgetName="bbws-monthly", Notification=notification)["Subscribers"]
    return found


def test_each_notifications_subscribers_are_described(budgets: Any):
    notifications = budgets.describe_notifications_for_budget(
        AccountId=ACCOUNT, BudgetName="bbws-monthly")["Notifications"]
    assert [n["NotificationType"] for n in notifications] == ["ACTUAL", "FORECASTED"]
    assert _subscribers(budgets, notifications[0]) == [SNS, EMAIL]
    assert _subscribers(budgets, notifications[1]) == [SNS]
    # found by what tells notifications apart: AWS leaves ThresholdType out for PERCENTAGE
    without_type = {k: v for k, v in ACTUAL.items() if k != "ThresholdType"}
    assert _subscribers(budgets, without_type) == [SNS, EMAIL]
    page = budgets.describe_subscribers_for_notification(
        AccountId=ACCOUNT, BudgetName="bbws-monthly", Notification=ACTUAL, MaxResults=1)
    assert page["Subscribers"] == [SNS] and page["NextToken"] == "1"


def test_subscribers_are_added_changed_and_removed(budgets: Any):
    other = {"SubscriptionType": "EMAIL", "Address": "finance@example.com"}
    budgets.create_subscriber(AccountId=ACCOUNT, BudgetName="bbws-monthly",
                              Notification=FORECASTED, Subscriber=other)
    assert _subscribers(budgets, FORECASTED) == [SNS, other]
    assert refusal(budgets.create_subscriber, AccountId=ACCOUNT, BudgetName="bbws-monthly",
                   Notification=FORECASTED, Subscriber=other)[0] == "DuplicateRecordException"
    budgets.update_subscriber(AccountId=ACCOUNT, BudgetName="bbws-monthly",
                              Notification=FORECASTED, OldSubscriber=other, NewSubscriber=EMAIL)
    assert _subscribers(budgets, FORECASTED) == [SNS, EMAIL]
    budgets.delete_subscriber(AccountId=ACCOUNT, BudgetName="bbws-monthly",
                              Notification=FORECASTED, Subscriber=SNS)
    assert _subscribers(budgets, FORECASTED) == [EMAIL]
    assert refusal(budgets.delete_subscriber, AccountId=ACCOUNT, BudgetName="bbws-monthly",
                   Notification=FORECASTED, Subscriber=SNS)[0] == "NotFoundException"


def test_a_budget_and_its_notifications_are_updated_in_place(budgets: Any):
    budgets.update_budget(AccountId=ACCOUNT, NewBudget=_budget("250.0"))
    budget = budgets.describe_budget(AccountId=ACCOUNT, BudgetName="bbws-monthly")["Budget"]
    assert budget["BudgetLimit"] == {"Amount": "250.0", "Unit": "USD"}
    changed = {**ACTUAL, "Threshold": 90}
    budgets.update_notification(AccountId=ACCOUNT, BudgetName="bbws-monthly",
                                OldNotification=ACTUAL, NewNotification=changed)
    assert _subscribers(budgets, changed) == [SNS, EMAIL]  # the subscribers stay with it
    assert refusal(budgets.update_notification, AccountId=ACCOUNT, BudgetName="bbws-monthly",
                   OldNotification=changed, NewNotification=FORECASTED)[0] == (
        "DuplicateRecordException")
    budgets.delete_notification(AccountId=ACCOUNT, BudgetName="bbws-monthly",
                                Notification=changed)
    assert [n["NotificationType"] for n in budgets.describe_notifications_for_budget(
        AccountId=ACCOUNT, BudgetName="bbws-monthly")["Notifications"]] == ["FORECASTED"]


def test_unknown_budgets_and_notifications_are_not_found(budgets: Any):
    assert refusal(budgets.update_budget, AccountId=ACCOUNT,
                   NewBudget={**_budget(), "BudgetName": "never-created"})[0] == (
        "NotFoundException")
    # moto answered these with HTTP 500 (KeyError)
    for call, kwargs in ((budgets.describe_notifications_for_budget, {}),
                         (budgets.describe_subscribers_for_notification,
                          {"Notification": ACTUAL})):
        code, _, status = refusal(call, AccountId=ACCOUNT, BudgetName="never-created",
                                  **kwargs)
        assert (code, status) == ("NotFoundException", 400)
    assert refusal(budgets.delete_notification, AccountId=ACCOUNT, BudgetName="bbws-monthly",
                   Notification={**ACTUAL, "Threshold": 50})[0] == "NotFoundException"


def test_budgets_requests_are_checked_against_the_model(aws: Aws):
    client = unvalidated_client("budgets")
    with moto_validation.applied():
        code, message, status = refusal(client.create_budget, AccountId="not-an-account",
                                        Budget=_budget())
    assert (code, status) == ("ValidationException", 400)
    assert "at 'accountId' failed to satisfy constraint" in message


def test_restore_takes_the_operations_away_again():
    from moto.budgets.responses import BudgetsResponse

    with moto_monitoring.applied():
        assert moto_monitoring.is_applied()
        assert hasattr(BudgetsResponse, "describe_subscribers_for_notification")
    assert not moto_monitoring.is_applied()
    assert not hasattr(BudgetsResponse, "describe_subscribers_for_notification")


def _alerting_budget(aws: Aws, topic: str) -> Any:
    client = aws("budgets")
    client.create_budget(AccountId=ACCOUNT, Budget=_budget(), NotificationsWithSubscribers=[
        {"Notification": ACTUAL, "Subscribers": [{**SNS, "Address": topic}, EMAIL]},
        {"Notification": FORECASTED, "Subscribers": [{**SNS, "Address": topic}]}])
    return client


def _spend(actual: str, forecasted: str) -> list[dict[str, Any]]:
    from moto.budgets.models import budgets_backends

    return moto_monitoring_budget_alerts.set_spend(
        budgets_backends[ACCOUNT]["aws"], ACCOUNT, "bbws-monthly", actual, forecasted)


def test_a_notification_fires_once_its_threshold_is_crossed(aws: Aws):
    topic = aws.topic()
    budgets = _alerting_budget(aws, topic)
    assert _spend("50", "90") == []  # 80 % of 100 USD not reached, forecast under 100 %
    (fired,) = _spend("85", "90")
    assert fired["notification"] == ACTUAL
    assert fired["subject"] == "AWS Budgets: bbws-monthly has exceeded your alert threshold"
    assert fired["subscribers"] == [
        {"address": topic, "delivered": True, "reason": ""},
        {"address": "oncall@example.com", "delivered": False,
         "reason": "email: AWS Budgets mails it; the sandbox sends nothing"}]
    records = deliveries(topic)
    assert {(r["protocol"], r["publisher"]) for r in records} == {
        ("email", "budgets.amazonaws.com"), ("https", "budgets.amazonaws.com")}
    text = records[0]["message"]
    assert "budget is greater than $80.00 for the current month" in text
    assert "ACTUAL Amount: $85.00" in text and f"AWS Account {ACCOUNT}" in text
    assert _spend("86", "90") == []  # still in ALARM: AWS alerts once
    states = {n["NotificationType"]: n.get("NotificationState") for n in
              budgets.describe_notifications_for_budget(
                  AccountId=ACCOUNT, BudgetName="bbws-monthly")["Notifications"]}
    assert states == {"ACTUAL": "ALARM", "FORECASTED": "OK"}
    spent = budgets.describe_budget(AccountId=ACCOUNT, BudgetName="bbws-monthly")["Budget"]
    assert spent["CalculatedSpend"]["ActualSpend"] == {"Amount": "86", "Unit": "USD"}
    assert [f["notification"]["NotificationType"] for f in _spend("10", "150")] == [
        "FORECASTED"]


def test_a_topic_that_refuses_aws_budgets_is_reported(aws: Aws):
    topic = aws.topic(key_services=["cloudwatch.amazonaws.com"])
    _alerting_budget(aws, topic)
    (fired,) = _spend("85", "0")
    assert fired["subscribers"][0] == {
        "address": topic, "delivered": False,
        "reason": "AWS Budgets does not have authorization to access the SNS topic "
                  "encryption key."}
    (record,) = deliveries(topic)
    assert not record["delivered"] and record["publisher"] == "budgets.amazonaws.com"


def test_spend_for_an_unknown_budget_is_refused(aws: Aws):
    with pytest.raises(ValueError, match="budget bbws-monthly does not exist"):
        _spend("1", "1")
