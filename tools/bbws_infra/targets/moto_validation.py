"""The sandbox refuses what AWS refuses before the service code runs: each request to the
services below is checked against botocore's model of its operation (the model moto itself
parses requests with) and refused with that service's own validation error and HTTP 400.

Checked, as AWS's request validation checks them: required members, JSON value types,
min/max length (strings, lists, maps, blobs), min/max value (numbers), regular expression
patterns and enum values. botocore's client-side ParamValidator covers only the first four,
and moto checks almost nothing, so a request the provider or our tools get wrong passed the
sandbox and failed in AWS.

The message follows AWS's wording: "1 validation error detected: Value 'x' at 'tableName'
failed to satisfy constraint: Member must have length greater than or equal to 3" (member
paths in lower camel case, list items as `.N.member`, several errors joined with "; ").

`apply()` wraps moto's BaseResponse.call_action once for every service (the one place that
knows the service, the operation and the request); semantic rules (moto_semantics) run in
the same wrapper after the model check. Every refusal is logged to stderr, which the sandbox
writes to its log (moto.log beside server.json), naming the operation and the member, so a
false refusal is found in one look and allowed in ALLOWED below with its reason.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import regex
from botocore.model import OperationModel, Shape
from moto.core.exceptions import ServiceException
from moto.core.parse import PROTOCOL_PARSERS
from moto.core.request import determine_request_protocol
from moto.core.responses import ActionResult, BaseResponse
from moto.core.utils import get_service_model

from bbws_infra.core.untyped import Json, JsonObject
from bbws_infra.targets import moto_semantics

LOG = logging.getLogger("bbws.sandbox.validation")
# stderr: the sandbox writes the server's output to its log
_HANDLER = logging.StreamHandler(sys.stderr)
_HANDLER.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s"))


@dataclass(frozen=True)
class Codes:
    """The error codes a service answers a malformed request with."""

    missing: str  # a required member is absent
    invalid: str  # a member breaks a constraint (length, range, pattern, enum)
    wrong_type: str  # a JSON value of the wrong type


# Each service's own codes (its error shapes in botocore's model, or the code AWS's request
# validation layer answers with for services whose model lists none).
SERVICES: dict[str, Codes] = {
    "dynamodb": Codes("ValidationException", "ValidationException", "SerializationException"),
    "backup": Codes("MissingParameterValueException", "InvalidParameterValueException",
                    "SerializationException"),
    "iam": Codes("ValidationError", "ValidationError", "ValidationError"),
    "sts": Codes("ValidationError", "ValidationError", "ValidationError"),
    "kms": Codes("ValidationException", "ValidationException", "SerializationException"),
    "sns": Codes("InvalidParameter", "InvalidParameter", "InvalidParameter"),
    "cloudwatch": Codes("MissingParameter", "InvalidParameterValue", "InvalidParameterValue"),
    "events": Codes("ValidationException", "ValidationException", "SerializationException"),
    "budgets": Codes("ValidationException", "ValidationException", "SerializationException"),
}

# Requests AWS accepts that a strict check of today's model would refuse: (service,
# operation, member path as in Problem.member, "*" for any) -> why it is allowed.
ALLOWED: dict[tuple[str, str, str], str] = {}


@dataclass(frozen=True)
class Problem:
    """One broken constraint."""

    member: str  # botocore spelling, e.g. KeySchema[0].AttributeName
    path: str  # AWS's spelling, e.g. keySchema.1.member.attributeName
    value: Json
    constraint: str  # "Member must ..."
    kind: str  # "missing", "invalid" or "wrong_type"

    def sentence(self) -> str:
        return f"Value {_render(self.value)} at '{self.path}' failed to satisfy constraint: " \
               f"{self.constraint}"


def _render(value: Json) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "'true'" if value else "'false'"
    if isinstance(value, int | float):
        return str(value)
    return f"'{value}'"


@functools.cache
def _pattern(text: str) -> regex.Pattern[str] | None:
    """AWS's patterns are Java regular expressions; `regex` reads their \\p{L} classes. The
    few that only Java can read (UTF-16 surrogate ranges) are left unchecked."""
    try:
        return regex.compile(text)
    except regex.error:
        return None


_NUMBERS = ("integer", "long", "float", "double", "short", "byte")
_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "boolean": (bool,), "structure": (dict,), "map": (dict,),
    "list": (list,), "blob": (bytes, bytearray, str),
}


# Where a value sits in the request, as a chain from the root: (parent, step, name or index),
# None at the root. The spellings are made only for a value that breaks a constraint: building
# them for every value cost a large BatchWriteItem a fifth of its time in the sandbox.
Trail = tuple["Trail", str, str | int] | None


def _spell(trail: Trail) -> tuple[str, str]:
    """The member (botocore's spelling) and the path (AWS's) of a place in the request."""
    steps: list[tuple[str, str | int]] = []
    while trail is not None:
        trail, step, name = trail
        steps.append((step, name))
    member = path = ""
    for step, name in reversed(steps):
        if step == "field":
            lower = f"{str(name)[:1].lower()}{str(name)[1:]}"
            member = f"{member}.{name}" if member else str(name)
            path = f"{path}.{lower}" if path else lower
        elif step == "index":
            member, path = f"{member}[{name}]", f"{path}.{int(name) + 1}.member"
        elif step == "key":
            member, path = f"{member}.(key)", f"{path}.{name}.key"
        else:  # a map's value
            member, path = f"{member}.{name}", f"{path}.{name}.value"
    return member, path


class _Walk:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, trail: Trail, value: Json, constraint: str, kind: str) -> None:
        member, path = _spell(trail)
        self.problems.append(Problem(member, path, value, constraint, kind))

    def value(self, shape: Shape, value: Json, trail: Trail) -> None:
        kind = shape.type_name
        expected = _TYPES.get(kind)
        if kind in _NUMBERS:
            if isinstance(value, bool) or not isinstance(value, int | float):
                self.add(trail, value, f"Member must be a number ({kind})", "wrong_type")
                return
        elif expected is not None and not isinstance(value, expected):
            self.add(trail, value, f"Member must be of type {kind}", "wrong_type")
            return
        if kind == "structure" and not shape.metadata.get("document"):
            self.structure(shape, value, trail)
        elif kind == "list":
            self.length(shape, value, trail)
            for index, item in enumerate(value):
                self.value(shape.member, item, (trail, "index", index))
        elif kind == "map":
            self.length(shape, value, trail)
            for key, item in value.items():
                self.value(shape.key, key, (trail, "key", key))
                self.value(shape.value, item, (trail, "value", key))
        elif kind in ("string", "blob"):
            self.length(shape, value, trail)
            if kind == "string":
                self.text(shape, value, trail)
        elif kind in _NUMBERS:
            low, high = shape.metadata.get("min"), shape.metadata.get("max")
            if low is not None and value < low:
                self.add(trail, value, f"Member must have value greater than or equal to {low}",
                         "invalid")
            if high is not None and value > high:
                self.add(trail, value, f"Member must have value less than or equal to {high}",
                         "invalid")

    def structure(self, shape: Shape, value: JsonObject, trail: Trail) -> None:
        for name, child in shape.members.items():
            if value.get(name) is None:
                if name in shape.required_members:
                    self.add((trail, "field", name), None, "Member must not be null", "missing")
                continue
            self.value(child, value[name], (trail, "field", name))

    def length(self, shape: Shape, value: Json, trail: Trail) -> None:
        low, high = shape.metadata.get("min"), shape.metadata.get("max")
        if low is not None and len(value) < low:
            self.add(trail, value, f"Member must have length greater than or equal to {low}",
                     "invalid")
        if high is not None and len(value) > high:
            self.add(trail, value, f"Member must have length less than or equal to {high}",
                     "invalid")

    def text(self, shape: Shape, value: str, trail: Trail) -> None:
        pattern = shape.metadata.get("pattern")
        compiled = _pattern(pattern) if pattern else None
        if compiled is not None and compiled.fullmatch(value) is None:
            self.add(trail, value,
                     f"Member must satisfy regular expression pattern: {pattern}", "invalid")
        if shape.enum and value not in shape.enum:
            self.add(trail, value,
                     f"Member must satisfy enum value set: [{', '.join(shape.enum)}]", "invalid")


def check(operation: OperationModel, params: JsonObject) -> list[Problem]:
    """Every constraint of the operation's input that `params` breaks, except the allowed."""
    if operation.input_shape is None:
        return []
    walk = _Walk()
    walk.structure(operation.input_shape, params, None)
    service = operation.service_model.service_name
    return [p for p in walk.problems if not _allowed(service, operation.name, p.member)]


