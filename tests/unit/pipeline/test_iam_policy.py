"""The two GitHub OIDC roles of each environment: who may assume them, what each may do (proven
by evaluating the policies, tests/support/iam_evaluation.py), and the ledger's write-once rules."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from bbws_infra.core.errors import UserError
from bbws_infra.core.registry import BREAK_GLASS, COMPONENTS, PROMOTION_ORDER, load_environment
from bbws_infra.inputs import schemas
from bbws_infra.pipeline import iam_documents
from bbws_infra.pipeline.iam_guards import ledger_guard_policy
from bbws_infra.pipeline.iam_policy import (
    DEPLOY,
    PLAN,
    ROLES,
    ledger_read_bucket_policy,
    permissions_policy,
    policies,
    previous_env_read_policy,
    role_arn,
    role_name,
    trust_policy,
)
from bbws_infra.release import canary
from bbws_infra.state import state_backend
from tests.support.iam_evaluation import (
    ALLOW,
    DENY,
    Request,
    access_level,
    allowed,
    could_allow,
    could_allow_all,
    decide,
    decide_all,
    expand,
    write_actions,
)

REPO = "acme/bbws-infra"
ENVS = list(PROMOTION_ORDER)
ENV_ROLES = [(e, r) for e in ENVS for r in ROLES]
# The only actions that may have Resource "*": IAM cannot scope them to a resource. (No
# sts:GetCallerIdentity: it needs no permission.)
NEEDS_STAR = {
    PLAN: {"dynamodb:ListBackups", "backup:ListBackupPlans", "kms:ListAliases"},
    DEPLOY: {"backup:ListBackupPlans", "backup-storage:MountCapsule", "kms:ListAliases"},
}
# Every service either role touches: the plan role must be refused each one's write actions.
SERVICES = ("s3", "dynamodb", "backup", "backup-storage", "iam", "kms", "sts")
OIDC = "token.actions.githubusercontent.com"
IF_NONE_MATCH = {"s3:if-none-match": "*"}


def statements(env_name: str, role: str = DEPLOY) -> list[dict[str, Any]]:
    """The Allow statements the role holds: its permissions policy and, after the first env,
    the previous-environment read policy attached beside it."""
    env = load_environment(env_name)
    reads = previous_env_read_policy(env)
    return [*permissions_policy(env, role)["Statement"], *(reads["Statement"] if reads else [])]


def by_sid(env_name: str, role: str = DEPLOY) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in statements(env_name, role)}


def resources_of(env_name: str, action: str, role: str = DEPLOY) -> set[str]:
    return {r for s in statements(env_name, role)
            if s["Effect"] == "Allow" and action in s["Action"] for r in s["Resource"]}


def size(document: dict[str, Any]) -> int:
    return len(re.sub(r"\s", "", json.dumps(document)))


def policy(env_name: str, role: str) -> dict[str, Any]:
    """What the role holds: its permissions policy, the previous-environment read policy and
    the ledger guard policy."""
    env = load_environment(env_name)
    return {"Version": "2012-10-17",
            "Statement": [*statements(env_name, role), *ledger_guard_policy(env)["Statement"]]}


def lock_and_digest_ids(env_name: str) -> tuple[list[str], list[str]]:
    env = load_environment(env_name)
    keys = [c.state_key for c in COMPONENTS.values()]
    return ([f"{env.state_bucket}/{k}" for k in keys],
            [f"{env.state_bucket}/{k}-md5" for k in keys])


def env_resources(env_name: str) -> list[str]:
    """An ARN of every kind of resource either role could reach in the env's account: the
    state bucket and its objects, the ledger, the template buckets and objects, tables with
    their indexes, streams and backups, the lock table, vaults, plans, roles, keys."""
    env = load_environment(env_name)
    account, region = env.account_id, env.region
    state = f"arn:aws:s3:::{env.state_bucket}"
    buckets = [f"arn:aws:s3:::bbws-templates-{env_name}{s}" for s in ("", "-logs", "-replica")]
    tables = [f"arn:aws:dynamodb:{region}:{account}:table/{t}"
              for t in ("campaigns", "products", "tenants")]
    regions = {env.region, env.dr_region}
    return [
        state, f"{state}/ledger/tenants/20260101T000000Z-apply-0a1b2c3d.json",
        *(f"{state}/{c.state_key}" for c in COMPONENTS.values()),
        *buckets, *(f"{b}/templates/welcome.html" for b in buckets),
        *tables, *(f"{t}/index/ByEmail" for t in tables), *(f"{t}/stream/x" for t in tables),
        *(f"{t}/backup/01234567890123-abcdefgh" for t in tables),
        *(f"arn:aws:backup:{r}:{account}:backup-vault:bbws-tenants-{env_name}{s}"
          for r in regions for s in ("", "-dr")),
        f"arn:aws:backup:{region}:{account}:backup-plan:0123abcd",
        f"arn:aws:backup:{region}:{account}:recovery-point:x",
        *(f"arn:aws:iam::{account}:role/{n}" for n in (
            f"bbws-tenants-{env_name}-backup", f"bbws-templates-{env_name}-replication",
            role_name(env, PLAN), role_name(env, DEPLOY))),
        *(f"arn:aws:kms:{r}:{account}:key/0123abcd" for r in regions),
        f"arn:aws:kms:{region}:{account}:alias/aws/dynamodb",
        "*",
    ]


# --- structure ----------------------------------------------------------------------------


@pytest.mark.parametrize(("env_name", "role"), ENV_ROLES)
def test_every_statement_is_complete_and_explained(env_name: str, role: str):
    env = load_environment(env_name)
    reads = previous_env_read_policy(env)
    assert (reads is None) == (env_name == PROMOTION_ORDER[0])
    for document in (permissions_policy(env, role), ledger_guard_policy(env), *([reads] if reads
                                                                             else [])):
        _check_structure(document)
    # Deny statements live in the guard policies only, and the ledger guard holds nothing but
    # Denies on the state bucket's ledger, state objects and versions
    assert {s["Effect"] for s in permissions_policy(env, role)["Statement"]} == {"Allow"}
    guard = ledger_guard_policy(env)["Statement"]
    assert {s["Effect"] for s in guard} == {"Deny"}
    bucket = f"arn:aws:s3:::bbws-terraform-state-{env_name}"
    assert {r for s in guard for r in s["Resource"]} == {
        f"{bucket}/ledger/*", f"{bucket}/ledger-intents/*", f"{bucket}/*",
        *(f"{bucket}/{c.state_key}" for c in COMPONENTS.values())}


def _check_structure(document: dict[str, Any]) -> None:
    assert set(document) == {"Version", "Statement"}
    assert document["Version"] == "2012-10-17"
    sids = [s["Sid"] for s in document["Statement"]]
    assert len(sids) == len(set(sids)), "Sids must be unique"
    for statement in document["Statement"]:
        assert set(statement) >= {"Sid", "Effect", "Action", "Resource"}
        assert set(statement) <= {"Sid", "Effect", "Action", "Resource", "Condition"}
        assert re.fullmatch(r"[A-Z][A-Za-z0-9]{7,}", statement["Sid"])  # IAM: alphanumeric
        assert statement["Effect"] in ("Allow", "Deny")
        assert statement["Action"] and statement["Resource"]
        assert statement["Action"] == sorted(set(statement["Action"]))
        assert statement["Resource"] == sorted(set(statement["Resource"]))


@pytest.mark.parametrize(("env_name", "role"), ENV_ROLES)
def test_no_action_wildcard_and_star_resource_only_where_unavoidable(env_name: str, role: str):
    for statement in statements(env_name, role):
        for action in statement["Action"]:
            assert action != "*" and not action.endswith(":*"), action
            assert re.fullmatch(r"[a-z0-9-]+:[A-Za-z]+\*?", action), action
            assert expand(action), f"{action} is no AWS action"  # no typo, no invention
        if "*" in statement["Resource"]:
            assert statement["Resource"] == ["*"]
            assert set(statement["Action"]) <= NEEDS_STAR[role], statement["Sid"]
    star = {a for s in statements(env_name, role) if s["Resource"] == ["*"]
            for a in s["Action"]}
    assert star == NEEDS_STAR[role]


@pytest.mark.parametrize(("env_name", "role"), ENV_ROLES)
def test_every_resource_is_in_this_account_and_its_regions(env_name: str, role: str):
    env = load_environment(env_name)
    regions = {env.region, env.dr_region} if env.uses_dr else {env.region}
    for statement in statements(env_name, role):
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


@pytest.mark.parametrize(("env_name", "role"), ENV_ROLES)
def test_the_policy_fits_the_managed_policy_limit(env_name: str, role: str):
    env = load_environment(env_name)
    document = permissions_policy(env, role)
    assert size(document) == iam_documents.policy_size(document) <= 6144
    assert size(ledger_guard_policy(env)) <= 6144
    assert size(trust_policy(env, REPO, role)) <= 2048  # IAM's default trust policy limit


def test_policies_are_json_and_deterministic():
    for env_name in ENVS:
        env = load_environment(env_name)
        first = json.dumps(policies(env, REPO))
        assert first == json.dumps(policies(env, REPO))
        again = json.loads(first)
        assert again == policies(env, REPO)
        first_env = env_name == PROMOTION_ORDER[0]
        protected = env.deletion_protection
        assert set(again) == {
            "plan_role", "deploy_role", "ledger_guard_policy", "account_health_read_policy",
            "monitoring_read_policy", "monitoring_write_policy", "data_read_policy",
            "data_write_policy", *(() if first_env else ("previous_env_read_policy",)),
            *(("break_glass_role", "protected_deletes_guard_policy") if protected else ())}
        both = [f"bbws-infra-plan-{env_name}", f"bbws-infra-deploy-{env_name}",
                *([f"bbws-infra-break-glass-{env_name}"] if protected else [])]
        assert again["ledger_guard_policy"] == {
            "policy_name": f"bbws-infra-ledger-guard-{env_name}", "attach_to": both,
            "policy_document": ledger_guard_policy(env)}
        if not first_env:
            assert again["previous_env_read_policy"] == {
                "policy_name": f"bbws-infra-previous-env-read-{env_name}", "attach_to": both,
                "policy_document": previous_env_read_policy(env)}
        for role in ROLES:
            documents = again[f"{role}_role"]
            assert set(documents) == {"role_name", "role_arn", "github_environment",
                                      "trust_policy", "permissions_policy",
                                      "max_session_duration"}
            assert documents["role_name"] == role_name(env, role) == (
                f"bbws-infra-{role}-{env_name}")
            assert documents["role_arn"] == role_arn(env, role) == (
                f"arn:aws:iam::{env.account_id}:role/bbws-infra-{role}-{env_name}")
            assert documents["github_environment"] == (
                env_name if role == DEPLOY else f"{env_name}-plan")


# --- trust --------------------------------------------------------------------------------


def _subjects(env_name: str) -> list[str]:
    """Every `sub` a job of this repository (or another) could present: each env's GitHub
    environments and approval environments, a branch, a pull request, a tag."""
    names = [n for e in ENVS for n in (e, f"{e}-plan", f"{e}-approval-1", f"{e}-approval-2")]
    return [*(f"repo:{REPO}:environment:{n}" for n in names),
            f"repo:acme/other:environment:{env_name}", f"repo:acme/other:environment:"
            f"{env_name}-plan", f"repo:{REPO}:ref:refs/heads/main",
            f"repo:{REPO}:pull_request", f"repo:{REPO}:ref:refs/tags/v1"]


def _assumable_by(env_name: str, role: str) -> set[str]:
    env = load_environment(env_name)
    provider = f"arn:aws:iam::{env.account_id}:oidc-provider/{OIDC}"
    document = trust_policy(env, REPO, role)
    subjects = _subjects(env_name)
    decisions = decide_all(document, [Request(
        "sts:AssumeRoleWithWebIdentity", role_arn(env, role), principal=provider,
        context={f"{OIDC}:aud": "sts.amazonaws.com", f"{OIDC}:sub": sub}) for sub in subjects])
    return {sub for sub, decision in zip(subjects, decisions, strict=True) if decision == ALLOW}


@pytest.mark.parametrize("env_name", ENVS)
def test_each_role_trusts_exactly_one_github_environment_and_none_both(env_name: str):
    assert _assumable_by(env_name, DEPLOY) == {f"repo:{REPO}:environment:{env_name}"}
    assert _assumable_by(env_name, PLAN) == {f"repo:{REPO}:environment:{env_name}-plan"}
    # a job that plans (the pull request's own code) never gets the deploy role, and the
    # approved job never needs the plan role: no subject opens both
    assert not _assumable_by(env_name, DEPLOY) & _assumable_by(env_name, PLAN)


@pytest.mark.parametrize(("env_name", "role"), ENV_ROLES)
def test_trust_admits_only_jobs_bound_to_the_github_environment(env_name: str, role: str):
    env = load_environment(env_name)
    document = trust_policy(env, REPO, role)
    assert document["Version"] == "2012-10-17"
    [statement] = document["Statement"]
    assert statement["Sid"] and statement["Effect"] == "Allow"
    assert statement["Principal"] == {"Federated": (
        f"arn:aws:iam::{env.account_id}:oidc-provider/token.actions.githubusercontent.com")}
    assert statement["Action"] == ["sts:AssumeRoleWithWebIdentity"]
    github_environment = env_name if role == DEPLOY else f"{env_name}-plan"
    # StringEquals (not StringLike): exactly one GitHub environment, no wildcard
    assert statement["Condition"] == {"StringEquals": {
        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
        "token.actions.githubusercontent.com:sub": [
            f"repo:{REPO}:environment:{github_environment}"],
    }}
    # the wrong audience is refused too
    provider = statement["Principal"]["Federated"]
    assert not allowed(document, Request(
        "sts:AssumeRoleWithWebIdentity", "*", principal=provider,
        context={f"{OIDC}:aud": "other", f"{OIDC}:sub": f"repo:{REPO}:environment:"
                 f"{github_environment}"}))


@pytest.mark.parametrize("repository", ["", "acme", "acme/*", "acme/x:ref", "a/b/c", "*/x"])
def test_a_malformed_repository_is_refused(repository: str):
    for role in ROLES:
        with pytest.raises(UserError, match="is not of the form <owner>/<name>"):
            trust_policy(load_environment("dev"), repository, role)


# --- the plan role can change nothing -----------------------------------------------------


@pytest.mark.parametrize("env_name", ENVS)
def test_the_plan_role_is_refused_every_write_action_on_every_resource(env_name: str):
    """AWS's own list of write actions (access levels Write, Permissions management,
    Tagging) of every service the roles touch, against every resource of the env: none can
    be allowed under any request context, except taking and releasing a state lock."""
    document = policy(env_name, PLAN)
    lock_table = f"arn:aws:dynamodb:{load_environment(env_name).region}:" \
                 f"{load_environment(env_name).account_id}:table/terraform-state-lock-{env_name}"
    # ("*" asks for some resource: the lock table and the lock objects are some)
    locking = {(a, r) for a in ("dynamodb:PutItem", "dynamodb:DeleteItem")
               for r in (lock_table, "*")} | {("s3:PutObject", "*"), ("s3:DeleteObject", "*")}
    resources = [*env_resources(env_name), lock_table, "*"]  # "*": actions that take none
    writes = [a for service in SERVICES for a in write_actions(service)]
    assert len(writes) > 300  # the database really was read
    pairs = [(a, r) for a in writes for r in resources]
    allowed_writes = {p for p, ok in zip(pairs, could_allow_all(document, pairs), strict=True)
                      if ok}
    assert allowed_writes == locking


@pytest.mark.parametrize("env_name", ENVS)
def test_everything_the_plan_role_allows_reads_or_lists(env_name: str):
    """The other direction: each action the plan role is granted, wildcards expanded through
    AWS's list, is of access level Read or List; the two lock-table writes carry their
    LeadingKeys condition, and the lock objects are all it may create (only where none
    exists) or remove."""
    lock_objects = [f"arn:aws:s3:::{load_environment(env_name).state_bucket}/*.tflock"]
    for statement in statements(env_name, PLAN):
        if statement["Effect"] == "Deny":
            continue
        for action in (a for pattern in statement["Action"] for a in expand(pattern)):
            if access_level(action) in ("Read", "List"):
                continue
            if action.startswith("s3:"):
                assert action in ("s3:PutObject", "s3:DeleteObject"), action
                assert statement["Resource"] == lock_objects
                if action == "s3:PutObject":
                    assert statement["Condition"] == {"Null": {"s3:if-none-match": "false"}}
                continue
            assert action in ("dynamodb:PutItem", "dynamodb:DeleteItem"), action
            assert "dynamodb:LeadingKeys" in json.dumps(statement["Condition"])


@pytest.mark.parametrize("env_name", ENVS)
def test_the_plan_role_locks_states_but_never_touches_their_digests(env_name: str):
    env = load_environment(env_name)
    document = policy(env_name, PLAN)
    table = f"arn:aws:dynamodb:{env.region}:{env.account_id}:table/{env.lock_table}"
    locks, digests = lock_and_digest_ids(env_name)
    # the lock item of each state is Terraform's `<bucket>/<key>`, as doctor and unlock read it
    assert locks == [state_backend.lock_id(env, c.state_key) for c in COMPONENTS.values()]
    assert digests == [state_backend.digest_id(env, c.state_key) for c in COMPONENTS.values()]

    def request(action: str, *keys: str) -> Request:
        context = {"dynamodb:LeadingKeys": list(keys)} if keys else {}
        return Request(action, table, context)

    for action in ("dynamodb:PutItem", "dynamodb:DeleteItem"):
        for lock in locks:
            assert allowed(document, request(action, lock)), (action, lock)
        for digest in digests:  # overwriting a digest would break the next state read
            assert not allowed(document, request(action, digest)), (action, digest)
        assert not allowed(document, request(action, locks[0], digests[0]))
        assert not allowed(document, request(action))  # no key in the context: refused
        assert not allowed(document, request(action, f"{env.state_bucket}/other/key"))
    for action in ("dynamodb:UpdateItem", "dynamodb:BatchWriteItem",
                   "dynamodb:PartiQLUpdate", "dynamodb:PartiQLInsert"):
        assert not could_allow(document, action, table), action
    # reading a lock (unlock checks who holds it) and a digest (every state read) is allowed
    for item in (locks[0], digests[0]):
        assert allowed(document, request("dynamodb:GetItem", item))
    assert allowed(document, request("dynamodb:DescribeTable"))
    # the deploy role writes digests (Terraform on each state write, doctor --fix-digest)
    assert allowed(policy(env_name, DEPLOY), request("dynamodb:PutItem", digests[0]))


@pytest.mark.parametrize("env_name", ENVS)
def test_the_plan_role_reads_state_ledger_and_previous_ledger(env_name: str):
    env = load_environment(env_name)
    document = policy(env_name, PLAN)
    bucket = f"arn:aws:s3:::{env.state_bucket}"
    for component in COMPONENTS.values():
        state = f"{bucket}/{component.state_key}"
        for action in ("s3:GetObject", "s3:GetObjectVersion"):
            assert allowed(document, Request(action, state))
        assert not could_allow(document, "s3:PutObject", state)
    ledger = f"{bucket}/ledger/tenants/20260101T000000Z-apply-0a1b2c3d.json"
    assert allowed(document, Request("s3:GetObject", ledger))
    for action in ("s3:ListBucket", "s3:ListBucketVersions", "s3:GetBucketVersioning"):
        assert allowed(document, Request(action, bucket))
    # records are write-once: no earlier version of one to read
    assert not could_allow(document, "s3:GetObjectVersion", ledger)
    index = PROMOTION_ORDER.index(env_name)
    if index:  # a promotion's plan job checks the previous env's ledger
        previous = f"arn:aws:s3:::bbws-terraform-state-{PROMOTION_ORDER[index - 1]}"
        assert allowed(document, Request("s3:GetObject", f"{previous}/ledger/tenants/x.json"))
        assert allowed(document, Request("s3:ListBucket", previous, {"s3:prefix": "ledger/"}))
        assert not allowed(document, Request("s3:ListBucket", previous, {"s3:prefix": ""}))
        # the state versions its records name, read only (a record counts only when the
        # version exists as recorded)
        state = f"{previous}/2_1_bbws_dynamodb_schemas/tenants/terraform.tfstate"
        assert allowed(document, Request("s3:GetObjectVersion", state))
        assert not could_allow(document, "s3:PutObject", state)


# --- the ledger is written once, by the deploy role, and never deleted ---------------------


@pytest.mark.parametrize("env_name", ENVS)
def test_only_the_deploy_role_writes_the_ledger_and_only_new_records(env_name: str):
    env = load_environment(env_name)
    record = f"arn:aws:s3:::{env.state_bucket}/ledger/tenants/20260101T000000Z-apply-0a.json"
    deploy, plan = policy(env_name, DEPLOY), policy(env_name, PLAN)
    # with If-None-Match: * S3 refuses to replace an existing key (412), so this only creates
    assert decide(deploy, Request("s3:PutObject", record, IF_NONE_MATCH)) == ALLOW
    # without it the write could overwrite a record: denied outright, whatever else allows it
    assert decide(deploy, Request("s3:PutObject", record)) == DENY
    assert not allowed(plan, Request("s3:PutObject", record, IF_NONE_MATCH))
    assert not could_allow(plan, "s3:PutObject", record)
    # the state objects themselves are rewritten by Terraform: no condition there
    state = f"arn:aws:s3:::{env.state_bucket}/{COMPONENTS['tenants'].state_key}"
    assert decide(deploy, Request("s3:PutObject", state)) == ALLOW


@pytest.mark.parametrize(("env_name", "role"), ENV_ROLES)
def test_no_role_may_delete_a_ledger_record(env_name: str, role: str):
    env = load_environment(env_name)
    document = policy(env_name, role)
    record = f"arn:aws:s3:::{env.state_bucket}/ledger/tenants/20260101T000000Z-apply-0a.json"
    for action in ("s3:DeleteObject", "s3:DeleteObjectVersion"):
        # an explicit Deny: no other policy attached to the role can grant it back
        assert decide(document, Request(action, record)) == DENY
        assert decide(document, Request(action, record, IF_NONE_MATCH)) == DENY
    assert not could_allow(document, "s3:DeleteObject", f"arn:aws:s3:::{env.state_bucket}/"
                           f"{COMPONENTS['tenants'].state_key}")


# --- what the deploy role is allowed ------------------------------------------------------


@pytest.mark.parametrize("env_name", ENVS)
def test_state_backend_access_is_limited_to_the_state_keys_and_ledger(env_name: str):
    env = load_environment(env_name)
    bucket = f"arn:aws:s3:::{env.state_bucket}"
    assert resources_of(env_name, "s3:PutObject") == {
        f"{bucket}/2_1_bbws_dynamodb_schemas/*", f"{bucket}/2_1_bbws_s3_schemas/*",
        f"{bucket}/2_1_bbws_monitoring/*", f"{bucket}/ledger/*", f"{bucket}/ledger-intents/*"}
    # the ledger is append-only: nothing in the state bucket may be deleted but the S3
    # backend's lock objects
    assert {r for r in resources_of(env_name, "s3:DeleteObject") if bucket in r} == {
        f"{bucket}/*.tflock"}
    # earlier state versions (a rollback), never of ledger records (write-once)
    own = {r for r in resources_of(env_name, "s3:GetObjectVersion") if r.startswith(bucket)}
    assert own == {f"{bucket}/2_1_bbws_dynamodb_schemas/*", f"{bucket}/2_1_bbws_s3_schemas/*",
                   f"{bucket}/2_1_bbws_monitoring/*"}
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
                   "dynamodb:UpdateContinuousBackups"):
        assert resources_of(env_name, action) == {prefix + t for t in tables}, action
    # pre-deploy backups (and waiting for them) only where the env takes them
    backups = {prefix + t for t in tables} if env.pre_deploy_backup else set()
    assert resources_of(env_name, "dynamodb:CreateBackup") == backups
    assert resources_of(env_name, "dynamodb:DescribeBackup") == {f"{b}/backup/*"
                                                                 for b in backups}
    assert not resources_of(env_name, "dynamodb:DescribeBackup", PLAN)


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
    for env_name, role in ((e, r) for e in ("dev", "sit") for r in ROLES):
        text = json.dumps(permissions_policy(load_environment(env_name), role))
        assert "eu-west-1" not in text and "-replica" not in text
        assert "-replication" not in text and "-dr" not in text
    prod = load_environment("prod")
    vaults = resources_of("prod", "backup:CreateBackupVault")
    assert {f"arn:aws:backup:eu-west-1:{prod.account_id}:backup-vault:bbws-{t}-prod-dr"
            for t in ("campaigns", "products", "tenants")} <= vaults
    assert len(vaults) == 6


@pytest.mark.parametrize("env_name", ENVS)
def test_iam_reaches_only_the_service_roles_and_never_the_github_roles(env_name: str):
    env = load_environment(env_name)
    backup = {f"arn:aws:iam::{env.account_id}:role/bbws-{t}-{env_name}-backup"
              for t in ("campaigns", "products", "tenants")}
    replication = ({f"arn:aws:iam::{env.account_id}:role/bbws-templates-{env_name}-replication"}
                   if env.values["replication_enabled"] else set())
    iam_resources = {r for s in statements(env_name) for a in s["Action"]
                     if a.startswith("iam:") for r in s["Resource"]}
    assert iam_resources == backup | replication
    # the plan role only reads them
    plan = {a for s in statements(env_name, PLAN) for a in s["Action"] if a.startswith("iam:")}
    assert plan and all(a.startswith(("iam:Get", "iam:List")) for a in plan)
    for role in ROLES:
        text = json.dumps(permissions_policy(env, role))
        assert role_name(env, PLAN) not in text and role_name(env, DEPLOY) not in text
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


@pytest.mark.parametrize("role", ROLES)
def test_the_first_environment_reads_no_other_ledger(role: str):
    text = json.dumps(permissions_policy(load_environment("dev"), role))
    assert "Promote" not in text
    assert not any(other in text for other in ("state-sit", "state-prod"))


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("env_name", "previous"), [("sit", "dev"), ("prod", "sit")])
def test_later_environments_read_only_the_previous_ledger(env_name: str, previous: str,
                                                          role: str):
    sids = by_sid(env_name, role)
    listing, reading = sids["PromoteListsPreviousEnvLedger"], sids["PromoteReadsPreviousEnvLedger"]
    bucket = f"arn:aws:s3:::bbws-terraform-state-{previous}"
    assert (listing["Action"], listing["Resource"]) == (["s3:ListBucket"], [bucket])
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["ledger/*"]}}
    assert (reading["Action"], reading["Resource"]) == (["s3:GetObject"], [f"{bucket}/ledger/*"])
    # nothing else of any other environment
    others = [e for e in ENVS if e not in (env_name, previous)]
    text = json.dumps(permissions_policy(load_environment(env_name), role))
    assert not any(f"state-{o}" in text for o in others)


@pytest.mark.parametrize(("previous", "reader"), [("dev", "sit"), ("sit", "prod")])
def test_the_previous_state_bucket_lets_the_reader_role_read_its_ledger(previous: str,
                                                                        reader: str):
    previous_env, reader_env = load_environment(previous), load_environment(reader)
    document = ledger_read_bucket_policy(previous_env, reader_env)
    assert document["Version"] == "2012-10-17"
    # both roles: a promotion's plan job (plan role) and its apply job (deploy role) check
    # that the previous env applied and verified the commit
    roles = sorted(f"arn:aws:iam::{reader_env.account_id}:role/bbws-infra-{r}-{reader}"
                   for r in ("deploy", "plan", *(("break-glass",)
                                                 if reader_env.deletion_protection else ())))
    bucket = f"arn:aws:s3:::bbws-terraform-state-{previous}"
    assert [(s["Principal"], s["Action"], s["Resource"], s.get("Condition"))
            for s in document["Statement"]] == [
        ({"AWS": roles}, ["s3:ListBucket"], [bucket],
         {"StringLike": {"s3:prefix": ["ledger/*"]}}),
        ({"AWS": roles}, ["s3:GetObject"], [f"{bucket}/ledger/*"], None),
        ({"AWS": roles}, ["s3:GetObjectVersion"],
         [f"{bucket}/2_1_bbws_dynamodb_schemas/*", f"{bucket}/2_1_bbws_monitoring/*",
          f"{bucket}/2_1_bbws_s3_schemas/*"], None),
    ]
    assert all(s["Sid"] and s["Effect"] == "Allow" for s in document["Statement"])
    # it mirrors each reader role's own statements exactly
    for role in ROLES:
        own = [(s["Action"], s["Resource"], s.get("Condition"))
               for s in statements(reader, role) if s["Sid"].startswith("Promote")]
        assert own == [(s["Action"], s["Resource"], s.get("Condition"))
                       for s in document["Statement"]]
    # and it lets them read, nothing else (the bucket policy evaluated for each role)
    for arn in roles:
        assert allowed(document, Request("s3:GetObject", f"{bucket}/ledger/tenants/x.json",
                                         principal=arn))
        assert not could_allow(document, "s3:PutObject", f"{bucket}/ledger/tenants/x.json", arn)
        assert not could_allow(document, "s3:PutObject", f"{bucket}/2_1_bbws_s3_schemas/x", arn)


@pytest.mark.parametrize(("previous", "reader"), [("dev", "prod"), ("sit", "dev"),
                                                  ("prod", "sit"), ("dev", "dev")])
def test_only_the_promotion_order_pairs_get_a_ledger_policy(previous: str, reader: str):
    with pytest.raises(UserError, match="only that environment's ledger is read"):
        ledger_read_bucket_policy(load_environment(previous), load_environment(reader))


# --- the monitoring component's policies (pipeline/iam_monitoring.py) ----------------------

MONITORING_SERVICES = ("sns", "kms", "cloudwatch", "events", "budgets", "backup")
# IAM cannot scope these to a resource: a key not created yet, a listing of backup jobs.
MONITORING_STAR = {"kms:CreateKey", "backup:ListBackupJobs"}


def monitoring_documents(env_name: str) -> dict[str, dict[str, Any]]:
    """The monitoring policies by role: what policies() attaches to each role's name."""
    env = load_environment(env_name)
    shared = policies(env, REPO)
    held: dict[str, dict[str, Any]] = {}
    for role in (*ROLES, *([BREAK_GLASS] if env.deletion_protection else [])):
        name = f"bbws-infra-{role}-{env_name}"
        held[role] = {"Version": "2012-10-17", "Statement": [
            s for key in ("monitoring_read_policy", "monitoring_write_policy")
            if name in shared[key]["attach_to"]
            for s in shared[key]["policy_document"]["Statement"]]}
    return held


