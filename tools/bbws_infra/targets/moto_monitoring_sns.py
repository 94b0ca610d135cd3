"""SNS deliveries on the sandbox: recorded, never sent, and refused where AWS refuses them
(bbws_infra.targets.moto_monitoring applies this).

- Every message a topic delivers to a subscription is recorded: topic, subscription, protocol,
  endpoint, subject, message, when, whether it was delivered and why not. moto itself would
  POST http/https deliveries to the real endpoint; the sandbox sends nothing anywhere (email,
  email-json, http, https and sms count as delivered once recorded). sqs and lambda
  subscriptions still reach moto's queues and functions.
- A service publishing for one of its resources (`publish_as_service`: alarm actions,
  EventBridge targets) is checked first against the topic's access policy and its KMS key's
  policy (moto_monitoring_policy); a refusal is recorded once, with delivered false and
  AWS's reason, and nothing reaches the subscriptions.
- An email or email-json subscription is pending confirmation, as on AWS until someone clicks
  the link (PendingConfirmation "true"; ListSubscriptions and ListSubscriptionsByTopic show its
  SubscriptionArn as "PendingConfirmation", GetSubscriptionAttributes takes the ARN Subscribe
  returned); the sandbox still records what it would have been sent. http and https
  subscriptions are confirmed at once (the sandbox stands in for an endpoint that confirms,
  which `endpoint_auto_confirms` declares).

`GET /moto-api/bbws/sns-deliveries?topic_arn=<arn>` answers the records of that topic (all
topics without the parameter) as a JSON list, oldest first; moto_monitoring_client reads it.
The records live in each SNS backend, so moto's reset forgets them with the topics.
"""

from __future__ import annotations

import json
from contextvars import ContextVar
from datetime import UTC
from urllib.parse import parse_qs, urlparse

from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.sns.models import SNSBackend, Subscription, Topic, sns_backends
from moto.sns.responses import SNSResponse

from bbws_infra.core.untyped import Json, JsonObject
from bbws_infra.targets import moto_monitoring_policy
from bbws_infra.targets.moto_monitoring_policy import Publisher

DELIVERIES_PATH = "/moto-api/bbws/sns-deliveries"
PENDING_PROTOCOLS = frozenset({"email", "email-json"})
RECORDED_ONLY = frozenset({"email", "email-json", "http", "https", "sms"})
_RECORDS = "bbws_sns_deliveries"
# The service principal publishing in this thread (moto's server answers requests in threads).
_publisher: ContextVar[str] = ContextVar("bbws_sns_publisher", default="")


def _now() -> str:
    return utcnow().replace(tzinfo=UTC).isoformat(timespec="milliseconds")


def records(backend: SNSBackend) -> list[JsonObject]:
    found: list[JsonObject] = backend.__dict__.setdefault(_RECORDS, [])
    return found


def _record(topic: Topic, subscription: Subscription | None, subject: str | None,
            message: str, reason: str = "", publisher: str = "") -> None:
    records(topic.sns_backend).append({
        "topic_arn": topic.arn,
        "subscription_arn": subscription.arn if subscription else "",
        "protocol": subscription.protocol if subscription else "",
        "endpoint": subscription.endpoint if subscription else "",
        "subject": subject or "",
        "message": message,
        "sent_at": _now(),
        "delivered": not reason,
        "reason": reason,
        "publisher": publisher,
    })


# --- subscriptions ----------------------------------------------------------------------------

_original_subscribe = SNSBackend.subscribe
_original_publish = Subscription.publish


def subscribe(self: SNSBackend, topic_arn: str, endpoint: str, protocol: str) -> Subscription:
    existing = self._find_subscription(topic_arn, endpoint, protocol)
    subscription = _original_subscribe(self, topic_arn, endpoint, protocol)
    if existing is not None:
        return subscription  # AWS answers the same subscription, in the state it is in
    if protocol in PENDING_PROTOCOLS:
        subscription.attributes["PendingConfirmation"] = True
        subscription.attributes["ConfirmationWasAuthenticated"] = False
    else:
        subscription.confirmed = True
    return subscription


