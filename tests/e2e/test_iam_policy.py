"""The two roles as IAM stores them, and what a real run asks of them.

Each environment's OIDC provider, plan and deploy roles, their trust and permissions policies
and the ledger guard policy are created in that environment's sandbox account (moto checks
the documents' syntax as IAM does) and read back unchanged.

moto does not enforce IAM the way AWS does (it checks resources against `*` and ignores
conditions), so what real runs ask of each role is proven by evaluation instead:
tests/e2e/test_iam_flows.py."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from bbws_infra.core.registry import PROMOTION_ORDER, Environment, load_environment
from bbws_infra.pipeline import iam_policy
from bbws_infra.targets import sandbox

pytestmark = pytest.mark.e2e

REPO = "acme/bbws-infra"
# GitHub's OIDC certificate thumbprint; IAM wants one, AWS no longer checks it for GitHub.
THUMBPRINT = "6938fd4d98bab03faadb97b34396831e3780aea1"


def _oidc_provider(iam, expected_arn: str) -> str:
    with contextlib.suppress(iam.exceptions.EntityAlreadyExistsException):
        iam.create_open_id_connect_provider(
            Url=f"https://{iam_policy.GITHUB_OIDC_PROVIDER}",
            ClientIDList=[iam_policy.GITHUB_AUDIENCE], ThumbprintList=[THUMBPRINT])
    arns = [p["Arn"] for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]]
    assert expected_arn in arns
    provider = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=expected_arn)
    assert provider["ClientIDList"] == ["sts.amazonaws.com"]
    return expected_arn


def _create_roles(env: Environment) -> dict:
    """Everything `invoke iam-policy` prints for env, created in its sandbox account as the
    setup guide says: each role with its trust policy, session length and permissions policy,
    each shared policy attached where `attach_to` says. Returns the printed documents."""
    _, session, _ = sandbox.session_for(env)
    iam = session.client("iam")
    documents = iam_policy.policies(env, REPO)
    shared = {key: iam.create_policy(PolicyName=value["policy_name"],
                                     PolicyDocument=json.dumps(value["policy_document"])
                                     )["Policy"]["Arn"]
              for key, value in documents.items() if key.endswith("_policy")}
    for role in iam_policy.roles(env):
        described = documents[f"{role.replace('-', '_')}_role"]
        name, trust = described["role_name"], described["trust_policy"]
        provider = _oidc_provider(iam, trust["Statement"][0]["Principal"]["Federated"])
        assert provider == iam_policy.oidc_provider_arn(env)
        created = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust),
                                  MaxSessionDuration=described["max_session_duration"],
                                  Description=f"GitHub Actions {role} jobs of {env.name}")
        assert created["Role"]["Arn"] == described["role_arn"] == iam_policy.role_arn(env, role)
        assert created["Role"]["Arn"].split(":")[4] == env.account_id  # the env's own account
        policy_arn = iam.create_policy(
            PolicyName=name, PolicyDocument=json.dumps(described["permissions_policy"]),
            Description=f"Least privilege: {role} of {env.name}")["Policy"]["Arn"]
        iam.attach_role_policy(RoleName=name, PolicyArn=policy_arn)
        for key, arn in shared.items():
            if name in documents[key]["attach_to"]:
                iam.attach_role_policy(RoleName=name, PolicyArn=arn)
    return documents


@pytest.mark.parametrize("env_name", PROMOTION_ORDER)
def test_roles_and_policies_are_accepted_and_read_back_unchanged(work: Path, env_name: str):
    env = load_environment(env_name)
    documents = _create_roles(env)
    iam = sandbox.session_for(env)[1].client("iam")
    shared = {key: f"arn:aws:iam::{env.account_id}:policy/{value['policy_name']}"
              for key, value in documents.items() if key.endswith("_policy")}
    assert "ledger_guard_policy" in shared and "account_health_read_policy" in shared
    assert "monitoring_read_policy" in shared and "monitoring_write_policy" in shared
    assert "data_read_policy" in shared and "data_write_policy" in shared
    assert ("protected_deletes_guard_policy" in shared) == env.deletion_protection
    for role in iam_policy.roles(env):
        described = documents[f"{role.replace('-', '_')}_role"]
        name = described["role_name"]
        stored = iam.get_role(RoleName=name)["Role"]
        assert stored["AssumeRolePolicyDocument"] == described["trust_policy"]
        assert stored["MaxSessionDuration"] == described["max_session_duration"]
        own = f"arn:aws:iam::{env.account_id}:policy/{name}"
        attached = iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
        assert len(attached) <= 10  # IAM's default quota of managed policies per role
        assert sorted(p["PolicyArn"] for p in attached) == sorted(
            [own, *(arn for key, arn in shared.items() if name in documents[key]["attach_to"])])
        assert _stored(iam, own) == described["permissions_policy"]
    for key, arn in shared.items():
        assert _stored(iam, arn) == documents[key]["policy_document"]


def _stored(iam, policy_arn: str) -> dict:
    version = iam.get_policy(PolicyArn=policy_arn)["Policy"]["DefaultVersionId"]
    return iam.get_policy_version(PolicyArn=policy_arn, VersionId=version)["PolicyVersion"][
        "Document"]


def test_the_sandbox_really_checks_policy_syntax(work: Path):
    """Guards the test above: a broken document is refused, so acceptance means something."""
    _, session, _ = sandbox.session_for(load_environment("dev"))
    iam = session.client("iam")
    broken = {"Version": "2012-10-17", "Statement": [
        {"Sid": "NoEffect", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::b/*"]}]}
    with pytest.raises(ClientError) as caught:
        iam.create_policy(PolicyName="broken-on-purpose", PolicyDocument=json.dumps(broken))
    assert caught.value.response["Error"]["Code"] == "MalformedPolicyDocument"


@pytest.mark.parametrize("reader_name", PROMOTION_ORDER[1:])
def test_previous_state_bucket_takes_the_ledger_read_policy(work: Path, reader_name: str):
    reader = load_environment(reader_name)
    previous = load_environment(PROMOTION_ORDER[PROMOTION_ORDER.index(reader_name) - 1])
    # S3 accepts a policy naming roles only once they exist
    with contextlib.suppress(ClientError):
        _create_roles(reader)
    _, session, _ = sandbox.session_for(previous)
    s3 = session.client("s3")
    document = iam_policy.ledger_read_bucket_policy(previous, reader)
    before = _bucket_policy(s3, previous.state_bucket)
    s3.put_bucket_policy(Bucket=previous.state_bucket, Policy=json.dumps(document))
    try:
        assert _bucket_policy(s3, previous.state_bucket) == document
    finally:
        # the sandbox is shared with other tests: leave the state bucket as it was
        if before is None:
            s3.delete_bucket_policy(Bucket=previous.state_bucket)
        else:
            s3.put_bucket_policy(Bucket=previous.state_bucket, Policy=json.dumps(before))


def _bucket_policy(s3, bucket: str) -> dict | None:
    try:
        return json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    except ClientError as error:
        if error.response["Error"]["Code"] != "NoSuchBucketPolicy":
            raise
        return None
