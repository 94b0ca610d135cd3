"""The deploy path's break-glass check: an apply on AWS that deletes protected resources runs
as the env's break-glass role or is refused before anything changes (the caller's identity
from STS, answered here by botocore's Stubber with STS's own response shape)."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from bbws_infra.core.errors import UserError
from bbws_infra.core.registry import load_environment
from bbws_infra.release import break_glass

PROD = load_environment("prod")
TABLE = "module.table.aws_dynamodb_table.this"


class StubbedSession:
    """A boto3 session whose STS client answers GetCallerIdentity with `arn`."""

    def __init__(self, arn: str | None) -> None:
        self.arn, self.calls = arn, 0

    def client(self, service: str):
        assert service == "sts"
        client = boto3.client("sts", region_name="af-south-1", aws_access_key_id="x",
                              aws_secret_access_key="x")
        stubber = Stubber(client)
        if self.arn is not None:
            self.calls += 1
            stubber.add_response("get_caller_identity", {
                "UserId": "AROAEXAMPLE:session", "Account": PROD.account_id, "Arn": self.arn})
        stubber.activate()
        return client


def session_as(role: str) -> StubbedSession:
    return StubbedSession(f"arn:aws:sts::{PROD.account_id}:assumed-role/{role}/run-42")


def test_the_break_glass_role_may_delete():
    session = session_as("bbws-infra-break-glass-prod")
    break_glass.check("aws", PROD, session, {"tenants": [TABLE]})  # type: ignore[arg-type]
    assert session.calls == 1


@pytest.mark.parametrize("caller", [
    f"arn:aws:sts::{PROD.account_id}:assumed-role/bbws-infra-deploy-prod/run-42",
    f"arn:aws:sts::{PROD.account_id}:assumed-role/bbws-infra-break-glass-prodx/run-42",
    f"arn:aws:iam::{PROD.account_id}:user/admin",
    f"arn:aws:iam::{PROD.account_id}:role/bbws-infra-break-glass-prod",
])
def test_any_other_identity_is_refused_naming_role_and_workflow(caller: str):
    with pytest.raises(UserError) as refused:
        break_glass.check("aws", PROD, StubbedSession(caller),  # type: ignore[arg-type]
                          {"tenants": [TABLE], "products": []})
    message = str(refused.value)
    assert "bbws-infra-break-glass-prod" in message and "prod-break-glass" in message
    assert f"tenants: {TABLE}" in message and "products" not in message
    assert caller in message and message.endswith("nothing was changed.")


@pytest.mark.parametrize(("target", "env_name", "removals"), [
    ("sandbox", "prod", {"tenants": [TABLE]}),  # the sandbox: proven by policy evaluation
    ("aws", "prod", {"tenants": []}),  # nothing protected is removed
    ("aws", "dev", {"tenants": [TABLE]}),  # no deletion protection: the deploy role deletes
])
def test_nothing_is_asked_where_the_check_does_not_apply(target, env_name, removals):
    session = StubbedSession(None)  # any STS call would fail: none is stubbed
    break_glass.check(target, load_environment(env_name), session,  # type: ignore[arg-type]
                      removals)
    assert session.calls == 0


def test_assumed_role_reads_only_assumed_role_session_arns():
    assert break_glass.assumed_role("arn:aws:sts::1:assumed-role/r/s") == "r"
    assert break_glass.assumed_role("arn:aws-us-gov:sts::1:assumed-role/r/s") == "r"
    assert break_glass.assumed_role("arn:aws:iam::1:role/r") is None
    assert break_glass.assumed_role("arn:aws:sts::1:federated-user/r") is None
    assert break_glass.assumed_role("nonsense") is None
