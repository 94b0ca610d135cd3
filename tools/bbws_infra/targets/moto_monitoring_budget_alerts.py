"""Budget alerts on the sandbox (bbws_infra.targets.moto_monitoring applies this). The sandbox
has no bill, so nothing AWS Budgets measures ever changes and no budget notification could
fire; a test says what AWS would have measured instead:

    POST /moto-api/bbws/budget-spend
    {"account_id": "...", "budget_name": "...", "actual": "85.0", "forecasted": "120.0"}

(moto_monitoring_client.set_budget_spend sends it). The budget's CalculatedSpend becomes that,
and each notification is evaluated as AWS Budgets does: ACTUAL against the actual spend,
FORECASTED against the forecast, the threshold a PERCENTAGE of the budget limit or an
ABSOLUTE_VALUE, compared GREATER_THAN, LESS_THAN or EQUAL_TO. A notification that newly holds
goes to ALARM (NotificationState, as DescribeNotificationsForBudget shows it) and its SNS
subscribers get AWS Budgets' message, published as budgets.amazonaws.com for the budget
(moto_monitoring_sns.publish_as_service: the topic's and its key's policies decide, and a
refusal is recorded). One that no longer holds goes back to OK. EMAIL subscribers are sent
nothing (AWS mails them itself, not through SNS); the answer lists them.
"""

from __future__ import annotations

import json
from datetime import UTC
from decimal import Decimal, InvalidOperation

from moto.budgets.models import Budget, BudgetsBackend, budgets_backends
from moto.core.utils import utcnow

from bbws_infra.core.untyped import Json, JsonObject
from bbws_infra.targets import moto_monitoring_sns
from bbws_infra.targets.moto_monitoring_policy import Publisher

SPEND_PATH = "/moto-api/bbws/budget-spend"
SERVICE = "budgets.amazonaws.com"
_COMPARE = {"GREATER_THAN": lambda value, limit: value > limit,
            "LESS_THAN": lambda value, limit: value < limit,
            "EQUAL_TO": lambda value, limit: value == limit}


def _amount(value: Json, what: str) -> Decimal:
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{what} {value!r} is not an amount") from None


def _threshold(notification: JsonObject, limit: Decimal) -> Decimal:
    threshold = _amount(notification.get("Threshold"), "Threshold")
    if (notification.get("ThresholdType") or "PERCENTAGE") == "PERCENTAGE":
        return limit * threshold / 100
    return threshold


def message(budget: JsonObject, account: str, notification: JsonObject, spend: Decimal,
            threshold: Decimal) -> tuple[str, str]:
    """(subject, text) of AWS Budgets' notification."""
    name, kind = budget["BudgetName"], notification["NotificationType"]
    unit = str(budget["BudgetLimit"]["Unit"])

    def money(amount: Decimal) -> str:
        return f"${amount:.2f}" if unit == "USD" else f"{amount:.2f} {unit}"

    operator = {"GREATER_THAN": ">", "LESS_THAN": "<", "EQUAL_TO": "="}[
        notification["ComparisonOperator"]]
    relation = {"GREATER_THAN": "greater than", "LESS_THAN": "less than",
                "EQUAL_TO": "equal to"}[notification["ComparisonOperator"]]
    cost = str(budget.get("BudgetType", "COST")).capitalize()
    text = "\n".join([
        f"AWS Budget Notification {utcnow().replace(tzinfo=UTC):%B %d, %Y}",
        f"AWS Account {account}", "", "Dear AWS Customer,", "",
        f"You requested that we alert you when the {kind} {cost} associated with your {name} "
        f"budget is {relation} {money(threshold)} for the current "
        f"{str(budget.get('TimeUnit', 'MONTHLY')).lower().removesuffix('ly')}. The {kind} "
        f"{cost} associated with this budget is {money(spend)}.", "",
        f"Budget Name: {name}", f"Budget Type: {cost}",
        f"Budgeted Amount: {money(_amount(budget['BudgetLimit']['Amount'], 'Amount'))}",
        f"Alert Type: {kind}", f"Alert Threshold: {operator} {money(threshold)}",
        f"{kind} Amount: {money(spend)}"])
    return f"AWS Budgets: {name} has exceeded your alert threshold", text


def set_spend(backend: BudgetsBackend, account: str, name: str, actual: Json,
              forecasted: Json) -> list[JsonObject]:
    """Record what AWS measured and run the notifications that newly hold: one entry per
    notification that went to ALARM, with what became of each subscriber."""
    budget: Budget | None = backend.budgets[account].get(name)
    if budget is None:
        raise ValueError(f"budget {name} does not exist in account {account}")
    document = budget.budget
    if "BudgetLimit" not in document:
        raise ValueError(f"budget {name} has no fixed limit to measure against")
    limit = _amount(document["BudgetLimit"]["Amount"], "BudgetLimit")
    spend = {"ACTUAL": _amount(actual, "actual"), "FORECASTED": _amount(forecasted,
                                                                        "forecasted")}
    unit = document["BudgetLimit"]["Unit"]
    document["CalculatedSpend"] = {
        "ActualSpend": {"Amount": str(spend["ACTUAL"]), "Unit": unit},
        "ForecastedSpend": {"Amount": str(spend["FORECASTED"]), "Unit": unit}}
    publisher = Publisher(SERVICE, account, f"arn:aws:budgets::{account}:budget/{name}")
    fired: list[JsonObject] = []
    for notification in budget.notifications:
        details = notification.details
        value = spend.get(str(details.get("NotificationType")), Decimal(0))
        threshold = _threshold(details, limit)
        holds = _COMPARE[str(details.get("ComparisonOperator"))](value, threshold)
        was = details.get("NotificationState") == "ALARM"
        details["NotificationState"] = "ALARM" if holds else "OK"
        if not holds or was:
            continue
        subject, text = message(document, account, details, value, threshold)
        outcomes = []
        subscribers: Json = notification.subscribers
        for subscriber in subscribers:
            address = str(subscriber.get("Address"))
            if subscriber.get("SubscriptionType") == "SNS":
                reason = moto_monitoring_sns.publish_as_service(publisher, address, text,
                                                                subject)
                outcomes.append({"address": address, "delivered": reason is None,
                                 "reason": reason or ""})
            else:
                outcomes.append({"address": address, "delivered": False,
                                 "reason": "email: AWS Budgets mails it; the sandbox sends "
                                           "nothing"})
        fired.append({"notification": {k: v for k, v in details.items()
                                       if k != "NotificationState"},
                      "subject": subject, "subscribers": outcomes})
    return fired


def spend_response(request: Json, full_url: str, headers: Json
                   ) -> tuple[int, dict[str, str], str]:
    try:
        size = int(headers.get("Content-Length") or 0)
        body = json.loads(request.environ["wsgi.input"].read(size) or b"{}")
        account = str(body["account_id"])
        fired = set_spend(budgets_backends[account]["aws"], account, str(body["budget_name"]),
                          body.get("actual", 0), body.get("forecasted", 0))
    except (KeyError, ValueError, TypeError, AttributeError) as error:
        return 400, {"Content-Type": "application/json"}, json.dumps({"error": str(error)})
    return 200, {"Content-Type": "application/json"}, json.dumps({"fired": fired})
