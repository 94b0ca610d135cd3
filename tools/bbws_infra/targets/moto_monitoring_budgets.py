"""The AWS Budgets operations moto 5.2 lacks or answers differently from AWS, for the sandbox
(bbws_infra.targets.moto_monitoring applies them).

The provider's `aws_budgets_budget` reads every notification's subscribers with
DescribeSubscribersForNotification, which moto does not implement (the provider retried its
HTTP 500 for minutes). Added, with the request and response shapes of botocore's model:

| operation | notes |
|---|---|
| DescribeSubscribersForNotification | MaxResults and NextToken |
| CreateSubscriber, DeleteSubscriber, UpdateSubscriber | |
| UpdateBudget | the name must exist; notifications stay |
| UpdateNotification | subscribers stay with it |

and moto's DeleteNotification and DescribeNotificationsForBudget made to answer as AWS does: a
notification is found by its type, operator, threshold and threshold type (AWS leaves
ThresholdType out when it is PERCENTAGE; moto compared whole request dicts), an unknown budget
or notification is NotFoundException (moto raised KeyError, an HTTP 500).
"""

from __future__ import annotations

import json
from collections.abc import Callable

from moto.budgets.exceptions import DuplicateRecordException, NotFoundException
from moto.budgets.models import Budget, BudgetsBackend, Notification
from moto.budgets.responses import BudgetsResponse
from moto.core.utils import unix_time

from bbws_infra.core.untyped import Json, JsonObject

MAX_RESULTS = 100


def _key(notification: JsonObject) -> tuple[str, str, float, str]:
    """What tells a budget's notifications apart on AWS."""
    return (str(notification.get("NotificationType")),
            str(notification.get("ComparisonOperator")),
            float(notification.get("Threshold") or 0),
            str(notification.get("ThresholdType") or "PERCENTAGE"))


def _budget(backend: BudgetsBackend, account_id: str, name: str) -> Budget:
    budget = backend.budgets[account_id].get(name)
    if budget is None:
        raise NotFoundException(f"Unable to get budget: {name} - the budget doesn't exist.")
    return budget


def _notification(budget: Budget, details: JsonObject) -> Notification:
    wanted = _key(details)
    for notification in budget.notifications:
        if _key(notification.details) == wanted:
            return notification
    raise NotFoundException("Unable to find notification for budget "
                            f"{budget.budget['BudgetName']}.")


def _subscribers(notification: Notification) -> list[JsonObject]:
    """A notification's subscribers (a list; moto's annotation says dict)."""
    subscribers: Json = notification.subscribers
    return list(subscribers)


def _set_subscribers(notification: Notification, subscribers: list[JsonObject]) -> None:
    value: Json = subscribers
    notification.subscribers = value


def _subscriber_key(subscriber: JsonObject) -> tuple[str, str]:
    return str(subscriber.get("SubscriptionType")), str(subscriber.get("Address"))


# --- backend ----------------------------------------------------------------------------------


def describe_notifications_for_budget(self: BudgetsBackend, account_id: str,
                                      budget_name: str) -> list[JsonObject]:
    return [n.details for n in _budget(self, account_id, budget_name).notifications]


def delete_notification(self: BudgetsBackend, account_id: str, budget_name: str,
                        notification: JsonObject) -> None:
    budget = _budget(self, account_id, budget_name)
    budget.notifications.remove(_notification(budget, notification))


def describe_subscribers(self: BudgetsBackend, account_id: str, budget_name: str,
                         notification: JsonObject) -> list[JsonObject]:
    return _subscribers(_notification(_budget(self, account_id, budget_name), notification))


def create_subscriber(self: BudgetsBackend, account_id: str, budget_name: str,
                      notification: JsonObject, subscriber: JsonObject) -> None:
    found = _notification(_budget(self, account_id, budget_name), notification)
    subscribers = _subscribers(found)
    if any(_subscriber_key(s) == _subscriber_key(subscriber) for s in subscribers):
        raise DuplicateRecordException("subscriber", str(subscriber.get("Address")))
    _set_subscribers(found, [*subscribers, subscriber])


