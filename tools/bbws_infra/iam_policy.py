"""The IAM role GitHub Actions assumes in each environment's account (OIDC, no stored keys),
and the least-privilege policy it holds: exactly what the task runner and Terraform
(hashicorp/aws 3.39.0) call for this project's resources, by name.

Every AWS job is bound to a GitHub environment. The trust policy admits two subjects per
account, `repo:<owner>/<repo>:environment:<env>` (the apply, promotion and rollback jobs, whose
environment requires reviewers) and `...:environment:<env>-plan` (plan and drift jobs, none
required); a job without an environment, or bound to another one, cannot assume the role.

Names are derived the way the Terraform names them: tables from the schema files'
x-dynamodb.tableName, backup vault/plan/role from dynamodb/table_main.tf and modules/backup
(`bbws-<component>-<env>`, `-dr`, `-backup`), buckets and the replication role from
s3/templates/main.tf and modules/replication (`bbws-<component>-<env>`, `-logs`, `-replica`,
`-replication`). Resources a feature creates (access-log bucket, replica bucket and its role,
DR vaults, anything in dr_region) are allowed only where the env's tfvars switch that feature
on, so the policy follows envs/<env>.tfvars: switching a feature on needs this policy updated
before the deployment; switching it off, only after the deployment removed what it made.

Later environments (sit, prod) also read the previous environment's ledger in that account's
state bucket (promotion picks the commit from it); that bucket's policy must allow it too:
ledger_read_bucket_policy() gives those statements. A bucket policy naming a role is accepted
only once the role exists, so create the roles first.
"""

from __future__ import annotations

import json
import re
from typing import Any

from bbws_infra import schemas
from bbws_infra.errors import UserError
from bbws_infra.ledger import PREFIX as LEDGER_PREFIX
from bbws_infra.paths import REPO_ROOT
from bbws_infra.registry import (
    COMPONENTS,
    PROMOTION_ORDER,
    STATE_KEY_PREFIXES,
    Environment,
)

GITHUB_OIDC_PROVIDER = "token.actions.githubusercontent.com"
GITHUB_AUDIENCE = "sts.amazonaws.com"
POLICY_VERSION = "2012-10-17"
# IAM's limit for a customer managed policy (white space not counted).
MANAGED_POLICY_MAX_CHARS = 6144
# The AWS-managed policies modules/backup attaches to each backup role; nothing else may be.
BACKUP_MANAGED_POLICIES = (
    "service-role/AWSBackupServiceRolePolicyForBackup",
    "service-role/AWSBackupServiceRolePolicyForRestores",
)
# Calls IAM cannot scope to a resource, each with the reason it is needed; the only "*".
UNSCOPED_ACTIONS = {
    "sts:GetCallerIdentity": "the task runner proves it holds the env's account first",
    "dynamodb:ListBackups": "invoke backups lists the on-demand backups",
    "backup:ListBackupPlans": "verify finds each backup plan by its name",
    "backup-storage:MountCapsule": "CreateBackupVault mounts the new vault's storage",
    "kms:ListAliases": "verify names each table's key by its alias (aws/dynamodb)",
}
_REPOSITORY = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}")


def role_name(env: Environment) -> str:
    """The deployment role of an environment, e.g. bbws-infra-deploy-dev."""
    return f"bbws-infra-deploy-{env.name}"


def role_arn(env: Environment) -> str:
    return f"arn:{_partition(env)}:iam::{env.account_id}:role/{role_name(env)}"


def oidc_provider_arn(env: Environment) -> str:
    """The GitHub OIDC identity provider, created once in each account."""
    return f"arn:{_partition(env)}:iam::{env.account_id}:oidc-provider/{GITHUB_OIDC_PROVIDER}"


def github_environments(env: Environment) -> list[str]:
    """The GitHub environments whose jobs may assume env's role: `<env>` (the approved
    apply, promotion and rollback jobs) and `<env>-plan` (plan and drift, no reviewers)."""
    return [env.name, f"{env.name}-plan"]


def github_subject(env: Environment, repository: str, environment: str | None = None) -> str:
    """The `sub` claim GitHub issues to a job of `repository` bound to a GitHub environment
    (by default the one named like env)."""
    if not _REPOSITORY.fullmatch(repository or ""):
        raise UserError(f"Repository {repository!r} is not of the form <owner>/<name> "
                        "(e.g. acme/bbws-infra); no policy was written.")
    return f"repo:{repository}:environment:{environment or env.name}"


