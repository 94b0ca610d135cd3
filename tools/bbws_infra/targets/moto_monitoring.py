"""Monitoring on the sandbox as on AWS: what provider 3.39 calls for an alerts topic, its
subscriptions, CloudWatch alarms and dashboards, an EventBridge rule to the topic and a budget,
and the deliveries AWS makes (or refuses) once something fires. Each part's module says what it
changes in moto 5.2:

- moto_monitoring_budgets: the AWS Budgets operations moto lacks
  (DescribeSubscribersForNotification, which every read of `aws_budgets_budget` calls; the
  subscriber operations, UpdateBudget, UpdateNotification) and AWS's errors;
- moto_monitoring_sns: every SNS delivery recorded and none sent over the network, email
  subscriptions pending confirmation, services' publishes checked against the topic's and the
  key's policies (moto_monitoring_policy), the records served at
  `GET /moto-api/bbws/sns-deliveries` (moto_monitoring_client reads them);
- moto_monitoring_budget_alerts: a budget's notifications fire once a test says what AWS
  Budgets measured (`POST /moto-api/bbws/budget-spend`), to SNS as budgets.amazonaws.com;
- moto_monitoring_alarms: SetAlarmState runs the new state's SNS actions with CloudWatch's
  message, DescribeAlarmHistory (moto lacks it) shows every outcome;
- moto_monitoring_events: EventBridge rules deliver to SNS targets, input transformers applied.

Only the sandbox server (bbws_infra.targets.sandbox_server) and the tests import this module.
The unit tests apply it in their own process, so `restore()` (or `applied()`) undoes it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from moto.budgets.models import BudgetsBackend
from moto.budgets.responses import BudgetsResponse
from moto.cloudwatch.models import CloudWatchBackend
from moto.cloudwatch.responses import CloudWatchResponse
from moto.events.models import Rule
from moto.moto_api._internal import urls as moto_api_urls
from moto.sns.models import SNSBackend, Subscription
from moto.sns.responses import SNSResponse

from bbws_infra.targets import (
    moto_monitoring_alarms,
    moto_monitoring_budget_alerts,
    moto_monitoring_budgets,
    moto_monitoring_events,
    moto_monitoring_sns,
)

_MISSING = object()
_ROUTES = {"{0}" + moto_monitoring_sns.DELIVERIES_PATH: moto_monitoring_sns.deliveries_response,
           "{0}" + moto_monitoring_budget_alerts.SPEND_PATH:
               moto_monitoring_budget_alerts.spend_response}

# (class, attribute, replacement); apply() keeps what each replaced for restore()
_PATCHES: list[tuple[type, str, object]] = [
    *((BudgetsResponse, name, function)
      for name, function in moto_monitoring_budgets.RESPONSES.items()),
    (BudgetsBackend, "describe_notifications_for_budget",
     moto_monitoring_budgets.describe_notifications_for_budget),
    (BudgetsBackend, "delete_notification", moto_monitoring_budgets.delete_notification),
    (SNSBackend, "subscribe", moto_monitoring_sns.subscribe),
    (Subscription, "publish", moto_monitoring_sns.publish),
    (SNSResponse, "list_subscriptions", moto_monitoring_sns.list_subscriptions),
    (SNSResponse, "list_subscriptions_by_topic", moto_monitoring_sns.list_subscriptions_by_topic),
    (CloudWatchBackend, "put_metric_alarm", moto_monitoring_alarms.put_metric_alarm),
    (CloudWatchBackend, "set_alarm_state", moto_monitoring_alarms.set_alarm_state),
    (CloudWatchResponse, "describe_alarm_history",
     moto_monitoring_alarms.response_describe_alarm_history),
    (Rule, "send_to_targets", moto_monitoring_events.send_to_targets),
]
_originals: dict[tuple[type, str], object] = {}


def apply() -> None:
    """Patch moto's classes and add the deliveries route (idempotent; this process only)."""
    for cls, name, replacement in _PATCHES:
        _originals.setdefault((cls, name), cls.__dict__.get(name, _MISSING))
        setattr(cls, name, replacement)
    moto_api_urls.url_paths.update(_ROUTES)


def is_applied() -> bool:
    return SNSBackend.subscribe is moto_monitoring_sns.subscribe


def restore() -> None:
    """Put moto back as it was before apply()."""
    for (cls, name), original in _originals.items():
        if original is _MISSING:
            with contextlib.suppress(AttributeError):
                delattr(cls, name)
        else:
            setattr(cls, name, original)
    _originals.clear()
    for route in _ROUTES:
        moto_api_urls.url_paths.pop(route, None)


@contextlib.contextmanager
def applied() -> Iterator[None]:
    """The extension applied for a block (unit tests share their process)."""
    apply()
    try:
        yield
    finally:
        restore()