def delete_subscriber(self: BudgetsBackend, account_id: str, budget_name: str,
                      notification: JsonObject, subscriber: JsonObject) -> None:
    found = _notification(_budget(self, account_id, budget_name), notification)
    subscribers = _subscribers(found)
    kept = [s for s in subscribers if _subscriber_key(s) != _subscriber_key(subscriber)]
    if len(kept) == len(subscribers):
        raise NotFoundException("Unable to find subscriber "
                                f"{subscriber.get('Address')} for the notification.")
    _set_subscribers(found, kept)


def update_subscriber(self: BudgetsBackend, account_id: str, budget_name: str,
                      notification: JsonObject, old: JsonObject, new: JsonObject) -> None:
    delete_subscriber(self, account_id, budget_name, notification, old)
    create_subscriber(self, account_id, budget_name, notification, new)


def update_notification(self: BudgetsBackend, account_id: str, budget_name: str,
                        old: JsonObject, new: JsonObject) -> None:
    budget = _budget(self, account_id, budget_name)
    found = _notification(budget, old)
    if _key(new) != _key(old) and any(_key(n.details) == _key(new)
                                      for n in budget.notifications):
        raise DuplicateRecordException("notification", budget_name)
    found.details = new


def update_budget(self: BudgetsBackend, account_id: str, new_budget: JsonObject) -> None:
    name = str(new_budget.get("BudgetName"))
    budget = self.budgets[account_id].get(name)
    if budget is None:
        raise NotFoundException(f"Unable to update budget: {name} - the budget doesn't exist.")
    replacement = Budget(new_budget, [])  # moto's defaults (time period) and limit check
    budget.budget = replacement.budget
    budget.budget["LastUpdatedTime"] = unix_time()


# --- responses --------------------------------------------------------------------------------


def _params(response: BudgetsResponse) -> JsonObject:
    body = response.body
    params: JsonObject = json.loads(body) if body else {}
    return params


def response_describe_notifications_for_budget(self: BudgetsResponse) -> str:
    params = _params(self)
    notifications = describe_notifications_for_budget(self.backend, params["AccountId"],
                                                       params["BudgetName"])
    return json.dumps({"Notifications": notifications})


def response_delete_notification(self: BudgetsResponse) -> str:
    params = _params(self)
    delete_notification(self.backend, params["AccountId"], params["BudgetName"],
                        params["Notification"])
    return "{}"


def response_describe_subscribers_for_notification(self: BudgetsResponse) -> str:
    params = _params(self)
    subscribers = describe_subscribers(self.backend, params["AccountId"], params["BudgetName"],
                                       params["Notification"])
    start = int(params.get("NextToken") or 0)
    size = int(params.get("MaxResults") or MAX_RESULTS)
    page: JsonObject = {"Subscribers": subscribers[start:start + size]}
    if start + size < len(subscribers):
        page["NextToken"] = str(start + size)
    return json.dumps(page)


def response_create_subscriber(self: BudgetsResponse) -> str:
    params = _params(self)
    create_subscriber(self.backend, params["AccountId"], params["BudgetName"],
                      params["Notification"], params["Subscriber"])
    return "{}"


def response_delete_subscriber(self: BudgetsResponse) -> str:
    params = _params(self)
    delete_subscriber(self.backend, params["AccountId"], params["BudgetName"],
                      params["Notification"], params["Subscriber"])
    return "{}"


def response_update_subscriber(self: BudgetsResponse) -> str:
    params = _params(self)
    update_subscriber(self.backend, params["AccountId"], params["BudgetName"],
                      params["Notification"], params["OldSubscriber"], params["NewSubscriber"])
    return "{}"


def response_update_notification(self: BudgetsResponse) -> str:
    params = _params(self)
    update_notification(self.backend, params["AccountId"], params["BudgetName"],
                        params["OldNotification"], params["NewNotification"])
    return "{}"


def response_update_budget(self: BudgetsResponse) -> str:
    params = _params(self)
    update_budget(self.backend, params["AccountId"], params["NewBudget"])
    return "{}"


RESPONSES: dict[str, Callable[[BudgetsResponse], str]] = {
    "describe_notifications_for_budget": response_describe_notifications_for_budget,
    "delete_notification": response_delete_notification,
    "describe_subscribers_for_notification": response_describe_subscribers_for_notification,
    "create_subscriber": response_create_subscriber,
    "delete_subscriber": response_delete_subscriber,
    "update_subscriber": response_update_subscriber,
    "update_notification": response_update_notification,
    "update_budget": response_update_budget,
}