def monitoring_resources(env_name: str) -> list[str]:
    """An ARN of every kind of resource the monitoring of env_name (and of another env in the
    same account and region, and any other) could be."""
    env = load_environment(env_name)
    account, region = env.account_id, env.region
    found = []
    for name in (env_name, "other"):
        found += [f"arn:aws:sns:{region}:{account}:bbws-alerts-{name}",
                  f"arn:aws:sns:{region}:{account}:bbws-alerts-{name}:0123-abcd",
                  f"arn:aws:kms:{region}:{account}:alias/bbws-alerts-{name}",
                  f"arn:aws:cloudwatch:{region}:{account}:alarm:bbws-tenants-read-throttles-"
                  f"{name}",
                  f"arn:aws:cloudwatch::{account}:dashboard/bbws-data-stores-{name}",
                  f"arn:aws:events:{region}:{account}:rule/bbws-backup-failures-{name}",
                  f"arn:aws:budgets::{account}:budget/bbws-monthly-cost-{name}"]
    return [*found, f"arn:aws:kms:{region}:{account}:key/0123abcd", "*"]


@pytest.mark.parametrize("env_name", ENVS)
def test_the_plan_role_holds_no_monitoring_write(env_name: str):
    """The plan role holds the monitoring read policy only: every action in it, wildcards
    expanded through AWS's list, is of access level Read or List, and no write action of any
    service the monitoring uses is allowed on any of its resources under any context."""
    held = monitoring_documents(env_name)
    plan = held[PLAN]
    env = load_environment(env_name)
    shared = policies(env, REPO)
    assert role_name(env, PLAN) not in shared["monitoring_write_policy"]["attach_to"]
    for statement in plan["Statement"]:
        for action in (a for pattern in statement["Action"] for a in expand(pattern)):
            assert access_level(action) in ("Read", "List"), action
    writes = [a for service in MONITORING_SERVICES for a in write_actions(service)]
    pairs = [(a, r) for a in writes for r in monitoring_resources(env_name)]
    assert not any(could_allow_all(plan, pairs))
    # while the roles that deploy may create each kind of resource of the monitoring
    region, account = env.region, env.account_id
    for role in (r for r in held if r != PLAN):
        assert could_allow_all(held[role], [
            ("sns:CreateTopic", f"arn:aws:sns:{region}:{account}:bbws-alerts-{env_name}"),
            ("kms:CreateKey", "*"),
            ("cloudwatch:PutMetricAlarm", f"arn:aws:cloudwatch:{region}:{account}:alarm:"
                                          f"bbws-tenants-read-throttles-{env_name}"),
            ("budgets:ModifyBudget",
             f"arn:aws:budgets::{account}:budget/bbws-monthly-cost-{env_name}")]) == [True] * 4