def publish(self: Subscription, message: str, message_id: str, subject: str | None = None,
            message_attributes: JsonObject | None = None, group_id: str | None = None,
            deduplication_id: str | None = None, message_structure: str | None = None) -> None:
    """As moto's, but recorded, and nothing sent over the network."""
    matcher = self._filter_policy_matcher
    if matcher is not None and not matcher.matches(message_attributes, message):
        return
    delivered = (self._parse_message_structure(message, self.protocol)
                 if message_structure == "json" else message)
    _record(self.topic, self, subject, delivered, publisher=_publisher.get())
    if self.protocol not in RECORDED_ONLY:
        _original_publish(self, message, message_id, subject, message_attributes, group_id,
                          deduplication_id, message_structure)


def pending(subscription: Subscription) -> bool:
    return bool(subscription.attributes.get("PendingConfirmation"))


def _as_listed(result: ActionResult) -> ActionResult:
    """A listing as AWS shows it: a pending subscription's ARN is "PendingConfirmation"."""
    listed: JsonObject = dict(result.result)  # type: ignore[call-overload]
    listed["Subscriptions"] = [
        {"SubscriptionArn": "PendingConfirmation" if pending(s) else s.arn, "Owner": s.owner,
         "Protocol": s.protocol, "Endpoint": s.endpoint, "TopicArn": s.topic_arn}
        for s in listed["Subscriptions"]]
    return ActionResult(listed)


_original_list_subscriptions = SNSResponse.list_subscriptions
_original_list_by_topic = SNSResponse.list_subscriptions_by_topic


def list_subscriptions(self: SNSResponse) -> ActionResult:
    return _as_listed(_original_list_subscriptions(self))


def list_subscriptions_by_topic(self: SNSResponse) -> ActionResult:
    return _as_listed(_original_list_by_topic(self))


# --- services publishing ----------------------------------------------------------------------


def publish_as_service(publisher: Publisher, topic_arn: str, message: str,
                       subject: str | None) -> str | None:
    """Deliver `message` from an AWS service to the topic as AWS would: None when published,
    else the reason it was refused (also recorded)."""
    try:
        account, region = topic_arn.split(":")[4], topic_arn.split(":")[3]
        backend: SNSBackend = sns_backends[account][region]
        topic = backend.topics[topic_arn]
    except (IndexError, KeyError):
        return f"Topic {topic_arn} does not exist."
    reason = (moto_monitoring_policy.topic_refusal(topic.policy, topic_arn, publisher)
              or moto_monitoring_policy.key_refusal(topic.kms_master_key_id, account, region,
                                                    publisher))
    if reason:
        _record(topic, None, subject, message, reason, publisher.service)
        return reason
    token = _publisher.set(publisher.service)
    try:
        topic.publish(message, subject=subject)
    finally:
        _publisher.reset(token)
    return None


# --- the read-only endpoint -------------------------------------------------------------------


def deliveries(topic_arn: str | None) -> list[JsonObject]:
    """Every recorded delivery (of one topic), oldest first."""
    found: list[JsonObject] = []
    for account in list(sns_backends.keys()):
        for backend in sns_backends[account].values():
            found += [r for r in records(backend)
                      if topic_arn is None or r["topic_arn"] == topic_arn]
    return sorted(found, key=lambda r: str(r["sent_at"]))


def deliveries_response(request: Json, full_url: str, headers: Json
                        ) -> tuple[int, dict[str, str], str]:
    query = parse_qs(urlparse(full_url).query)
    topic_arn = query.get("topic_arn", [None])[0]
    body = json.dumps(deliveries(topic_arn))
    return 200, {"Content-Type": "application/json"}, body
