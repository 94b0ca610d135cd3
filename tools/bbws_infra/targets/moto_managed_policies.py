"""AWS's managed policies in the sandbox, read once per server instead of once per IAM backend,
and built for a backend only when something reads them.

The sandbox loads AWS's managed policies (MOTO_IAM_LOAD_MANAGED_POLICIES, sandbox.py), and moto
builds an IAM backend per account and partition, each from scratch: it parses its 4 MB copy of
the ~1,500 policies and writes each policy's document back to JSON. Working out which account an
access key belongs to creates the backends of every partition (six) of every account it looks
through, so a sandbox with the three environments' accounts builds some twenty of them, each
costing about a fifth of a second of an idle core, more on a busy machine: seconds at every
sandbox start.

Here the parse, each document's JSON text and the dates are made once per process; each backend
still gets its own policy objects (their ids, attachment counts and versions are per account),
built with the same arguments moto's AWSManagedPolicy.from_data passes. They are built at the
first read of the backend's `aws_managed_policies` or `managed_policies` (an attach, a policy
listing), not when the backend is made: most backends are made only to be searched for an access
key, and building 1,500 policies for each of those made a fresh sandbox's first IAM request take
0.7 s.
"""

from __future__ import annotations

import functools
import json
import threading
from datetime import datetime
from typing import NamedTuple

from moto.iam.aws_managed_policies import aws_managed_policies_data
from moto.iam.models import AWSManagedPolicy, IAMBackend, ManagedPolicy
from moto.settings import load_iam_aws_managed_policies


class PolicyData(NamedTuple):
    """One managed policy's arguments, as AWSManagedPolicy.from_data derives them."""

    name: str
    default_version_id: str | None
    path: str | None
    document: str
    create_date: datetime
    update_date: datetime


@functools.cache
def policies() -> tuple[PolicyData, ...]:
    parsed = json.loads(aws_managed_policies_data)
    return tuple(PolicyData(name, data.get("DefaultVersionId"), data.get("Path"),
                            json.dumps(data.get("Document")),
                            datetime.fromisoformat(data["CreateDate"]),
                            datetime.fromisoformat(data["UpdateDate"]))
                 for name, data in parsed.items())


_original_init = IAMBackend._init_aws_policies
_original_init_managed = IAMBackend._init_managed_policies


class _Later:
    """What the patched _init_* methods return: built at the first read. One object, also in
    a copied or pickled backend, so a copy still builds its own at its first read."""

    def __copy__(self) -> _Later:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> _Later:
        return self

    def __reduce__(self) -> str:
        return "_LATER"


_LATER = _Later()


def build_aws_policies(self: IAMBackend) -> list[ManagedPolicy]:
    """moto's IAMBackend._init_aws_policies, from the data read once."""
    if not load_iam_aws_managed_policies():
        return []
    # moto's from_data builds the class the same way (mypy counts its CloudFormation hooks
    # as abstract)
    return [AWSManagedPolicy(p.name, account_id=self.account_id,  # type: ignore[abstract]
                             region=self.region_name,
                             default_version_id=p.default_version_id, path=p.path,
                             document=p.document, create_date=p.create_date,
                             update_date=p.update_date)
            for p in policies()]


def _later(self: IAMBackend) -> object:
    return _LATER


class _BuiltOnRead:
    """One of a backend's two policy attributes (the list, and the dict by ARN of the same
    objects): both are built at the first read of either; a value moto sets replaces it."""

    def __init__(self, name: str) -> None:
        self.slot = f"_bbws_{name}"

    def __get__(self, backend: IAMBackend | None, owner: type | None = None) -> object:
        if backend is None:
            return self
        values = vars(backend)
        if values.get(self.slot, _LATER) is _LATER:
            _build(backend)
        return values[self.slot]

    def __set__(self, backend: IAMBackend, value: object) -> None:
        vars(backend)[self.slot] = value


_LIST, _BY_ARN = _BuiltOnRead("aws_managed_policies"), _BuiltOnRead("managed_policies")


# The server answers requests in threads (the provider sends IAM requests in parallel): two
# first reads must not build two sets, the list from one and the dict from the other.
_build_lock = threading.Lock()


def _build(backend: IAMBackend) -> None:
    values = vars(backend)
    with _build_lock:
        if values.get(_LIST.slot, _LATER) is _LATER:
            values[_LIST.slot] = build_aws_policies(backend)
        if values.get(_BY_ARN.slot, _LATER) is _LATER:
            values[_BY_ARN.slot] = {p.arn: p for p in values[_LIST.slot]}


def apply() -> None:
    """Build IAM backends' policies from the data read once, at their first read (idempotent;
    this process only)."""
    IAMBackend._init_aws_policies = _later  # type: ignore[method-assign,assignment]
    IAMBackend._init_managed_policies = _later  # type: ignore[method-assign,assignment]
    IAMBackend.aws_managed_policies = _LIST  # type: ignore[assignment]
    IAMBackend.managed_policies = _BY_ARN  # type: ignore[assignment]


def is_applied() -> bool:
    return IAMBackend._init_aws_policies is _later


def remove() -> None:
    IAMBackend._init_aws_policies = _original_init  # type: ignore[method-assign]
    IAMBackend._init_managed_policies = _original_init_managed  # type: ignore[method-assign]
    for name in ("aws_managed_policies", "managed_policies"):
        if name in vars(IAMBackend):
            delattr(IAMBackend, name)
