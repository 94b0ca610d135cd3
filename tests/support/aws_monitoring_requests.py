"""What IAM authorises for a request to the services the monitoring component uses: SNS,
CloudWatch, EventBridge, Budgets and KMS (AWS's "Actions, resources, and condition keys" of
each). tests/support/aws_requests.py hands each recorded request here with its parameters
already read from its protocol (query form, JSON or CBOR); the answer is every (operation,
request) it needs: its own action on its resource (one per alarm or dashboard it names), and
what it also authorises (tags given at creation, both sides of a KMS alias).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.support.iam_evaluation import Request

# Budgets' API operations are authorised by two IAM actions (and tag actions of their own).
_BUDGET_READS = {"DescribeBudget", "DescribeBudgets", "DescribeNotificationsForBudget",
                 "DescribeSubscribersForNotification", "DescribeBudgetPerformanceHistory"}
_BUDGET_WRITES = {"CreateBudget", "UpdateBudget", "DeleteBudget", "CreateNotification",
                  "UpdateNotification", "DeleteNotification", "CreateSubscriber",
                  "UpdateSubscriber", "DeleteSubscriber"}
# KMS operations that name an alias: authorised on the alias and on the key it points to
# (UpdateAlias: on the key it pointed to and on the new one).
_ALIAS_OPERATIONS = {"CreateAlias", "UpdateAlias", "DeleteAlias"}
# KMS operations whose KeyId only filters a listing, or that name no key.
_KMS_UNSCOPED = {"CreateKey", "ListAliases", "ListKeys", "GenerateRandom"}


@dataclass
class KmsKeys:
    """What the recorded requests so far said about KMS keys (a later flow names a key an
    earlier one created): which key each alias points to, and each key's policy, which KMS
    evaluates beside the caller's IAM policies (a key whose policy does not delegate to the
    account allows no IAM policy anything). A new key's id is not in its CreateKey request;
    the next request in that account naming a key not seen before names it."""

    aliases: dict[str, str] = field(default_factory=dict)  # alias ARN -> key ARN
    policies: dict[str, Any] = field(default_factory=dict)  # key ARN -> its key policy
    created: dict[str, Any] = field(default_factory=dict)  # account -> new key's policy

    def resolve(self, key_arn: str) -> str:
        if ":alias/" not in key_arn:
            return key_arn
        if key_arn not in self.aliases:
            raise ValueError(f"a KMS alias no recorded request created: {key_arn}")
        return self.aliases[key_arn]

    def policy(self, key_arn: str) -> Any:
        """The key policy a request on key_arn is evaluated against (None: not known)."""
        account = key_arn.split(":")[4]
        if key_arn.endswith(":key/*"):  # CreateKey's tags: the key it creates
            return self.created.get(account)
        if key_arn not in self.policies and account in self.created:
            self.policies[key_arn] = self.created.pop(account)
        return self.policies.get(key_arn)


def default_key_policy(account: str) -> dict[str, Any]:
    """The policy KMS gives a key created without one: the account's IAM policies decide."""
    return {"Version": "2012-10-17", "Statement": [{
        "Sid": "Enable IAM User Permissions", "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "kms:*",
        "Resource": "*"}]}


@dataclass(frozen=True)
class Place:
    """Where a request is made: the account and region its ARNs name."""

    account: str
    region: str

    def arn(self, service: str, resource: str, *, regional: bool = True) -> str:
        return f"arn:aws:{service}:{self.region if regional else ''}:{self.account}:{resource}"


# (operation, request, the resource's policy IAM evaluates it against too: a KMS key's)
Found = list[tuple[str, Request, Any]]


def members(params: Mapping[str, Any], name: str) -> list[Any]:
    """A list parameter as JSON and CBOR send it, or as the query protocol spells it
    (`Name.member.1`, `Name.member.2`, ...)."""
    if isinstance(params.get(name), list):
        return list(params[name])
    numbered = [(int(m.group(1)), v) for k, v in params.items()
                if (m := re.fullmatch(rf"{re.escape(name)}\.member\.(\d+)", k))]
    return [v for _, v in sorted(numbered)]


def _tagged(params: Mapping[str, Any]) -> bool:
    return bool(params.get("Tags")) or any(k.startswith("Tags.member.") for k in params)


def sns(place: Place, operation: str, params: Mapping[str, Any]) -> Found:
    """Topic operations on the topic; a subscription's on its topic (its ARN is the topic's
    and an id); tags given to CreateTopic need sns:TagResource too."""
    if "TopicArn" in params:
        resource = params["TopicArn"]
    elif "SubscriptionArn" in params:
        resource = str(params["SubscriptionArn"]).rsplit(":", 1)[0]
    elif "ResourceArn" in params:
        resource = params["ResourceArn"]
    elif operation == "CreateTopic":
        resource = place.arn("sns", params["Name"])
    else:  # ListTopics, ListSubscriptions and the like
        resource = "*"
    found: Found = [(operation, Request(f"sns:{operation}", resource), None)]
    if operation == "CreateTopic" and _tagged(params):
        found.append((f"{operation} (implies sns:TagResource)",
                      Request("sns:TagResource", resource), None))
    return found