def _allowed(service: str, operation: str, member: str) -> bool:
    return any(key in ALLOWED for key in ((service, operation, member), (service, operation, "*"),
                                          (service, "*", member)))


def refusal(service: str, problems: list[Problem]) -> ServiceException:
    """The error AWS answers these problems with: the first problem's kind picks the code."""
    codes = SERVICES[service]
    count = len(problems)
    noun = "error" if count == 1 else "errors"
    message = f"{count} validation {noun} detected: " + "; ".join(p.sentence() for p in problems)
    return ServiceException(getattr(codes, problems[0].kind), message)


# --- the hook in moto's dispatch ------------------------------------------------------------


def _params(response: BaseResponse, operation: OperationModel) -> JsonObject | None:
    """The request's parameters as moto's own parser reads them (the parse that services with
    automated parameter parsing already did is reused); None when moto cannot parse it."""
    parsed = getattr(response, "params", None)
    if response.automated_parameter_parsing and isinstance(parsed, dict):
        return parsed
    request = response.normalized_request
    try:
        protocol = determine_request_protocol(operation.service_model, request)
        parser = PROTOCOL_PARSERS[protocol](operation, map_type=dict)
        result: JsonObject = parser.parse({
            "method": request.method, "values": request.values, "headers": request.headers,
            "body": request.data, "url_path": request.path, "url_params": response.uri_match})
    except Exception:  # moto answers an unparsable request itself, as before
        return None
    return result


