"""The GitHub OIDC deployment role: trust policy, least-privilege permissions, ledger access."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from bbws_infra import iam_policy, schemas
from bbws_infra.errors import UserError
from bbws_infra.iam_policy import (
    ledger_read_bucket_policy,
    permissions_policy,
    policies,
    role_name,
    trust_policy,
)
from bbws_infra.registry import PROMOTION_ORDER, load_environment

REPO = "acme/bbws-infra"
ENVS = list(PROMOTION_ORDER)
# The only actions that may have Resource "*": IAM cannot scope them to a resource.
NEEDS_STAR = {
    "sts:GetCallerIdentity",
    "dynamodb:ListBackups",
    "backup:ListBackupPlans",
    "backup-storage:MountCapsule",
    "kms:ListAliases",
}


def statements(env_name: str) -> list[dict[str, Any]]:
    return permissions_policy(load_environment(env_name))["Statement"]


def by_sid(env_name: str) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in statements(env_name)}


def resources_of(env_name: str, action: str) -> set[str]:
    return {r for s in statements(env_name) if action in s["Action"] for r in s["Resource"]}


def size(document: dict[str, Any]) -> int:
    return len(re.sub(r"\s", "", json.dumps(document)))


# --- structure ----------------------------------------------------------------------------


@pytest.mark.parametrize("env_name", ENVS)
def test_every_statement_is_complete_and_explained(env_name: str):
    document = permissions_policy(load_environment(env_name))
    assert set(document) == {"Version", "Statement"}
    assert document["Version"] == "2012-10-17"
    sids = [s["Sid"] for s in document["Statement"]]
    assert len(sids) == len(set(sids)), "Sids must be unique"
    for statement in document["Statement"]:
        assert set(statement) >= {"Sid", "Effect", "Action", "Resource"}
        assert set(statement) <= {"Sid", "Effect", "Action", "Resource", "Condition"}
        assert re.fullmatch(r"[A-Z][A-Za-z0-9]{7,}", statement["Sid"])  # IAM: alphanumeric
        assert statement["Effect"] == "Allow"
        assert statement["Action"] and statement["Resource"]
        assert statement["Action"] == sorted(set(statement["Action"]))
        assert statement["Resource"] == sorted(set(statement["Resource"]))


@pytest.mark.parametrize("env_name", ENVS)
def test_no_action_wildcard_and_star_resource_only_where_unavoidable(env_name: str):
    for statement in statements(env_name):
        for action in statement["Action"]:
            assert action != "*" and not action.endswith(":*"), action
            assert re.fullmatch(r"[a-z0-9-]+:[A-Za-z]+\*?", action), action
        if "*" in statement["Resource"]:
            assert statement["Resource"] == ["*"]
            assert set(statement["Action"]) <= NEEDS_STAR, statement["Sid"]
    star = {a for s in statements(env_name) if s["Resource"] == ["*"] for a in s["Action"]}
    assert star == NEEDS_STAR


@pytest.mark.parametrize("env_name", ENVS)
def test_every_resource_is_in_this_account_and_its_regions(env_name: str):
    env = load_environment(env_name)
    regions = {env.region, env.dr_region} if env.uses_dr else {env.region}
    for statement in statements(env_name):
        for arn in statement["Resource"]:
            if arn == "*":
                continue
            parts = arn.split(":", 5)
            assert parts[:2] == ["arn", "aws"], arn
            if parts[2] == "s3":
                assert arn.startswith(("arn:aws:s3:::bbws-templates-",
                                       "arn:aws:s3:::bbws-terraform-state-")), arn
            elif parts[2] == "iam":
                assert parts[3:5] == ["", env.account_id], arn
            else:
                assert parts[3] in regions and parts[4] == env.account_id, arn


@pytest.mark.parametrize("env_name", ENVS)
def test_the_policy_fits_the_managed_policy_limit(env_name: str):
    env = load_environment(env_name)
    document = permissions_policy(env)
    assert size(document) == iam_policy.policy_size(document) <= 6144
    assert size(trust_policy(env, REPO)) <= 2048  # IAM's default trust policy limit


def test_policies_are_json_and_deterministic():
    for env_name in ENVS:
        env = load_environment(env_name)
        first = json.dumps(policies(env, REPO))
        assert first == json.dumps(policies(env, REPO))
        again = json.loads(first)
        assert again == policies(env, REPO)
        assert set(again) == {"role_name", "trust_policy", "permissions_policy"}
        assert again["role_name"] == role_name(env) == f"bbws-infra-deploy-{env_name}"


# --- trust --------------------------------------------------------------------------------


@pytest.mark.parametrize("env_name", ENVS)
def test_trust_admits_only_jobs_bound_to_the_github_environment(env_name: str):
    env = load_environment(env_name)
    document = trust_policy(env, REPO)
    assert document["Version"] == "2012-10-17"
    [statement] = document["Statement"]
    assert statement["Sid"] and statement["Effect"] == "Allow"
    assert statement["Principal"] == {"Federated": (
        f"arn:aws:iam::{env.account_id}:oidc-provider/token.actions.githubusercontent.com")}
    assert statement["Action"] == ["sts:AssumeRoleWithWebIdentity"]
    # StringEquals (not StringLike): exactly the env's two GitHub environments, no wildcard
    assert statement["Condition"] == {"StringEquals": {
        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
        "token.actions.githubusercontent.com:sub": [
            f"repo:{REPO}:environment:{env_name}", f"repo:{REPO}:environment:{env_name}-plan"],
    }}


@pytest.mark.parametrize("repository", ["", "acme", "acme/*", "acme/x:ref", "a/b/c", "*/x"])
def test_a_malformed_repository_is_refused(repository: str):
    with pytest.raises(UserError, match="is not of the form <owner>/<name>"):
        trust_policy(load_environment("dev"), repository)


# --- what is allowed ----------------------------------------------------------------------


@pytest.mark.parametrize("env_name", ENVS)
def test_state_backend_access_is_limited_to_the_state_keys_and_ledger(env_name: str):
    env = load_environment(env_name)
    bucket = f"arn:aws:s3:::{env.state_bucket}"
    assert resources_of(env_name, "s3:PutObject") == {
        f"{bucket}/2_1_bbws_dynamodb_schemas/*", f"{bucket}/2_1_bbws_s3_schemas/*",
        f"{bucket}/ledger/*"}
    # the ledger is append-only: nothing in the state bucket may be deleted
    assert not any(bucket in r for r in resources_of(env_name, "s3:DeleteObject"))
    assert resources_of(env_name, "s3:GetObjectVersion") == resources_of(env_name,
                                                                         "s3:PutObject")
    assert bucket in resources_of(env_name, "s3:ListBucketVersions")
    assert resources_of(env_name, "dynamodb:PutItem") == {
        f"arn:aws:dynamodb:{env.region}:{env.account_id}:table/{env.lock_table}"}
    for action in ("dynamodb:GetItem", "dynamodb:DeleteItem"):
        assert resources_of(env_name, action) == resources_of(env_name, "dynamodb:PutItem")


@pytest.mark.parametrize("env_name", ENVS)
def test_tables_come_from_the_schema_files(env_name: str):
    env = load_environment(env_name)
    tables = sorted(schemas.load_table_definition(p).table_name for p in schemas.schema_files())
    assert tables == ["campaigns", "products", "tenants"]
    prefix = f"arn:aws:dynamodb:{env.region}:{env.account_id}:table/"
    for action in ("dynamodb:CreateTable", "dynamodb:UpdateTable", "dynamodb:DeleteTable",
                   "dynamodb:CreateBackup", "dynamodb:UpdateContinuousBackups"):
        assert resources_of(env_name, action) == {prefix + t for t in tables}, action
    assert resources_of(env_name, "dynamodb:DescribeBackup") == {
        f"{prefix}{t}/backup/*" for t in tables}


def test_buckets_follow_each_environments_tfvars():
    def buckets(env_name: str) -> set[str]:
        return {r.removeprefix("arn:aws:s3:::") for r in resources_of(env_name, "s3:Put*")}

    assert buckets("dev") == {"bbws-templates-dev", "bbws-templates-dev/*",
                              "bbws-templates-dev-logs", "bbws-templates-dev-logs/*"}
    assert buckets("prod") == {f"bbws-templates-prod{suffix}{objects}"
                               for suffix in ("", "-logs", "-replica")
                               for objects in ("", "/*")}
    # the state bucket is never managed like the template buckets
    assert not any("terraform-state" in b for e in ENVS for b in buckets(e))


def test_dr_resources_only_where_the_environment_uses_dr():
    for env_name in ("dev", "sit"):
        text = json.dumps(permissions_policy(load_environment(env_name)))
        assert "eu-west-1" not in text and "-replica" not in text
        assert "-replication" not in text and "-dr" not in text
    prod = load_environment("prod")
    vaults = resources_of("prod", "backup:CreateBackupVault")
    assert {f"arn:aws:backup:eu-west-1:{prod.account_id}:backup-vault:bbws-{t}-prod-dr"
            for t in ("campaigns", "products", "tenants")} <= vaults
    assert len(vaults) == 6


@pytest.mark.parametrize("env_name", ENVS)
def test_iam_reaches_only_the_service_roles_and_never_the_deploy_role(env_name: str):
    env = load_environment(env_name)
    backup = {f"arn:aws:iam::{env.account_id}:role/bbws-{t}-{env_name}-backup"
              for t in ("campaigns", "products", "tenants")}
    replication = ({f"arn:aws:iam::{env.account_id}:role/bbws-templates-{env_name}-replication"}
                   if env.values["replication_enabled"] else set())
    iam_resources = {r for s in statements(env_name) for a in s["Action"]
                     if a.startswith("iam:") for r in s["Resource"]}
    assert iam_resources == backup | replication
    assert role_name(env) not in json.dumps(permissions_policy(env))
    # managed policies: only the two AWS Backup ones, only on the backup roles
    attach = by_sid(env_name)["OnlyAwsBackupPoliciesOnBackupRoles"]
    assert set(attach["Resource"]) == backup
    assert attach["Condition"] == {"ArnEquals": {"iam:PolicyARN": [
        "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup",
        "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForRestores"]}}
    assert resources_of(env_name, "iam:PutRolePolicy") == replication


@pytest.mark.parametrize("env_name", ENVS)
def test_pass_role_names_the_service_it_goes_to(env_name: str):
    passing = [s for s in statements(env_name) if "iam:PassRole" in s["Action"]]
    assert passing
    for statement in passing:
        assert statement["Action"] == ["iam:PassRole"]
        service = statement["Condition"]["StringEquals"]["iam:PassedToService"]
        suffix = {"backup.amazonaws.com": "-backup", "s3.amazonaws.com": "-replication"}[service]
        assert all(r.endswith(suffix) for r in statement["Resource"])


@pytest.mark.parametrize("env_name", ENVS)
def test_kms_use_only_through_aws_backup(env_name: str):
    for statement in statements(env_name):
        scoped = [a for a in statement["Action"] if a.startswith("kms:")]
        if scoped and statement["Resource"] != ["*"]:
            services = statement["Condition"]["StringEquals"]["kms:ViaService"]
            assert services and all(re.fullmatch(r"backup\.[a-z0-9-]+\.amazonaws\.com", s)
                                    for s in services)


# --- the previous environment's ledger ----------------------------------------------------


def test_the_first_environment_reads_no_other_ledger():
    text = json.dumps(permissions_policy(load_environment("dev")))
    assert "Promote" not in text
    assert not any(other in text for other in ("state-sit", "state-prod"))


@pytest.mark.parametrize(("env_name", "previous"), [("sit", "dev"), ("prod", "sit")])
def test_later_environments_read_only_the_previous_ledger(env_name: str, previous: str):
    sids = by_sid(env_name)
    listing, reading = sids["PromoteListsPreviousEnvLedger"], sids["PromoteReadsPreviousEnvLedger"]
    bucket = f"arn:aws:s3:::bbws-terraform-state-{previous}"
    assert (listing["Action"], listing["Resource"]) == (["s3:ListBucket"], [bucket])
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["ledger/*"]}}
    assert (reading["Action"], reading["Resource"]) == (["s3:GetObject"], [f"{bucket}/ledger/*"])
    # nothing else of any other environment
    others = [e for e in ENVS if e not in (env_name, previous)]
    text = json.dumps(permissions_policy(load_environment(env_name)))
    assert not any(f"state-{o}" in text for o in others)


@pytest.mark.parametrize(("previous", "reader"), [("dev", "sit"), ("sit", "prod")])
def test_the_previous_state_bucket_lets_the_reader_role_read_its_ledger(previous: str,
                                                                        reader: str):
    previous_env, reader_env = load_environment(previous), load_environment(reader)
    document = ledger_read_bucket_policy(previous_env, reader_env)
    assert document["Version"] == "2012-10-17"
    role = f"arn:aws:iam::{reader_env.account_id}:role/bbws-infra-deploy-{reader}"
    bucket = f"arn:aws:s3:::bbws-terraform-state-{previous}"
    assert [(s["Principal"], s["Action"], s["Resource"], s.get("Condition"))
            for s in document["Statement"]] == [
        ({"AWS": role}, ["s3:ListBucket"], [bucket],
         {"StringLike": {"s3:prefix": ["ledger/*"]}}),
        ({"AWS": role}, ["s3:GetObject"], [f"{bucket}/ledger/*"], None),
    ]
    assert all(s["Sid"] and s["Effect"] == "Allow" for s in document["Statement"])
    # it mirrors the reader's own statements exactly
    own = [(s["Action"], s["Resource"], s.get("Condition")) for s in statements(reader)
           if s["Sid"].startswith("Promote")]
    assert own == [(s["Action"], s["Resource"], s.get("Condition"))
                   for s in document["Statement"]]


@pytest.mark.parametrize(("previous", "reader"), [("dev", "prod"), ("sit", "dev"),
                                                  ("prod", "sit"), ("dev", "dev")])
def test_only_the_promotion_order_pairs_get_a_ledger_policy(previous: str, reader: str):
    with pytest.raises(UserError, match="only that environment's ledger is read"):
        ledger_read_bucket_policy(load_environment(previous), load_environment(reader))