def trust_policy(env: Environment, repository: str) -> dict[str, Any]:
    """Who may assume the role: GitHub Actions jobs of `repository` bound to env's GitHub
    environments, through the account's GitHub OIDC provider."""
    return {
        "Version": POLICY_VERSION,
        "Statement": [{
            "Sid": f"GitHubActionsJobsOfEnvironment{env.name.capitalize()}",
            "Effect": "Allow",
            "Principal": {"Federated": oidc_provider_arn(env)},
            "Action": ["sts:AssumeRoleWithWebIdentity"],
            "Condition": {"StringEquals": {
                f"{GITHUB_OIDC_PROVIDER}:aud": GITHUB_AUDIENCE,
                f"{GITHUB_OIDC_PROVIDER}:sub": [github_subject(env, repository, name)
                                                 for name in github_environments(env)],
            }},
        }],
    }


def permissions_policy(env: Environment) -> dict[str, Any]:
    """What the role may do: the state backend, the named tables, buckets, backup vaults and
    plans, the two kinds of service role, and (after the first env) the previous ledger."""
    statements = [
        *_unscoped(env), *_state_backend(env), *_tables(env), *_buckets(env),
        *_backup(env), *_kms(env), *_service_roles(env), *_previous_ledger(env),
    ]
    document = {"Version": POLICY_VERSION, "Statement": statements}
    size = policy_size(document)
    if size > MANAGED_POLICY_MAX_CHARS:
        # Refused here rather than by IAM halfway through a workflow run.
        raise UserError(f"The permissions policy of {env.name} has {size} characters, more "
                        f"than the {MANAGED_POLICY_MAX_CHARS} IAM allows in a managed policy; "
                        "split its statements into two policies.")
    return document


def policy_size(document: dict[str, Any]) -> int:
    """A policy's size as IAM counts it against its limits: the JSON without white space."""
    return len(re.sub(r"\s", "", json.dumps(document)))


def policies(env: Environment, repository: str) -> dict[str, Any]:
    """Everything needed to create the role: its name, trust policy and permissions policy."""
    return {
        "role_name": role_name(env),
        "trust_policy": trust_policy(env, repository),
        "permissions_policy": permissions_policy(env),
    }


def ledger_read_bucket_policy(previous: Environment, reader: Environment) -> dict[str, Any]:
    """Statements for the previous environment's state bucket policy that let the reader
    environment's deployment role (another account) list and read `ledger/`, nothing else.
    Merge them into that bucket's policy (a policy document with just these is returned)."""
    if _previous_name(reader) != previous.name:
        raise UserError(f"{reader.name} promotes from "
                        f"{_previous_name(reader) or 'no environment'}, not {previous.name}; "
                        "only that environment's ledger is read.")
    bucket = _s3(previous, previous.state_bucket)
    principal = {"AWS": role_arn(reader)}
    name = reader.name.capitalize()
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            _statement(f"{name}PromoteListsLedger", ["s3:ListBucket"],
                       [bucket], principal=principal,
                       condition={"StringLike": {"s3:prefix": [f"{LEDGER_PREFIX}*"]}}),
            _statement(f"{name}PromoteReadsLedger", ["s3:GetObject"],
                       [f"{bucket}/{LEDGER_PREFIX}*"], principal=principal),
        ],
    }


# --- statements ---------------------------------------------------------------------------


def _unscoped(env: Environment) -> list[dict[str, Any]]:
    return [_statement("CallsWithNoResourceScope", list(UNSCOPED_ACTIONS), ["*"])]


