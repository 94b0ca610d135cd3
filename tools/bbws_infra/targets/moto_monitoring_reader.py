"""What a running sandbox recorded of its SNS deliveries (bbws_infra.targets.moto_monitoring_sns
records them; nothing is sent to email addresses or web hooks): for tests and commands that
check an alert reached its subscribers, or was refused and why.

    sns_deliveries("http://127.0.0.1:21974", topic_arn)

Each record: topic_arn, subscription_arn, protocol, endpoint, subject, message, sent_at
(ISO 8601, UTC), delivered, reason (why AWS would refuse it; "" when delivered), publisher
(the service principal that published, "" for a Publish call). A refused delivery has no
subscription: the topic took nothing.
"""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlencode

from bbws_infra.core.errors import OperationError

PATH = "/moto-api/bbws/sns-deliveries"
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
