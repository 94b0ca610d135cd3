"""Whether an AWS service may publish to an SNS topic, as AWS decides it when the service
delivers (a CloudWatch alarm action, an EventBridge target, a Budgets notification): the topic's
access policy must allow the service principal sns:Publish, and a topic encrypted with a KMS key
needs a key policy that lets the service use the key (kms:GenerateDataKey* and kms:Decrypt).
AWS checks neither when the alarm, rule or budget is created; a delivery that fails is only
seen in the alarm's history (or not at all), so the sandbox refuses it the same way.

A statement applies to a service when its principal is "*", {"AWS": "*"} or names the service
principal; its conditions are evaluated (moto_s3_policy's operators) against the keys AWS sets
when a service acts for a resource: aws:SourceAccount and aws:SourceArn, and for CloudWatch
aws:SourceOwner as well (the default topic policy, which admits the account's CloudWatch alarms
on AWS but not EventBridge or Budgets, allows AWS:SourceOwner = the account).

The AWS-managed key alias/aws/sns grants no service principal, so a topic encrypted with it
takes no deliveries from these services, as on AWS.
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass

from moto.kms.models import kms_backends

from bbws_infra.core.untyped import Json, JsonObject
from bbws_infra.targets import moto_s3_policy

SERVICE_NAMES = {  # the name AWS uses for the service in its delivery errors
    "cloudwatch.amazonaws.com": "CloudWatch Alarms",
    "events.amazonaws.com": "Amazon EventBridge",
    "budgets.amazonaws.com": "AWS Budgets",
}
KEY_ACTIONS = ("kms:GenerateDataKey", "kms:Decrypt")
MANAGED_ALIAS_PREFIX = "alias/aws/"


@dataclass(frozen=True)
class Publisher:
    """A service publishing for one of its resources (an alarm, a rule, a budget)."""

    service: str  # e.g. cloudwatch.amazonaws.com
    account: str
    source_arn: str

    @property
    def name(self) -> str:
        return SERVICE_NAMES.get(self.service, self.service)

    def context(self) -> dict[str, list[str]]:
        ctx = {"aws:sourceaccount": [self.account], "aws:sourcearn": [self.source_arn]}
        if self.service == "cloudwatch.amazonaws.com":
            ctx["aws:sourceowner"] = [self.account]
        return ctx


def _listed(value: Json) -> list[Json]:
    return value if isinstance(value, list) else [value]


def _statements(document: str | JsonObject | None) -> list[JsonObject]:
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except ValueError:
            return []
    if not isinstance(document, dict):
        return []
    return [s for s in _listed(document.get("Statement", [])) if isinstance(s, dict)]


def _principal_applies(statement: JsonObject, service: str) -> bool:
    principal = statement.get("Principal")
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    return "*" in _listed(principal.get("AWS", [])) or service in _listed(
        principal.get("Service", []))


def _matches(statement: JsonObject, element: str, value: str, ignore_case: bool) -> bool:
    def glob(pattern: Json) -> bool:
        text, wanted = str(pattern), value
        if ignore_case:
            text, wanted = text.lower(), wanted.lower()
        return fnmatch.fnmatchcase(wanted, text.replace("[", "[[]"))

    if element in statement:
        return any(glob(p) for p in _listed(statement[element]))
    if f"Not{element}" in statement:
        return not any(glob(p) for p in _listed(statement[f"Not{element}"]))
    return element == "Resource"  # a key policy's statements may leave it out


def decision(document: str | JsonObject | None, publisher: Publisher, action: str,
             resource: str) -> str | None:
    """ALLOW, DENY or None (nothing applies) for the service's request."""
    ctx = publisher.context()
    effects = {str(s.get("Effect")) for s in _statements(document)
               if _principal_applies(s, publisher.service)
               and _matches(s, "Action", action, ignore_case=True)
               and _matches(s, "Resource", resource, ignore_case=False)
               and moto_s3_policy.conditions_met(s.get("Condition") or {}, ctx)}
    return moto_s3_policy.DENY if moto_s3_policy.DENY in effects else (
        moto_s3_policy.ALLOW if moto_s3_policy.ALLOW in effects else None)


def topic_refusal(policy: str | JsonObject | None, topic_arn: str,
                  publisher: Publisher) -> str | None:
    """Why the topic's access policy stops the service publishing, or None."""
    if decision(policy, publisher, "sns:Publish", topic_arn) == moto_s3_policy.ALLOW:
        return None
    return f"{publisher.name} is not authorized to perform: SNS:Publish on resource:{topic_arn}"


def key_refusal(key_reference: str, account: str, region: str,
                publisher: Publisher) -> str | None:
    """Why the service may not use the topic's KMS key, or None (also None for a topic that
    is not encrypted)."""
    if not key_reference:
        return None
    denied = (f"{publisher.name} does not have authorization to access the SNS topic "
              "encryption key.")
    backend = kms_backends[account][region]
    alias = backend.get_alias_name(key_reference)
    if alias.startswith(MANAGED_ALIAS_PREFIX):
        return denied + f" ({alias} is an AWS managed key: its policy grants no service.)"
    try:
        key = backend.keys[backend.any_id_to_key_id(key_reference)]
    except (KeyError, TypeError, AttributeError):
        return f"The SNS topic encryption key {key_reference} does not exist."
    if not key.enabled or key.key_state != "Enabled":
        return f"The SNS topic encryption key {key.arn} is {key.key_state}."
    for action in KEY_ACTIONS:
        if decision(key.policy, publisher, action, key.arn) != moto_s3_policy.ALLOW:
            return denied
    return None
