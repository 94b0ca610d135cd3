"""The break-glass role where deletion protection is on: the deploy role's policies deny
deleting (and so replacing) a protected table, bucket or vault, the break-glass role's allow
it, only the `<env>-break-glass` GitHub environment may assume it, and a run through that
environment needs one approval more than the env's own. Proven by evaluating the policies
(tests/support/iam_evaluation.py)."""

from __future__ import annotations

from typing import Any

import pytest

from bbws_infra.core.errors import UserError
from bbws_infra.core.registry import (
    BREAK_GLASS,
    COMPONENTS,
    PROMOTION_ORDER,
    REQUIRED_APPROVALS,
    load_environment,
)
from bbws_infra.pipeline import approvals, iam_guards, iam_policy
from bbws_infra.pipeline.approvals import Review
from bbws_infra.pipeline.iam_policy import DEPLOY, PLAN
from tests.support.iam_evaluation import Request, allowed

REPO = "acme/bbws-infra"
OIDC = "token.actions.githubusercontent.com"
PROTECTED = [e for e in PROMOTION_ORDER if load_environment(e).deletion_protection]
UNPROTECTED = [e for e in PROMOTION_ORDER if e not in PROTECTED]


def identity(env_name: str, role: str) -> dict[str, Any]:
    """Every identity policy the role holds, as one document (IAM evaluates their union)."""
    document = iam_policy.policies(load_environment(env_name), REPO)
    name = iam_policy.role_name(load_environment(env_name), role)
    attached = [p["policy_document"] for key, p in document.items()
                if key.endswith("_policy") and name in p["attach_to"]]
    own = document[f"{role.replace('-', '_')}_role"]["permissions_policy"]
    return {"Version": "2012-10-17",
            "Statement": [s for d in (own, *attached) for s in d["Statement"]]}


def protected_deletes(env_name: str) -> list[Request]:
    """Each delete of a protected resource the env's Terraform could make."""
    env = load_environment(env_name)
    guard = iam_guards.protected_deletes_guard_policy(env)
    assert guard is not None
    return [Request(action, resource) for s in guard["Statement"]
            for action in s["Action"] for resource in s["Resource"]]


def test_only_environments_with_deletion_protection_have_the_role():
    assert PROTECTED == ["prod"] and UNPROTECTED == ["dev", "sit"]
    for env_name in UNPROTECTED:
        env = load_environment(env_name)
        assert iam_policy.roles(env) == (PLAN, DEPLOY)
        assert iam_guards.protected_deletes_guard_policy(env) is None
        assert "break_glass_role" not in iam_policy.policies(env, REPO)
        with pytest.raises(ValueError, match="unknown role"):
            iam_policy.role_name(env, BREAK_GLASS)
    env = load_environment("prod")
    assert iam_policy.roles(env) == (PLAN, DEPLOY, BREAK_GLASS)
    role = iam_policy.policies(env, REPO)["break_glass_role"]
    assert role["role_name"] == "bbws-infra-break-glass-prod"
    assert role["github_environment"] == "prod-break-glass"


@pytest.mark.parametrize("env_name", PROTECTED)
def test_the_deploy_role_cannot_delete_what_is_protected_and_break_glass_can(env_name: str):
    requests = protected_deletes(env_name)
    tables = {r.resource for r in requests if r.action == "dynamodb:DeleteTable"}
    assert len(tables) == len([c for c in COMPONENTS.values() if c.kind == "dynamodb"])
    assert {r.action for r in requests} == {
        "dynamodb:DeleteTable", "s3:DeleteBucket", "backup:DeleteBackupVault"}
    deploy, glass = identity(env_name, DEPLOY), identity(env_name, BREAK_GLASS)
    for request in requests:
        assert not allowed(deploy, request), request
        assert allowed(glass, request), request
        # without the guard, the deploy role's own permissions would allow it: the Deny is
        # what stops it, so no other attached policy can grant it back
        own = iam_policy.permissions_policy(load_environment(env_name), DEPLOY)
        assert allowed(own, request), request


