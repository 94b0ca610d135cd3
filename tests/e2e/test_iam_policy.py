"""The two roles as IAM stores them, and what a real run asks of them.

Each environment's OIDC provider, plan and deploy roles, their trust and permissions policies
and the ledger guard policy are created in that environment's sandbox account (moto checks
the documents' syntax as IAM does) and read back unchanged.

moto does not enforce IAM the way AWS does (it checks resources against `*` and ignores
conditions), so the runs are checked another way: moto's recorder keeps every request a real
`invoke plan`, `drift`, `verify` and `apply` sends to the sandbox, and each request is
evaluated, as IAM would, against the role's policies (tests/support/aws_requests.py,
tests/support/iam_evaluation.py): the plan role allows everything plan, drift and verify ask
for, and refuses every write an apply makes; the deploy role allows all of the apply."""

from __future__ import annotations

import contextlib
import functools
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from bbws_infra.core.registry import COMPONENTS, PROMOTION_ORDER, load_environment
from bbws_infra.pipeline import iam_policy
from bbws_infra.pipeline.iam_policy import DEPLOY, PLAN, ROLES
from bbws_infra.state import state_backend
from bbws_infra.targets import sandbox
from tests.support.aws_requests import Call, calls, load_recording
from tests.support.cli import invoke
from tests.support.iam_evaluation import access_level, allowed
from tests.support.work_dirs import fresh_work_dir, using_work_dir

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


@pytest.mark.parametrize("env_name", PROMOTION_ORDER)
def test_roles_and_policies_are_accepted_and_read_back_unchanged(work: Path, env_name: str):
    env = load_environment(env_name)
    _, session, _ = sandbox.session_for(env)
    iam = session.client("iam")
    documents = iam_policy.policies(env, REPO)
    guard = documents["ledger_guard_policy"]
    guard_arn = iam.create_policy(PolicyName=guard["policy_name"],
                                  PolicyDocument=json.dumps(guard["policy_document"]),
                                  Description="No ledger record deleted or overwritten"
                                  )["Policy"]["Arn"]
    for role in ROLES:
        described = documents[f"{role}_role"]
        name, trust = described["role_name"], described["trust_policy"]
        permissions = described["permissions_policy"]
        provider = _oidc_provider(iam, trust["Statement"][0]["Principal"]["Federated"])
        assert provider == iam_policy.oidc_provider_arn(env)

        created = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust),
                                  Description=f"GitHub Actions {role} jobs of {env_name}")
        assert created["Role"]["Arn"] == described["role_arn"] == iam_policy.role_arn(env, role)
        assert created["Role"]["Arn"].split(":")[4] == env.account_id  # the env's own account
        policy_arn = iam.create_policy(PolicyName=name, PolicyDocument=json.dumps(permissions),
                                       Description=f"Least privilege: {role} of {env_name}"
                                       )["Policy"]["Arn"]
        assert policy_arn == f"arn:aws:iam::{env.account_id}:policy/{name}"
        iam.attach_role_policy(RoleName=name, PolicyArn=policy_arn)
        assert name in guard["attach_to"]
        iam.attach_role_policy(RoleName=name, PolicyArn=guard_arn)

        assert iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"] == trust
        attached = iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
        assert sorted(p["PolicyArn"] for p in attached) == sorted([policy_arn, guard_arn])
        assert _stored(iam, policy_arn) == permissions
    assert _stored(iam, guard_arn) == guard["policy_document"]


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


# --- what real runs ask of each role --------------------------------------------------------


def _recorder(endpoint: str, verb: str, method: str = "POST") -> str:
    request = urllib.request.Request(f"{endpoint}/moto-api/recorder/{verb}", method=method)
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.read().decode()


def _recorded(*args: str) -> list[Call]:
    """The IAM view of every request the sandbox served while `invoke *args` ran."""
    envs = [load_environment(name) for name in PROMOTION_ORDER]
    server = [sandbox.session_for(env)[0] for env in envs][-1]  # holds every account's key
    by_key = {server.credentials[e.account_id]["access_key"]: e for e in envs}
    _recorder(server.endpoint, "reset-recording")
    _recorder(server.endpoint, "start-recording")
    try:
        result = invoke(*args)
    finally:
        _recorder(server.endpoint, "stop-recording")
    assert result.returncode == 0, result.stdout + result.stderr
    made = calls(load_recording(_recorder(server.endpoint, "download-recording", "GET")), by_key)
    assert made, f"nothing recorded for invoke {' '.join(args)}"
    return made


@functools.cache
def _holds(role: str, env_name: str = "dev") -> dict:
    env = load_environment(env_name)
    return {"Version": "2012-10-17", "Statement": [
        *iam_policy.permissions_policy(env, role)["Statement"],
        *iam_policy.ledger_guard_policy(env)["Statement"]]}


# Refusals a run tolerates: provider 3.39 first asks iam:GetUser for the account id (which
# works for the sandbox's IAM users) and, refused (AccessDenied) or given role credentials
# (ValidationError), falls back to sts:GetCallerIdentity.
TOLERATED = {"iam:GetUser"}


