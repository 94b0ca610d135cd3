"""The sandbox's monitoring endpoints, for tests and commands that check an alert reached its
subscribers, or was refused and why (only the sandbox answers them):

    sns_deliveries("http://127.0.0.1:21974", topic_arn)

what a running sandbox recorded of its SNS deliveries (bbws_infra.targets.moto_monitoring_sns
records them; nothing is sent to email addresses or web hooks), and

    set_budget_spend(endpoint, account_id, "bbws-dev-monthly", actual="85", forecasted="120")

what AWS Budgets would have measured, so the budget's notifications fire as on AWS
(bbws_infra.targets.moto_monitoring_budget_alerts; the answer lists each notification that
fired and what became of each subscriber).

Each record: topic_arn, subscription_arn, protocol, endpoint, subject, message, sent_at
(ISO 8601, UTC), delivered, reason (why AWS would refuse it; "" when delivered), publisher
(the service principal that published, "" for a Publish call). A refused delivery has no
subscription: the topic took nothing.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlencode

from bbws_infra.core.errors import OperationError
from bbws_infra.core.untyped import JsonObject

PATH = "/moto-api/bbws/sns-deliveries"
SPEND_PATH = "/moto-api/bbws/budget-spend"
TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Delivery:
    topic_arn: str
    subscription_arn: str
    protocol: str
    endpoint: str
    subject: str
    message: str
    sent_at: str
    delivered: bool
    reason: str
    publisher: str


def sns_deliveries(endpoint: str, topic_arn: str | None = None) -> list[Delivery]:
    """The deliveries the sandbox at `endpoint` recorded (to one topic), oldest first."""
    query = f"?{urlencode({'topic_arn': topic_arn})}" if topic_arn else ""
    url = endpoint.rstrip("/") + PATH + query
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            records = json.loads(response.read())
    except (OSError, ValueError) as error:
        raise OperationError(f"The sandbox at {endpoint} did not answer its SNS deliveries "
                             f"({error}); is it running with the monitoring extension?"
                             ) from None
    return [Delivery(**{name: record.get(name) for name in Delivery.__dataclass_fields__})
            for record in records]


def set_budget_spend(endpoint: str, account_id: str, budget_name: str, actual: str,
                     forecasted: str) -> list[JsonObject]:
    """Tell the sandbox what AWS Budgets measured for a budget; the notifications that newly
    hold fire. Returns them: [{notification, subject, subscribers: [{address, delivered,
    reason}]}]."""
    body = json.dumps({"account_id": account_id, "budget_name": budget_name,
                       "actual": actual, "forecasted": forecasted}).encode()
    request = urllib.request.Request(endpoint.rstrip("/") + SPEND_PATH, data=body,
                                     method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            answer = json.loads(response.read())
    except urllib.error.HTTPError as error:
        reason = json.loads(error.read() or b"{}").get("error", error.reason)
        raise OperationError(f"The sandbox refused the budget spend: {reason}.") from None
    except (OSError, ValueError) as error:
        raise OperationError(f"The sandbox at {endpoint} did not take the budget spend "
                             f"({error}); is it running with the monitoring extension?"
                             ) from None
    fired: list[JsonObject] = answer["fired"]
    return fired