@pytest.mark.parametrize("env_name", PROTECTED)
def test_break_glass_holds_exactly_the_deploy_permissions(env_name: str):
    env = load_environment(env_name)
    assert iam_policy.permissions_policy(env, BREAK_GLASS) == \
        iam_policy.permissions_policy(env, DEPLOY)
    # and everything else the deploy role may do (creating, updating) stays allowed to it
    table = f"arn:aws:dynamodb:{env.region}:{env.account_id}:table/tenants"
    for action in ("dynamodb:CreateTable", "dynamodb:UpdateTable"):
        assert allowed(identity(env_name, DEPLOY), Request(action, table))


@pytest.mark.parametrize("env_name", PROMOTION_ORDER)
def test_no_role_deletes_a_state_object_or_any_version_in_the_state_bucket(env_name: str):
    env = load_environment(env_name)
    bucket = f"arn:aws:s3:::{env.state_bucket}"
    keys = [f"{bucket}/{c.state_key}" for c in COMPONENTS.values()]
    for role in iam_policy.roles(env):
        document = identity(env_name, role)
        for key in keys:
            assert not allowed(document, Request("s3:DeleteObject", key))
        for key in (*keys, f"{bucket}/ledger/tenants/x.json", f"{bucket}/any/other"):
            assert not allowed(document, Request("s3:DeleteObjectVersion", key))


@pytest.mark.parametrize("env_name", PROTECTED)
def test_only_the_break_glass_environment_assumes_the_role(env_name: str):
    env = load_environment(env_name)
    trust = iam_policy.trust_policy(env, REPO, BREAK_GLASS)
    provider = iam_policy.oidc_provider_arn(env)
    others = [env_name, f"{env_name}-plan", f"{env_name}-approval-1", "dev-break-glass"]

    def admits(environment: str, role: str) -> bool:
        context = {f"{OIDC}:aud": "sts.amazonaws.com",
                   f"{OIDC}:sub": f"repo:{REPO}:environment:{environment}"}
        return allowed(iam_policy.trust_policy(env, REPO, role),
                       Request("sts:AssumeRoleWithWebIdentity", "*", context, provider))

    assert admits(f"{env_name}-break-glass", BREAK_GLASS)
    assert trust["Statement"][0]["Condition"]["StringEquals"][f"{OIDC}:sub"] == [
        f"repo:{REPO}:environment:{env_name}-break-glass"]
    for other in others:
        assert not admits(other, BREAK_GLASS), other
    # and the break-glass environment gets neither of the other roles
    assert not admits(f"{env_name}-break-glass", DEPLOY)
    assert not admits(f"{env_name}-break-glass", PLAN)


@pytest.mark.parametrize("env_name", PROTECTED)
def test_a_break_glass_run_needs_one_approval_more(env_name: str):
    name = f"{env_name}-break-glass"
    count = REQUIRED_APPROVALS[env_name] + 1
    assert approvals.required(name) == count
    assert approvals.gates(name) == [f"{env_name}-approval-{n}" for n in range(1, count)]
    assert approvals.counted_environments(name) == [*approvals.gates(name), name]
    # everybody the env's own run needs is not enough
    people = [f"reviewer{n}" for n in range(count)]
    reviews = [Review(login, "approved", (gate,)) for login, gate in
               zip(people, approvals.counted_environments(name), strict=True)]
    assert approvals.tally(reviews, name, ["starter"]).enough
    assert not approvals.tally(reviews[1:], name, ["starter"]).enough
    # approvals of the env's own environment do not count for break-glass
    own = [Review(login, "approved", (env_name,)) for login in people]
    assert approvals.tally(own, name, ["starter"]).approvers == ()


@pytest.mark.parametrize("env_name", UNPROTECTED)
def test_no_break_glass_run_where_protection_is_off(env_name: str):
    with pytest.raises(UserError, match="no deletion protection"):
        approvals.gates(f"{env_name}-break-glass")