def _refused(role: str, made: list[Call]) -> list[str]:
    return sorted({f"{c.env}: {c}" for c in made if c.request.action not in TOLERATED
                   and not allowed(_holds(role, c.env), c.request)})


def _writes(made: list[Call]) -> list[Call]:
    return [c for c in made if access_level(c.request.action) not in ("Read", "List")]


# A table and the template bucket: every kind of resource the roles reach.
COMPONENTS_RUN = "tenants,templates"


@pytest.fixture(scope="module")
def own_sandbox(work: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """This module's own work directory and sandbox: the apply and recordings below neither
    see nor leave anything in the sandbox the session's other modules share."""
    path = fresh_work_dir(tmp_path_factory.mktemp("iam-work"), work)
    with using_work_dir(path):
        yield path
        sandbox.down()


@pytest.fixture(scope="module")
def applied_dev(own_sandbox: Path) -> list[Call]:
    """dev's tenants table and template bucket planned and applied for real (the deploy role's
    work), the apply recorded."""
    planned = invoke("plan", "--env", "dev", "--component", COMPONENTS_RUN)
    assert planned.returncode == 0, planned.stdout + planned.stderr
    return _recorded("apply", "--env", "dev", "--component", COMPONENTS_RUN, "--confirm",
                     "deploy-dev")


def test_the_deploy_role_allows_everything_an_apply_does(applied_dev: list[Call]):
    assert _writes(applied_dev), "the apply wrote nothing?"
    assert _refused(DEPLOY, applied_dev) == []


def test_the_plan_role_refuses_every_write_of_an_apply(applied_dev: list[Call]):
    writes = _writes(applied_dev)
    plan = _holds(PLAN)
    # the lock the apply took and released is the only write both roles may make
    locking = [c for c in writes if c.request.action in ("dynamodb:PutItem",
                                                          "dynamodb:DeleteItem")
               and not any(k.endswith("-md5")
                           for k in c.request.context.get("dynamodb:LeadingKeys", []))]
    assert locking
    for made in writes:
        if made in locking:
            assert allowed(plan, made.request), str(made)
        else:
            assert not allowed(plan, made.request), str(made)
    # among them: creating the table, writing the state, its digest and the ledger record
    actions = {c.request.action for c in writes}
    assert {"dynamodb:CreateTable", "s3:CreateBucket", "s3:PutObject",
            "dynamodb:PutItem"} <= actions
    digests = [c for c in writes if any(k.endswith("-md5") for k in
                                        c.request.context.get("dynamodb:LeadingKeys", []))]
    assert digests and not any(allowed(plan, c.request) for c in digests)
    ledger = [c for c in writes if "/ledger/" in c.request.resource]
    assert ledger and all(c.request.context.get("s3:if-none-match") == "*" for c in ledger)


@pytest.mark.parametrize("task", [
    ("plan", "--env", "dev", "--component", COMPONENTS_RUN),
    ("drift", "--env", "dev", "--component", COMPONENTS_RUN),
    ("verify", "--env", "dev", "--component", COMPONENTS_RUN),
    ("history", "--env", "dev"),
    ("status",),  # every env, each in its own account
    ("doctor", "--env", "dev"),
    ("state-versions", "--env", "dev", "--component", "tenants"),
    ("backups", "--env", "dev"),
], ids=lambda t: t[0])
def test_the_plan_role_allows_everything_the_read_only_tasks_do(applied_dev: list[Call],
                                                                  task: tuple[str, ...]):
    made = _recorded(*task)
    assert _refused(PLAN, made) == []
    # and what they wrote, if anything, is a state lock
    assert {c.request.action for c in _writes(made)} <= {"dynamodb:PutItem",
                                                         "dynamodb:DeleteItem"}


def test_a_plan_locks_its_state_under_the_lock_id_the_plan_role_names(applied_dev: list[Call]):
    """Terraform's S3 backend, as it runs: the lock item is `<bucket>/<key>` (taken with
    PutItem, released with DeleteItem), the digest `<bucket>/<key>-md5` is only read; the
    plan role's LeadingKeys condition names exactly that lock item."""
    env = load_environment("dev")
    lock = state_backend.lock_id(env, COMPONENTS["tenants"].state_key)
    made = _recorded("plan", "--env", "dev", "--component", "tenants")

    def keys(action: str) -> list[list[str]]:
        return [list(c.request.context["dynamodb:LeadingKeys"]) for c in made
                if c.request.action == action and "dynamodb:LeadingKeys" in c.request.context]

    assert keys("dynamodb:PutItem") == [[lock]]
    assert keys("dynamodb:DeleteItem") == [[lock]]
    assert [lock + "-md5"] in keys("dynamodb:GetItem")
    condition = next(s["Condition"] for s in _holds(PLAN)["Statement"]
                     if s["Sid"] == "PlanLocksStatesOnly")
    assert lock in condition["ForAllValues:StringEquals"]["dynamodb:LeadingKeys"]
    # what the plan read: the state object, the managed table and its backup plan, ...
    actions = {c.request.action for c in made}
    assert {"s3:GetObject", "dynamodb:DescribeTable", "backup:GetBackupPlan",
            "iam:GetRole"} <= actions, actions
