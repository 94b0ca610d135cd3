"""AWS's managed policies in the sandbox, read once per server instead of once per IAM backend.

The sandbox loads AWS's managed policies (MOTO_IAM_LOAD_MANAGED_POLICIES, sandbox.py), and moto
builds an IAM backend per account and partition, each from scratch: it parses its 4 MB copy of
the ~1,500 policies and writes each policy's document back to JSON. Working out which account an
access key belongs to creates the backends of every partition (six) of every account it looks
through, so a sandbox with the three environments' accounts builds some twenty of them, each
costing about a fifth of a second of an idle core, more on a busy machine: seconds at every
sandbox start.

Here the parse, each document's JSON text and the dates are made once per process; each backend
still gets its own policy objects (their ids, attachment counts and versions are per account),
built with the same arguments moto's AWSManagedPolicy.from_data passes.
"""

from __future__ import annotations

import functools
import json
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


def init_aws_policies(self: IAMBackend) -> list[ManagedPolicy]:
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


def apply() -> None:
    """Build IAM backends from the data read once (idempotent; this process only)."""
    IAMBackend._init_aws_policies = init_aws_policies  # type: ignore[method-assign]


def is_applied() -> bool:
    return IAMBackend._init_aws_policies is init_aws_policies


def remove() -> None:
    IAMBackend._init_aws_policies = _original_init  # type: ignore[method-assign]
