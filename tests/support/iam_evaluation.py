"""A small IAM evaluator for the tests, so that what a policy allows is proven by evaluating it
(as IAM does for one identity policy in one account) rather than by looking for names in it.

It knows exactly the policy grammar this repository writes: Allow and Deny, Action/NotAction
and Resource with `*` and `?`, Principal, and the condition operators StringEquals,
StringLike, ArnEquals, ArnLike, Bool and Null, each optionally ForAllValues:/ForAnyValue:.
Anything else raises, so a new construct cannot silently evaluate as allowed or denied.

The action database is parliament's (AWS's service authorization reference as JSON, with each
action's access level), so "every write action of a service" is AWS's list, not ours.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ALLOW, DENY, IMPLICIT_DENY = "Allow", "Deny", "ImplicitDeny"
# Access levels that change something (everything but Read and List).
WRITE_LEVELS = frozenset({"Write", "Permissions management", "Tagging"})
_OPERATORS = {"StringEquals", "StringLike", "ArnEquals", "ArnLike", "Bool", "Null"}

ContextValue = str | list[str]


@dataclass(frozen=True)
class Request:
    action: str  # service:Action
    resource: str  # an ARN, or "*"
    context: Mapping[str, ContextValue] = field(default_factory=dict)
    principal: str | None = None  # trust policies: the federated provider or role ARN


def decide(policy: Mapping[str, Any], request: Request) -> str:
    """ALLOW, DENY (an explicit Deny matched) or IMPLICIT_DENY (nothing allowed it)."""
    matching = [s for s in _statements(policy) if _matches(s, request)]
    if any(s["Effect"] == DENY for s in matching):
        return DENY
    return ALLOW if any(s["Effect"] == ALLOW for s in matching) else IMPLICIT_DENY


def allowed(policy: Mapping[str, Any], request: Request) -> bool:
    return decide(policy, request) == ALLOW


def could_allow(policy: Mapping[str, Any], action: str, resource: str) -> bool:
    """Whether ANY request context could get `action` on `resource` allowed: an Allow statement
    matches them whatever its conditions, and no unconditional Deny does. The strong form of
    "never allowed": no choice of headers, keys or prefixes gets it through."""
    request = Request(action, resource)
    statements = [s for s in _statements(policy) if _action_and_resource_match(s, request)]
    if any(s["Effect"] == DENY and "Condition" not in s for s in statements):
        return False
    return any(s["Effect"] == ALLOW for s in statements)


# --- the action database ------------------------------------------------------------------


@functools.cache
def _database() -> dict[str, dict[str, str]]:
    """service prefix -> {action name: access level}."""
    spec = importlib.util.find_spec("parliament")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("parliament is not installed; run pip install -e '.[dev]'")
    path = Path(next(iter(spec.submodule_search_locations))) / "iam_definition.json"
    services: dict[str, dict[str, str]] = {}
    for service in json.loads(path.read_text()):
        levels = services.setdefault(service["prefix"], {})
        levels.update({p["privilege"]: p["access_level"] for p in service["privileges"]})
    return services


def actions(service: str, levels: Iterable[str] | None = None) -> list[str]:
    """Every action of a service (`s3:PutObject`, ...), or those of the given access levels."""
    wanted = set(levels) if levels is not None else None
    return sorted(f"{service}:{name}" for name, level in _database()[service].items()
                  if wanted is None or level in wanted)


def write_actions(service: str) -> list[str]:
    return actions(service, WRITE_LEVELS)


def access_level(action: str) -> str:
    service, name = action.split(":", 1)
    return _database()[service][name]


def expand(pattern: str) -> list[str]:
    """The actions an Action entry such as `s3:Get*` stands for."""
    service = pattern.split(":", 1)[0]
    return [a for a in actions(service) if _wildcard(pattern, a, ignore_case=True)]


# --- matching -----------------------------------------------------------------------------


def _statements(policy: Mapping[str, Any]) -> list[dict[str, Any]]:
    statements = policy["Statement"]
    statements = [statements] if isinstance(statements, dict) else statements
    for statement in statements:
        unknown = set(statement) - {"Sid", "Effect", "Action", "NotAction", "Resource",
                                    "Principal", "Condition"}
        if unknown or statement["Effect"] not in (ALLOW, DENY):
            raise ValueError(f"not understood here: {statement}")
    return statements


def _listed(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _wildcard(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE if ignore_case else 0) is not None


def _action_and_resource_match(statement: Mapping[str, Any], request: Request) -> bool:
    if "Action" in statement:
        action = any(_wildcard(p, request.action, ignore_case=True)
                     for p in _listed(statement["Action"]))
    else:
        action = not any(_wildcard(p, request.action, ignore_case=True)
                         for p in _listed(statement["NotAction"]))
    if not action:
        return False
    if "Resource" not in statement:  # a trust policy: the role itself
        return True
    return any(_wildcard(p, request.resource) for p in _listed(statement["Resource"]))


def _principal_matches(statement: Mapping[str, Any], request: Request) -> bool:
    if "Principal" not in statement:
        return request.principal is None
    if request.principal is None:
        return False
    return any(request.principal in _listed(values)
               for values in statement["Principal"].values())


def _matches(statement: Mapping[str, Any], request: Request) -> bool:
    return (_action_and_resource_match(statement, request)
            and _principal_matches(statement, request)
            and _conditions_hold(statement.get("Condition", {}), request.context))


def _conditions_hold(conditions: Mapping[str, Mapping[str, Any]],
                     context: Mapping[str, ContextValue]) -> bool:
    """Every operator and every key under it must hold (AND); a key holds when any of the
    policy's values matches (OR)."""
    for operator, keys in conditions.items():
        qualifier, _, name = operator.rpartition(":")
        if name not in _OPERATORS or qualifier not in ("", "ForAllValues", "ForAnyValue"):
            raise ValueError(f"condition operator not understood here: {operator}")
        for key, expected in keys.items():
            present = _context_value(context, key)
            if not _holds(qualifier, name, _listed(expected), present):
                return False
    return True


def _context_value(context: Mapping[str, ContextValue], key: str) -> list[str] | None:
    """Condition keys are case-insensitive."""
    for name, value in context.items():
        if name.lower() == key.lower():
            return _listed(value)
    return None


def _holds(qualifier: str, operator: str, expected: list[str],
           present: list[str] | None) -> bool:
    if operator == "Null":
        (wanted,) = expected
        return (present is None) == (wanted.lower() == "true")
    if qualifier == "ForAllValues":  # vacuously true for a missing or empty key
        return all(_one_matches(operator, expected, v) for v in present or [])
    if present is None:
        return False
    return any(_one_matches(operator, expected, v) for v in present)


def _one_matches(operator: str, expected: list[str], value: str) -> bool:
    if operator in ("StringLike", "ArnLike"):
        return any(_wildcard(p, value) for p in expected)
    if operator == "Bool":
        return value.lower() in (e.lower() for e in expected)
    return value in expected  # StringEquals, ArnEquals