@pytest.mark.parametrize("env_name", ENVS)
def test_the_monitoring_grants_reach_only_the_names_monitoring_alerts_gives(env_name: str):
    """Each statement explained and complete; "*" only for the actions IAM cannot scope;
    every ARN in the env's account, named for the env (keys: any of the account's in its
    region, a key's id being generated)."""
    env = load_environment(env_name)
    shared = policies(env, REPO)
    for key in ("monitoring_read_policy", "monitoring_write_policy"):
        document = shared[key]["policy_document"]
        _check_structure(document)
        assert iam_documents.policy_size(document) <= 6144
        for statement in document["Statement"]:
            assert statement["Effect"] == "Allow"
            if statement["Resource"] == ["*"]:
                assert set(statement["Action"]) <= MONITORING_STAR, statement["Sid"]
                continue
            for arn in statement["Resource"]:
                parts = arn.split(":", 5)
                assert parts[4] == env.account_id, arn
                assert parts[3] == ("" if parts[2] == "budgets" or "dashboard/" in arn
                                    else env.region), arn
                assert arn.endswith((f"-{env_name}", f":{env.account_id}:key/*")), arn
    allowed_somewhere = {a for key in ("monitoring_read_policy", "monitoring_write_policy")
                         for s in shared[key]["policy_document"]["Statement"]
                         if s["Resource"] == ["*"] for a in s["Action"]}
    assert allowed_somewhere == MONITORING_STAR