def _log(service: str, operation: str, error: ServiceException) -> None:
    LOG.warning("sandbox refused %s.%s (%s, HTTP 400): %s", service, operation, error.code,
                error.message)


_original_call_action = BaseResponse.call_action


def call_action(self: BaseResponse) -> tuple[int, dict[str, str], str | bytes]:
    service = self.boto3_service_name
    if service not in SERVICES:
        return _original_call_action(self)
    try:
        name = self._get_action()
        operation = get_service_model(service).operation_model(name) if name else None
    except Exception:  # an operation botocore does not know: moto's own answer
        operation = None
    params = _params(self, operation) if operation is not None else None
    if operation is None or params is None:
        return _original_call_action(self)
    try:
        problems = check(operation, params)
        if problems:
            raise refusal(service, problems)
        moto_semantics.before(self, service, operation.name, params)
    except ServiceException as error:
        _log(service, operation.name, error)
        status, headers, body = self.serialized(ActionResult(error))
        headers["status"] = str(status)
        return status, headers, body
    except Exception:  # a fault in a check must not take the sandbox down: moto answers
        LOG.exception("sandbox could not check %s.%s; moto answers it unchecked", service,
                      operation.name)
    status, headers, body = _original_call_action(self)
    moto_semantics.after(self, service, operation.name, params, status)
    return status, headers, body


def apply() -> None:
    """Validate every request to SERVICES from now on (idempotent; this process only)."""
    if _HANDLER not in LOG.handlers:
        LOG.addHandler(_HANDLER)
        LOG.propagate = False
    BaseResponse.call_action = call_action  # type: ignore[method-assign]


def is_applied() -> bool:
    """Whether requests in this process are validated now."""
    return BaseResponse.call_action is not _original_call_action


def remove() -> None:
    BaseResponse.call_action = _original_call_action  # type: ignore[method-assign]


@contextlib.contextmanager
def applied() -> Iterator[None]:
    """Validation switched on for a block (the unit tests share one process with others)."""
    apply()
    try:
        yield
    finally:
        remove()