def cloudwatch(place: Place, operation: str, params: Mapping[str, Any]) -> Found:
    """Alarms by their ARNs (one request per alarm named), a listing by prefix on the names it
    can return; dashboards are global (no region in their ARN); tags given to PutMetricAlarm
    need cloudwatch:TagResource too."""
    action = f"cloudwatch:{operation}"
    alarm = lambda name: place.arn("cloudwatch", f"alarm:{name}")  # noqa: E731
    dashboard = lambda name: place.arn("cloudwatch", f"dashboard/{name}",  # noqa: E731
                                       regional=False)
    if "ResourceARN" in params:
        resources = [params["ResourceARN"]]
    elif "AlarmName" in params:
        resources = [alarm(params["AlarmName"])]
    elif members(params, "AlarmNames"):
        resources = [alarm(n) for n in members(params, "AlarmNames")]
    elif operation == "DescribeAlarms":
        resources = [alarm(f"{params.get('AlarmNamePrefix', '')}*")]
    elif "DashboardName" in params:
        resources = [dashboard(params["DashboardName"])]
    elif members(params, "DashboardNames"):
        resources = [dashboard(n) for n in members(params, "DashboardNames")]
    else:  # metrics, ListDashboards: no resource IAM can name
        resources = ["*"]
    found: Found = [(operation, Request(action, r), None) for r in resources]
    if operation == "PutMetricAlarm" and _tagged(params):
        found += [(f"{operation} (implies cloudwatch:TagResource)",
                   Request("cloudwatch:TagResource", r), None) for r in resources]
    return found


def events(place: Place, operation: str, params: Mapping[str, Any]) -> Found:
    """A rule on the default bus is rule/<name>, on another bus rule/<bus>/<name>; a target
    that assumes a role hands it to EventBridge (iam:PassRole)."""
    name = params.get("Rule") or params.get("Name")  # targets name their rule "Rule"
    bus = str(params.get("EventBusName") or "default").rsplit("/", 1)[-1]
    if "ResourceARN" in params:
        resource = params["ResourceARN"]
    elif name:
        resource = place.arn("events", f"rule/{name}" if bus == "default"
                             else f"rule/{bus}/{name}")
    else:
        resource = "*"
    found: Found = [(operation, Request(f"events:{operation}", resource), None)]
    for target in params.get("Targets") or [] if operation == "PutTargets" else []:
        if target.get("RoleArn"):
            found.append((f"{operation} (implies iam:PassRole)", Request(
                "iam:PassRole", target["RoleArn"],
                {"iam:PassedToService": "events.amazonaws.com"}), None))
    return found


def budgets(operation: str, params: Mapping[str, Any]) -> Found:
    """budgets:ViewBudget and budgets:ModifyBudget on the budget's (global) ARN; a listing of
    every budget on all of the account's budgets."""
    account = params.get("AccountId", "")
    if "ResourceARN" in params:
        resource = params["ResourceARN"]
    else:
        name = (params.get("BudgetName") or (params.get("Budget") or {}).get("BudgetName")
                or (params.get("NewBudget") or {}).get("BudgetName") or "*")
        resource = f"arn:aws:budgets::{account}:budget/{name}"
    action = ("ViewBudget" if operation in _BUDGET_READS else
              "ModifyBudget" if operation in _BUDGET_WRITES else operation)
    return [(operation, Request(f"budgets:{action}", resource), None)]


def kms(place: Place, operation: str, params: Mapping[str, Any], keys: KmsKeys) -> Found:
    """A key operation on the key's ARN (KeyId may be its id, ARN, alias name or alias ARN);
    an alias operation on the alias and its key, both; CreateKey on "*", and its tags need
    kms:TagResource on every key of the account and region (KMS's documented minimum)."""

    def key(key_id: str) -> str:
        if key_id.startswith("arn:"):
            return keys.resolve(key_id)
        if key_id.startswith("alias/"):
            return keys.resolve(place.arn("kms", key_id))
        return place.arn("kms", f"key/{key_id}")

    action = f"kms:{operation}"
    if operation in _ALIAS_OPERATIONS:
        alias = place.arn("kms", params["AliasName"])
        named = []
        if operation != "CreateAlias":  # the key it points to now
            named.append(keys.resolve(alias))
        if "TargetKeyId" in params:
            named.append(key(params["TargetKeyId"]))
        found = [(operation, Request(action, alias), None)]
        found += [(operation, Request(action, r), keys.policy(r)) for r in named]
        if "TargetKeyId" in params:
            keys.aliases[alias] = named[-1]
        else:
            keys.aliases.pop(alias, None)
        return found
    if operation == "CreateKey":
        keys.created[place.account] = (json.loads(params["Policy"]) if params.get("Policy")
                                       else default_key_policy(place.account))
        found = [(operation, Request(action, "*"), None)]
        if params.get("Tags"):
            every_key = place.arn("kms", "key/*")
            found.append((f"{operation} (implies kms:TagResource)",
                          Request("kms:TagResource", every_key), keys.policy(every_key)))
        return found
    resource = "*" if operation in _KMS_UNSCOPED or "KeyId" not in params \
        else key(params["KeyId"])
    found = [(operation, Request(action, resource),
              keys.policy(resource) if ":key/" in resource else None)]
    if operation == "PutKeyPolicy":  # later requests are evaluated against the new policy
        keys.policies[resource] = json.loads(params["Policy"])
    return found