def _state_backend(env: Environment) -> list[dict[str, Any]]:
    bucket = _s3(env, env.state_bucket)
    keys = [f"{bucket}/{prefix}/*" for prefix in STATE_KEY_PREFIXES.values()]
    keys += [f"{bucket}/{LEDGER_PREFIX}*"]
    return [
        # HeadBucket (ListBucket), the backend's reads, the ledger listing, and the state
        # versions a rollback chooses from.
        _statement("StateBucketListForBackendAndRollback",
                   ["s3:GetBucketVersioning", "s3:ListBucket", "s3:ListBucketVersions"],
                   [bucket]),
        # State objects and ledger records; GetObjectVersion reads the earlier state versions
        # a rollback restores. No delete: the ledger is append-only, and nothing here removes
        # a state object.
        _statement("StateAndLedgerObjects",
                   ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"], keys),
        # The S3 backend's lock and digest items; DescribeTable for doctor and unlock.
        _statement("StateLockTable",
                   ["dynamodb:DeleteItem", "dynamodb:DescribeTable", "dynamodb:GetItem",
                    "dynamodb:PutItem"],
                   [_dynamodb(env, f"table/{env.lock_table}")]),
    ]


def _tables(env: Environment) -> list[dict[str, Any]]:
    tables = _table_names()
    table_arns = [_dynamodb(env, f"table/{t}") for t in tables]
    return [
        # What hashicorp/aws 3.39 aws_dynamodb_table calls (create, read, update, delete,
        # tags, PITR, TTL), plus the pre-deploy on-demand backup of a changed table. All of
        # these authorise on the table (GSIs included), so no index ARN is needed.
        _statement("TablesAndPreDeployBackups", [
            "dynamodb:CreateBackup", "dynamodb:CreateTable", "dynamodb:DeleteTable",
            # read-only: DescribeTable, DescribeContinuousBackups, DescribeTimeToLive, ...
            "dynamodb:Describe*", "dynamodb:ListTagsOfResource",
            "dynamodb:TagResource", "dynamodb:UntagResource",
            "dynamodb:UpdateContinuousBackups", "dynamodb:UpdateTable",
            "dynamodb:UpdateTimeToLive",
        ], table_arns),
        # Waiting for a pre-deploy backup to become AVAILABLE.
        _statement("WaitForPreDeployBackups", ["dynamodb:DescribeBackup"],
                   [f"{arn}/backup/*" for arn in table_arns]),
    ]


def _buckets(env: Environment) -> list[dict[str, Any]]:
    arns = [_s3(env, name) for name in _bucket_names(env)]
    # aws_s3_bucket in 3.39 reads every bucket setting (one Get* per inline block) and writes
    # them with Put*; objects are the uploaded templates (and their versions on delete).
    return [_statement("TemplateLogAndReplicaBuckets", [
        "s3:CreateBucket", "s3:DeleteBucket*", "s3:DeleteObject*", "s3:Get*", "s3:List*",
        "s3:Put*",
    ], arns + [f"{arn}/*" for arn in arns])]


def _backup(env: Environment) -> list[dict[str, Any]]:
    vaults = [_arn(env, "backup", f"backup-vault:{name}") for name in _backup_names(env)]
    if _copy_to_dr(env):
        vaults += [_arn(env, "backup", f"backup-vault:{name}-dr", env.dr_region)
                   for name in _backup_names(env)]
    tag_actions = ["backup:ListTags", "backup:TagResource", "backup:UntagResource"]
    return [
        _statement("BackupVaults", [
            "backup:CreateBackupVault", "backup:DeleteBackupVault",
            "backup:DescribeBackupVault", *tag_actions,
        ], vaults),
        # Plan ARNs end in a generated id, not the name: scoped to this account and region.
        # Selections are authorised on their plan.
        _statement("BackupPlansAndSelections", [
            "backup:CreateBackupPlan", "backup:CreateBackupSelection",
            "backup:DeleteBackupPlan", "backup:DeleteBackupSelection", "backup:GetBackupPlan",
            "backup:GetBackupSelection", "backup:ListBackupSelections",
            "backup:UpdateBackupPlan", *tag_actions,
        ], [_arn(env, "backup", "backup-plan:*")]),
    ]


def _kms(env: Environment) -> list[dict[str, Any]]:
    regions = [env.region, env.dr_region] if _copy_to_dr(env) else [env.region]
    return [
        # A vault encrypted with the AWS-managed key aws/backup needs these on that key when
        # it is created; only through AWS Backup, never directly.
        _statement("AwsManagedKeyViaBackupForNewVaults", [
            "kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey",
            "kms:RetireGrant",
        ], [_arn(env, "kms", "key/*", region) for region in regions], condition={
            "StringEquals": {"kms:ViaService": [f"backup.{r}.amazonaws.com" for r in regions]},
        }),
    ]


def _service_roles(env: Environment) -> list[dict[str, Any]]:
    backup_roles = [_iam(env, f"role/{name}-backup") for name in _backup_names(env)]
    replication_roles = [_iam(env, f"role/{name}-replication")
                         for name in _replicated_bucket_names(env)]
    statements = [
        # aws_iam_role in 3.39: create (with tags), read (inline and attached policies),
        # update (trust policy, description), delete (after its instance profiles).
        _statement("ServiceRolesOfBackupAndReplication", [
            "iam:CreateRole", "iam:DeleteRole", "iam:GetRole", "iam:GetRolePolicy",
            "iam:ListAttachedRolePolicies", "iam:ListInstanceProfilesForRole",
            "iam:ListRolePolicies", "iam:TagRole", "iam:UntagRole",
            "iam:UpdateAssumeRolePolicy", "iam:UpdateRole", "iam:UpdateRoleDescription",
        ], backup_roles + replication_roles),
        # Only the two AWS Backup managed policies, so a backup role can never be given more.
        _statement("OnlyAwsBackupPoliciesOnBackupRoles",
                   ["iam:AttachRolePolicy", "iam:DetachRolePolicy"], backup_roles,
                   condition={"ArnEquals": {"iam:PolicyARN": [
                       f"arn:{_partition(env)}:iam::aws:policy/{p}"
                       for p in BACKUP_MANAGED_POLICIES]}}),
        # The backup selection hands the role to AWS Backup, and to nothing else.
        _statement("PassBackupRolesToBackupOnly", ["iam:PassRole"], backup_roles,
                   condition={"StringEquals": {"iam:PassedToService": "backup.amazonaws.com"}}),
    ]
    if replication_roles:
        statements += [
            # The replication role's own inline policy (modules/replication).
            _statement("ReplicationRoleInlinePolicy",
                       ["iam:DeleteRolePolicy", "iam:PutRolePolicy"], replication_roles),
            # The bucket's replication configuration hands the role to S3, and to nothing else.
            _statement("PassReplicationRoleToS3Only", ["iam:PassRole"], replication_roles,
                       condition={"StringEquals": {"iam:PassedToService": "s3.amazonaws.com"}}),
        ]
    return statements


def _previous_ledger(env: Environment) -> list[dict[str, Any]]:
    previous = _previous_name(env)
    if previous is None:
        return []
    # Another account's bucket: its policy must allow this too (ledger_read_bucket_policy).
    bucket = f"arn:{_partition(env)}:s3:::{_state_bucket_of(previous)}"
    return [
        _statement("PromoteListsPreviousEnvLedger", ["s3:ListBucket"],
                   [bucket], condition={"StringLike": {"s3:prefix": [f"{LEDGER_PREFIX}*"]}}),
        _statement("PromoteReadsPreviousEnvLedger", ["s3:GetObject"],
                   [f"{bucket}/{LEDGER_PREFIX}*"]),
    ]


# --- names --------------------------------------------------------------------------------


def _table_names() -> list[str]:
    """Every table, as its schema file names it (x-dynamodb.tableName)."""
    return sorted(schemas.load_table_definition(p).table_name
                  for p in schemas.schema_files(REPO_ROOT))


def _backup_names(env: Environment) -> list[str]:
    """Vault, plan and selection name of each table component (dynamodb/table_main.tf)."""
    return sorted(f"bbws-{c.name}-{env.name}" for c in COMPONENTS.values()
                  if c.kind == "dynamodb")


def _replicated_bucket_names(env: Environment) -> list[str]:
    if not env.values.get("replication_enabled"):
        return []
    return sorted(f"bbws-{c.name}-{env.name}" for c in COMPONENTS.values() if c.kind == "s3")


def _bucket_names(env: Environment) -> list[str]:
    """Each bucket component's bucket (s3/templates/main.tf), with its -logs and -replica
    buckets where the env's tfvars switch them on."""
    names = []
    for component in (c for c in COMPONENTS.values() if c.kind == "s3"):
        bucket = f"bbws-{component.name}-{env.name}"
        names.append(bucket)
        if env.values.get("access_logging_enabled"):
            names.append(f"{bucket}-logs")
        if env.values.get("replication_enabled"):
            names.append(f"{bucket}-replica")
    return sorted(names)


def _copy_to_dr(env: Environment) -> bool:
    return bool(env.values.get("backup_copy_to_dr"))


def _previous_name(env: Environment) -> str | None:
    """The environment whose ledger this one promotes from (deploy.previous_env's rule)."""
    index = PROMOTION_ORDER.index(env.name)
    return PROMOTION_ORDER[index - 1] if index else None


def _state_bucket_of(env_name: str) -> str:
    return f"bbws-terraform-state-{env_name}"  # Environment.state_bucket, by name


# --- building blocks ----------------------------------------------------------------------


def _partition(env: Environment) -> str:
    if env.region.startswith("cn-"):
        return "aws-cn"
    return "aws-us-gov" if env.region.startswith("us-gov-") else "aws"


def _arn(env: Environment, service: str, resource: str, region: str | None = None) -> str:
    return (f"arn:{_partition(env)}:{service}:{region or env.region}:{env.account_id}:"
            f"{resource}")


def _dynamodb(env: Environment, resource: str) -> str:
    return _arn(env, "dynamodb", resource)


def _iam(env: Environment, resource: str) -> str:
    return f"arn:{_partition(env)}:iam::{env.account_id}:{resource}"


def _s3(env: Environment, bucket: str) -> str:
    return f"arn:{_partition(env)}:s3:::{bucket}"


def _statement(sid: str, actions: list[str], resources: list[str], *,
               condition: dict[str, Any] | None = None,
               principal: dict[str, Any] | None = None) -> dict[str, Any]:
    """One Allow statement; actions and resources sorted and deduplicated, so the same inputs
    always give the same document."""
    statement: dict[str, Any] = {"Sid": sid, "Effect": "Allow"}
    if principal is not None:
        statement["Principal"] = principal
    statement["Action"] = sorted(set(actions))
    statement["Resource"] = sorted(set(resources))
    if condition is not None:
        statement["Condition"] = condition
    return statement