# --- the tables' items (pipeline/iam_data.py) ---------------------------------------------


def _data_policy(env_name: str, role: str) -> dict[str, Any]:
    """The item policies a role of env_name holds, as one document."""
    env = load_environment(env_name)
    shared = policies(env, REPO)
    name = role_name(env, role)
    return {"Version": "2012-10-17", "Statement": [
        s for key in ("data_read_policy", "data_write_policy")
        if name in shared[key]["attach_to"] for s in shared[key]["policy_document"]["Statement"]]}


@pytest.mark.parametrize("env_name", ENVS)
def test_every_role_puts_and_deletes_only_canary_items(env_name: str):
    """Whichever role runs verify writes its canaries, and nothing else: PutItem and DeleteItem
    are allowed only where the partition key is a canary's (the keys release/canary.py builds);
    a customer's item, or a request naming no key, is refused. Only the deploying roles
    update items (a migration's conditional writes)."""
    env = load_environment(env_name)
    table = f"arn:aws:dynamodb:{env.region}:{env.account_id}:table/tenants"
    canary_key = f"TENANT#{canary.CANARY_UUID_PREFIX}4000-8000-000000000000"
    for role in (*ROLES, *([BREAK_GLASS] if env.deletion_protection else [])):
        policy = _data_policy(env_name, role)
        for action in ("dynamodb:PutItem", "dynamodb:DeleteItem"):
            # canaries only where the tfvars allow them (dev, sit; not prod)
            assert allowed(policy, Request(action, table, {
                "dynamodb:LeadingKeys": [canary_key]})) == env.verify_canary_writes
            assert allowed(policy, Request(action, table, {
                "dynamodb:LeadingKeys": ["CAMPAIGN#VERIFY-CANARY-0123456789AB"]})) \
                == env.verify_canary_writes
            assert not allowed(policy, Request(action, table, {
                "dynamodb:LeadingKeys": ["TENANT#936be1b8-0aa1-47c8-9265-146145b1aa41"]}))
            assert not allowed(policy, Request(action, table))
        assert allowed(policy, Request("dynamodb:Query", f"{table}/index/EmailIndex"))
        update = allowed(policy, Request("dynamodb:UpdateItem", table, {
            "dynamodb:LeadingKeys": ["TENANT#936be1b8-0aa1-47c8-9265-146145b1aa41"]}))
        assert update == (role != PLAN), role
        checkpoint = f"arn:aws:s3:::{env.state_bucket}/migrations/tenants/0001_x/checkpoint.json"
        assert allowed(policy, Request("s3:GetObject", checkpoint))
        assert allowed(policy, Request("s3:PutObject", checkpoint)) == (role != PLAN)
        # nothing here reaches the state objects or the ledger
        state = f"arn:aws:s3:::{env.state_bucket}/{COMPONENTS['tenants'].state_key}"
        assert not allowed(policy, Request("s3:PutObject", state))
        assert not allowed(policy, Request("s3:DeleteObject",
                                           f"arn:aws:s3:::{env.state_bucket}/ledger/x.json"))
