"""Bucket policies as AWS reads them, for the sandbox (bbws_infra.targets.moto_s3_rules wires
these into moto's S3).

moto 5.2 accepts any principal in PutBucketPolicy and evaluates a bucket policy without its
conditions: an operator it does not know (Bool among them) counts as met, a condition that is
not met makes even an Allow statement deny, and actions match case-sensitively. So the
TLS-only statement modules/bucket_policy writes (Deny s3:* when aws:SecureTransport is false)
would deny every sandbox request. This module supplies:

- `invalid_principals`: the AWS principals PutBucketPolicy refuses with MalformedPolicy
  "Invalid principal in policy" (a role or user that does not exist, an unknown account);
- `decision`: Allow, Deny or neither for one request, with IAM's matching rules (actions
  case-insensitive, resources case-sensitive, `*` and `?` wildcards, NotAction/NotResource)
  and the condition operators the project's policies use, against the request's context.

The sandbox's only context key is aws:SecureTransport. Its endpoint stands in for AWS's HTTPS
endpoint, so a request counts as secure unless it carries the header INSECURE_HEADER (which
only the sandbox reads): that is how a test sends a "plain HTTP" request. Every other key is
absent, as on AWS for a caller's direct request (aws:SourceArn, aws:SourceAccount are set only
when a service acts for a resource). A statement applies to a sandbox caller when its principal
is everyone or names AWS principals (the sandbox does not tell its callers apart); statements
for service principals only never apply, since no AWS service sends the sandbox requests.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Mapping

from bbws_infra.core.untyped import Json, JsonObject

INSECURE_HEADER = "x-bbws-sandbox-insecure-transport"
SECURE_TRANSPORT = "aws:securetransport"
ALLOW, DENY = "Allow", "Deny"

Context = Mapping[str, list[str]]
_ACCOUNT = re.compile(r"^\d{12}$")
_IAM_ARN = re.compile(r"^arn:aws[\w-]*:iam::(?P<account>\d{12}):(?P<kind>root|role|user)"
                      r"(?:/(?:.*/)?(?P<name>[^/]+))?$")


def context(secure: bool) -> dict[str, list[str]]:
    """The condition context of a sandbox request (keys lower-case, as IAM compares them)."""
    return {SECURE_TRANSPORT: ["true" if secure else "false"]}


def _listed(value: Json) -> list[Json]:
    return value if isinstance(value, list) else [value]


def _statements(policy: JsonObject) -> list[JsonObject]:
    return [s for s in _listed(policy.get("Statement", [])) if isinstance(s, dict)]


# --- PutBucketPolicy: principals ------------------------------------------------------------

def invalid_principals(policy: JsonObject, account_known: Callable[[str], bool],
                       principal_exists: Callable[[str, str, str], bool]) -> list[str]:
    """The AWS principals of `policy` that AWS would refuse: an account that does not exist,
    or an IAM role/user ARN with no such role/user. `*`, service, federated and canonical-user
    principals are never refused here. principal_exists(account, 'role'|'user', name)."""
    refused = []
    for statement in _statements(policy):
        for element in ("Principal", "NotPrincipal"):
            principal = statement.get(element)
            if not isinstance(principal, dict):
                continue
            for value in _listed(principal.get("AWS", [])):
                if not _principal_ok(str(value), account_known, principal_exists):
                    refused.append(str(value))
    return refused


def _principal_ok(value: str, account_known: Callable[[str], bool],
                  principal_exists: Callable[[str, str, str], bool]) -> bool:
    if value == "*":
        return True
    if _ACCOUNT.match(value):
        return account_known(value)
    arn = _IAM_ARN.match(value)
    if not arn:
        return True  # other ARNs (assumed roles, CloudFront identities): not modelled
    account, kind, name = arn.group("account"), arn.group("kind"), arn.group("name")
    if not account_known(account):
        return False
    return kind == "root" or (name is not None and principal_exists(account, kind, name))


# --- Evaluation -----------------------------------------------------------------------------

def decision(policy: JsonObject, action: str, resource: str, ctx: Context) -> str | None:
    """DENY if an applicable Deny statement matches, else ALLOW if an Allow does, else None."""
    effects = {str(s.get("Effect")) for s in _statements(policy)
               if _applies(s, action, resource, ctx)}
    return DENY if DENY in effects else ALLOW if ALLOW in effects else None


def _applies(statement: JsonObject, action: str, resource: str, ctx: Context) -> bool:
    return (_principal_applies(statement)
            and _element_matches(statement, "Action", action, ignore_case=True)
            and _element_matches(statement, "Resource", resource, ignore_case=False)
            and conditions_met(statement.get("Condition") or {}, ctx))


def _principal_applies(statement: JsonObject) -> bool:
    if "NotPrincipal" in statement:
        return True  # everyone but the named: the sandbox's caller is not told apart
    principal = statement.get("Principal")
    if principal == "*":
        return True
    return isinstance(principal, dict) and bool(_listed(principal.get("AWS", [])))


def _element_matches(statement: JsonObject, element: str, value: str, ignore_case: bool) -> bool:
    if element in statement:
        return any(_glob(str(p), value, ignore_case) for p in _listed(statement[element]))
    negated = f"Not{element}"
    if negated in statement:
        return not any(_glob(str(p), value, ignore_case) for p in _listed(statement[negated]))
    return element == "Resource"  # no Resource element: not a bucket policy's case


def _glob(pattern: str, value: str, ignore_case: bool) -> bool:
    if ignore_case:
        pattern, value = pattern.lower(), value.lower()
    return fnmatch.fnmatchcase(value, pattern.replace("[", "[[]"))


def conditions_met(conditions: JsonObject, ctx: Context) -> bool:
    """Every operator block true: keys compared case-insensitively, values by the operator; a
    key absent from the context fails every operator except ...IfExists, the negated string
    and ARN operators, and Null ("true")."""
    for operator, block in conditions.items():
        if not isinstance(block, dict):
            return False
        for key, expected in block.items():
            present = ctx.get(str(key).lower())
            if not _operator_true(str(operator), [str(e) for e in _listed(expected)], present):
                return False
    return True


def _operator_true(operator: str, expected: list[str], present: list[str] | None) -> bool:
    name = operator.split(":")[-1]
    if_exists = name.endswith("IfExists")
    name = name.removesuffix("IfExists")
    if name == "Null":
        return (present is None) == (expected[0].lower() == "true")
    negated = "Not" in name
    if present is None:
        return if_exists or negated
    matches = _COMPARE.get(name.replace("Not", ""))
    if matches is None:
        return False  # an operator the sandbox does not know never holds
    hit = any(matches(e, v) for e in expected for v in present)
    return not hit if negated else hit


_COMPARE: dict[str, Callable[[str, str], bool]] = {
    "Bool": lambda e, v: e.lower() == v.lower(),
    "StringEquals": lambda e, v: e == v,
    "StringEqualsIgnoreCase": lambda e, v: e.lower() == v.lower(),
    "StringLike": lambda e, v: _glob(e, v, ignore_case=False),
    "ArnEquals": lambda e, v: _glob(e, v, ignore_case=False),
    "ArnLike": lambda e, v: _glob(e, v, ignore_case=False),
}
