"""Building blocks of IAM policy documents: ARNs in an environment's partition and account, and
statements whose actions and resources are sorted and deduplicated (the same inputs always give
the same document)."""

from __future__ import annotations

import json
import re

from bbws_infra.core.errors import UserError
from bbws_infra.core.registry import Environment
from bbws_infra.core.untyped import JsonObject

POLICY_VERSION = "2012-10-17"
# IAM's limit for a customer managed policy (white space not counted).
MANAGED_POLICY_MAX_CHARS = 6144


def partition(env: Environment) -> str:
    if env.region.startswith("cn-"):
        return "aws-cn"
    return "aws-us-gov" if env.region.startswith("us-gov-") else "aws"


def arn(env: Environment, service: str, resource: str, region: str | None = None) -> str:
    return (f"arn:{partition(env)}:{service}:{region or env.region}:{env.account_id}:"
            f"{resource}")


def dynamodb_arn(env: Environment, resource: str) -> str:
    return arn(env, "dynamodb", resource)


def iam_arn(env: Environment, resource: str) -> str:
    return f"arn:{partition(env)}:iam::{env.account_id}:{resource}"


def s3_arn(env: Environment, bucket: str) -> str:
    return f"arn:{partition(env)}:s3:::{bucket}"


def sid_part(name: str) -> str:
    """dev-plan -> DevPlan (IAM Sids are alphanumeric)."""
    return "".join(part.capitalize() for part in name.split("-"))


def statement(sid: str, actions: list[str], resources: list[str], *,
               condition: JsonObject | None = None,
               principal: JsonObject | None = None,
               effect: str = "Allow") -> JsonObject:
    """One statement; actions and resources sorted and deduplicated, so the same inputs
    always give the same document."""
    statement: JsonObject = {"Sid": sid, "Effect": effect}
    if principal is not None:
        statement["Principal"] = principal
    statement["Action"] = sorted(set(actions))
    statement["Resource"] = sorted(set(resources))
    if condition is not None:
        statement["Condition"] = condition
    return statement


def fitting(document: JsonObject, what: str) -> JsonObject:
    size = policy_size(document)
    if size > MANAGED_POLICY_MAX_CHARS:
        # Refused here rather than by IAM halfway through a workflow run.
        raise UserError(f"{what} has {size} characters, more than the "
                        f"{MANAGED_POLICY_MAX_CHARS} IAM allows in a managed policy; split its "
                        "statements into two policies.")
    return document


def policy_size(document: JsonObject) -> int:
    """A policy's size as IAM counts it against its limits: the JSON without white space."""
    return len(re.sub(r"\s", "", json.dumps(document)))
