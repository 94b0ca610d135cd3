"""The two IAM roles GitHub Actions assumes in each environment's account (OIDC, no stored
keys), and the least-privilege policy each holds: exactly what the task runner and Terraform
(hashicorp/aws 3.39.0) call for this project's resources, by name.

- The plan role, `bbws-infra-plan-<env>`, is trusted only by `repo:<owner>/<repo>:environment:
  <env>-plan`: the plan and drift jobs, which have no reviewers and run a pull request's own
  code. It reads: the state objects and `ledger/`, the managed resources Terraform refreshes,
  the previous env's ledger (a promotion's plan). It writes nothing but the lock items of the
  lock table (a `dynamodb:LeadingKeys` condition names them), never a state digest.
- The deploy role, `bbws-infra-deploy-<env>`, is trusted only by `...:environment:<env>`: the
  apply, promotion and rollback jobs, whose environment requires reviewers. It may create,
  change and delete the managed resources and write the state.

A job without an environment, bound to another one (the approval environments), or on a branch
or pull request subject cannot assume either. The ledger is write-once for both: a record is
created only with `If-None-Match: *` (S3 then refuses to replace an existing key) and only by
the deploy role, and explicit Denies (the ledger guard policy, attached to both roles) forbid
deleting any record or any of its versions and any write without that header.

Names are derived the way the Terraform names them: tables from the schema files'
x-dynamodb.tableName, backup vault/plan/role from dynamodb/table_main.tf and modules/backup
(`bbws-<component>-<env>`, `-dr`, `-backup`), buckets and the replication role from
s3/templates/main.tf and modules/replication (`bbws-<component>-<env>`, `-logs`, `-replica`,
`-replication`). Resources a feature creates (access-log bucket, replica bucket and its role,
DR vaults, anything in dr_region) are allowed only where the env's tfvars switch that feature
on, so the policy follows envs/<env>.tfvars: switching a feature on needs this policy updated
before the deployment; switching it off, only after the deployment removed what it made.

Later environments (sit, prod) also read the previous environment's ledger in that account's
state bucket (promotion picks the commit from it); that bucket's policy must allow both roles
too: ledger_read_bucket_policy() gives those statements. A bucket policy naming a role is
accepted only once the role exists, so create the roles first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from bbws_infra.core.errors import UserError
from bbws_infra.core.paths import REPO_ROOT
from bbws_infra.core.registry import (
    COMPONENTS,
    PROMOTION_ORDER,
    STATE_KEY_PREFIXES,
    Environment,
)
from bbws_infra.core.untyped import JsonObject
from bbws_infra.inputs import schemas
from bbws_infra.pipeline.iam_documents import (
    arn,
    dynamodb_arn,
    fitting,
    iam_arn,
    partition,
    s3_arn,
    sid_part,
    statement,
)
from bbws_infra.state.ledger import INTENTS_PREFIX
from bbws_infra.state.ledger import PREFIX as LEDGER_PREFIX
from bbws_infra.state.state_backend import lock_id

PLAN, DEPLOY = "plan", "deploy"
ROLES = (PLAN, DEPLOY)
GITHUB_OIDC_PROVIDER = "token.actions.githubusercontent.com"
GITHUB_AUDIENCE = "sts.amazonaws.com"
POLICY_VERSION = "2012-10-17"
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
_UNSCOPED_WRITES = ("backup-storage:MountCapsule",)
_REPOSITORY = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}")


def role_name(env: Environment, role: str) -> str:
    """bbws-infra-plan-dev, bbws-infra-deploy-dev, ..."""
    return f"bbws-infra-{_checked(role)}-{env.name}"


def role_arn(env: Environment, role: str) -> str:
    return iam_arn(env, f"role/{role_name(env, role)}")


def oidc_provider_arn(env: Environment) -> str:
    """The GitHub OIDC identity provider, created once in each account."""
    return f"arn:{partition(env)}:iam::{env.account_id}:oidc-provider/{GITHUB_OIDC_PROVIDER}"


def github_environment(env: Environment, role: str) -> str:
    """The one GitHub environment whose jobs may assume the role: `<env>` (approved apply,
    promotion and rollback jobs) for the deploy role, `<env>-plan` (plan and drift, no
    reviewers) for the plan role."""
    return env.name if _checked(role) == DEPLOY else f"{env.name}-plan"


def github_environments(env: Environment) -> list[str]:
    """Every GitHub environment some role of env trusts."""
    return [github_environment(env, role) for role in (DEPLOY, PLAN)]


def github_subject(env: Environment, repository: str, environment: str | None = None) -> str:
    """The `sub` claim GitHub issues to a job of `repository` bound to a GitHub environment
    (by default the one named like env)."""
    if not _REPOSITORY.fullmatch(repository or ""):
        raise UserError(f"Repository {repository!r} is not of the form <owner>/<name> "
                        "(e.g. acme/bbws-infra); no policy was written.")
    return f"repo:{repository}:environment:{environment or env.name}"


def trust_policy(env: Environment, repository: str, role: str) -> JsonObject:
    """Who may assume the role: GitHub Actions jobs of `repository` bound to its one GitHub
    environment, through the account's GitHub OIDC provider. No branch subject
    (`ref:refs/heads/main`): a job bound to an environment is issued the environment subject,
    never a ref one, so admitting a ref would only admit jobs that skip the environment."""
    environment = github_environment(env, role)
    return {
        "Version": POLICY_VERSION,
        "Statement": [{
            "Sid": f"GitHubActionsJobsOf{sid_part(environment)}",
            "Effect": "Allow",
            "Principal": {"Federated": oidc_provider_arn(env)},
            "Action": ["sts:AssumeRoleWithWebIdentity"],
            "Condition": {"StringEquals": {
                f"{GITHUB_OIDC_PROVIDER}:aud": GITHUB_AUDIENCE,
                f"{GITHUB_OIDC_PROVIDER}:sub": [github_subject(env, repository, environment)],
            }},
        }],
    }


def permissions_policy(env: Environment, role: str) -> JsonObject:
    """What the role may do: the state backend, the named tables, buckets, backup vaults and
    plans, and the two kinds of service role; the plan role only the reads of each, and the
    lock items. (Reading the previous env is previous_env_read_policy, attached beside.)"""
    _checked(role)
    statements = [
        *_unscoped(env, role), *_state_backend(env, role), *_tables(env, role),
        *_buckets(env, role), *_backup(env, role), *_kms(env, role),
        *_service_roles(env, role),
    ]
    return fitting({"Version": POLICY_VERSION, "Statement": statements},
                    f"The {role} role's permissions policy of {env.name}")


def ledger_guard_policy_name(env: Environment) -> str:
    return f"bbws-infra-ledger-guard-{env.name}"


def ledger_guard_policy(env: Environment) -> JsonObject:
    """Explicit Denies attached to both roles beside their permissions policy: no other
    policy attached to a role can grant back deleting a ledger record (or any version of it)
    or a write that could replace one. (A managed policy of its own: the deploy role's
    permissions policy of prod has no room left for it.)"""
    ledger = _ledger_objects(env)
    return fitting({"Version": POLICY_VERSION, "Statement": [
        statement("LedgerRecordsAreNeverDeleted",
                   ["s3:DeleteObject", "s3:DeleteObjectVersion"], ledger, effect="Deny"),
        # Multipart uploads would need an s3:ObjectCreationOperation exemption (their parts
        # carry no If-None-Match); ledger records are single small PutObject calls.
        statement("LedgerRecordsAreNeverOverwritten", ["s3:PutObject"], ledger,
                   effect="Deny", condition={"Null": {"s3:if-none-match": "true"}}),
    ]}, f"The ledger guard policy of {env.name}")


def _ledger_objects(env: Environment) -> list[str]:
    """The ledger's records and the intents the deploy path leaves before each apply."""
    bucket = s3_arn(env, env.state_bucket)
    return [f"{bucket}/{LEDGER_PREFIX}*", f"{bucket}/{INTENTS_PREFIX}*"]


def previous_env_read_policy_name(env: Environment) -> str:
    return f"bbws-infra-previous-env-read-{env.name}"


def previous_env_read_policy(env: Environment) -> JsonObject | None:
    """After the first env, attached to both roles: a promotion's plan job and its apply job
    each check the previous env's ledger, and the state versions its records name (a record
    counts only when that version exists as recorded). None for the first env. (A managed
    policy of its own: prod's deploy permissions policy has no room left.)"""
    statements = _previous_ledger(env)
    if not statements:
        return None
    return fitting({"Version": POLICY_VERSION, "Statement": statements},
                    f"The previous-environment read policy of {env.name}")


def policies(env: Environment, repository: str) -> JsonObject:
    """Everything needed to create both roles: `plan_role` and `deploy_role`, each with its
    name, ARN, the GitHub environment it trusts, trust policy and permissions policy, the
    `ledger_guard_policy` to attach to both, and after the first env the
    `previous_env_read_policy` to attach to both."""
    roles = {f"{role}_role": {
        "role_name": role_name(env, role),
        "role_arn": role_arn(env, role),
        "github_environment": github_environment(env, role),
        "trust_policy": trust_policy(env, repository, role),
        "permissions_policy": permissions_policy(env, role),
    } for role in ROLES}
    both = [role_name(env, role) for role in ROLES]
    shared = {"ledger_guard_policy": {
        "policy_name": ledger_guard_policy_name(env), "attach_to": both,
        "policy_document": ledger_guard_policy(env)}}
    reads = previous_env_read_policy(env)
    if reads is not None:
        shared["previous_env_read_policy"] = {
            "policy_name": previous_env_read_policy_name(env), "attach_to": both,
            "policy_document": reads}
    return {**roles, **shared}


def ledger_read_bucket_policy(previous: Environment, reader: Environment) -> JsonObject:
    """Statements for the previous environment's state bucket policy that let the reader
    environment's two roles (another account) list and read `ledger/` and read the state
    versions its records name, nothing else: the
    promotion's plan job checks the commit there with the plan role, its apply job again with
    the deploy role. Merge them into that bucket's policy (a document with just these is
    returned)."""
    if _previous_name(reader) != previous.name:
        raise UserError(f"{reader.name} promotes from "
                        f"{_previous_name(reader) or 'no environment'}, not {previous.name}; "
                        "only that environment's ledger is read.")
    bucket = s3_arn(previous, previous.state_bucket)
    principal = {"AWS": sorted(role_arn(reader, role) for role in ROLES)}
    name = reader.name.capitalize()
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            statement(f"{name}PromoteListsLedger", ["s3:ListBucket"],
                       [bucket], principal=principal,
                       condition={"StringLike": {"s3:prefix": [f"{LEDGER_PREFIX}*"]}}),
            statement(f"{name}PromoteReadsLedger", ["s3:GetObject"],
                       [f"{bucket}/{LEDGER_PREFIX}*"], principal=principal),
            # the state versions the ledger's records name, read to check them
            statement(f"{name}PromoteReadsStateVersions",
                       ["s3:GetObject", "s3:GetObjectVersion"],
                       _state_objects(bucket), principal=principal),
        ],
    }


# --- statements ---------------------------------------------------------------------------


def _unscoped(env: Environment, role: str) -> list[JsonObject]:
    reads = [a for a in UNSCOPED_ACTIONS if a not in _UNSCOPED_WRITES]
    return _grant(role, "CallsWithNoResourceScope", ["*"], reads=reads,
                  writes=_UNSCOPED_WRITES)


def _state_backend(env: Environment, role: str) -> list[JsonObject]:
    bucket = s3_arn(env, env.state_bucket)
    keys = _state_objects(bucket)
    ledger = _ledger_objects(env)
    table = dynamodb_arn(env, f"table/{env.lock_table}")
    statements = [
        # HeadBucket (ListBucket), the backend's reads, the ledger listing, and the state
        # versions a rollback chooses from.
        *_grant(role, "StateBucketListForBackendAndRollback", [bucket], reads=[
            "s3:GetBucketVersioning", "s3:ListBucket", "s3:ListBucketVersions"]),
        # State objects and ledger records; GetObjectVersion reads the earlier state versions
        # a rollback restores (and state-versions shows). Terraform rewrites the state objects.
        *_grant(role, "StateObjects", keys, reads=["s3:GetObject", "s3:GetObjectVersion"],
                writes=["s3:PutObject"]),
        *_grant(role, "LedgerRecordsRead", ledger,
                reads=["s3:GetObject", "s3:GetObjectVersion"]),
        # A new record only: with If-None-Match: * S3 refuses (412) to replace an existing key.
        # The condition is the one AWS documents for enforcing conditional writes.
        *_grant(role, "LedgerNewRecordsOnly", ledger, writes=["s3:PutObject"],
                condition={"Null": {"s3:if-none-match": "false"}}),
        # The S3 backend's lock and digest items; DescribeTable for doctor and unlock. The
        # deploy role writes digests (each state write; doctor --fix-digest).
        *_grant(role, "StateLockTable", [table],
                reads=["dynamodb:DescribeTable", "dynamodb:GetItem"],
                writes=["dynamodb:DeleteItem", "dynamodb:PutItem"]),
    ]
    if role == PLAN:
        # Plans keep locking (a plan never reads a state an apply is half-way through), but
        # only the lock items `<bucket>/<key>`: every key of the request must be one of them,
        # so a digest `<bucket>/<key>-md5` can never be overwritten or removed. The Null test
        # refuses a request without keys, which ForAllValues alone would let through.
        statements.append(statement(
            "PlanLocksStatesOnly", ["dynamodb:DeleteItem", "dynamodb:PutItem"], [table],
            condition={"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": _lock_ids(env)},
                       "Null": {"dynamodb:LeadingKeys": "false"}}))
    return statements


def _tables(env: Environment, role: str) -> list[JsonObject]:
    tables = _table_names()
    table_arns = [dynamodb_arn(env, f"table/{t}") for t in tables]
    return [
        # What hashicorp/aws 3.39 aws_dynamodb_table calls (create, read, update, delete,
        # tags, PITR, TTL), plus the pre-deploy on-demand backup of a changed table. All of
        # these authorise on the table (GSIs included), so no index ARN is needed.
        *_grant(role, "TablesAndPreDeployBackups", table_arns, reads=[
            # read-only: DescribeTable, DescribeContinuousBackups, DescribeTimeToLive, ...
            "dynamodb:Describe*", "dynamodb:ListTagsOfResource",
        ], writes=[
            "dynamodb:CreateBackup", "dynamodb:CreateTable", "dynamodb:DeleteTable",
            "dynamodb:TagResource", "dynamodb:UntagResource",
            "dynamodb:UpdateContinuousBackups", "dynamodb:UpdateTable",
            "dynamodb:UpdateTimeToLive",
        ]),
        # Waiting for a pre-deploy backup to become AVAILABLE.
        *_grant(role, "WaitForPreDeployBackups", [f"{arn}/backup/*" for arn in table_arns],
                reads=["dynamodb:DescribeBackup"]),
    ]


def _buckets(env: Environment, role: str) -> list[JsonObject]:
    arns = [s3_arn(env, name) for name in _bucket_names(env)]
    # aws_s3_bucket in 3.39 reads every bucket setting (one Get* per inline block) and writes
    # them with Put*; objects are the uploaded templates (and their versions on delete).
    return _grant(role, "TemplateLogAndReplicaBuckets", arns + [f"{arn}/*" for arn in arns],
                  reads=["s3:Get*", "s3:List*"],
                  writes=["s3:CreateBucket", "s3:DeleteBucket*", "s3:DeleteObject*",
                          "s3:Put*"])


def _backup(env: Environment, role: str) -> list[JsonObject]:
    vaults = [arn(env, "backup", f"backup-vault:{name}") for name in _backup_names(env)]
    if _copy_to_dr(env):
        vaults += [arn(env, "backup", f"backup-vault:{name}-dr", env.dr_region)
                   for name in _backup_names(env)]
    tag_writes = ["backup:TagResource", "backup:UntagResource"]
    return [
        *_grant(role, "BackupVaults", vaults,
                reads=["backup:DescribeBackupVault", "backup:ListTags"],
                writes=["backup:CreateBackupVault", "backup:DeleteBackupVault", *tag_writes]),
        # Plan ARNs end in a generated id, not the name: scoped to this account and region.
        # Selections are authorised on their plan.
        *_grant(role, "BackupPlansAndSelections", [arn(env, "backup", "backup-plan:*")],
                reads=["backup:GetBackupPlan", "backup:GetBackupSelection",
                       "backup:ListBackupSelections", "backup:ListTags"],
                writes=["backup:CreateBackupPlan", "backup:CreateBackupSelection",
                        "backup:DeleteBackupPlan", "backup:DeleteBackupSelection",
                        "backup:UpdateBackupPlan", *tag_writes]),
    ]


def _kms(env: Environment, role: str) -> list[JsonObject]:
    regions = [env.region, env.dr_region] if _copy_to_dr(env) else [env.region]
    # A vault encrypted with the AWS-managed key aws/backup needs these on that key when it is
    # created; only through AWS Backup, never directly. Nothing a plan does needs a key.
    return _grant(role, "AwsManagedKeyViaBackupForNewVaults",
                  [arn(env, "kms", "key/*", region) for region in regions], writes=[
                      "kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey",
                      "kms:GenerateDataKey", "kms:RetireGrant",
                  ], condition={"StringEquals": {
                      "kms:ViaService": [f"backup.{r}.amazonaws.com" for r in regions]}})


def _service_roles(env: Environment, role: str) -> list[JsonObject]:
    backup_roles = [iam_arn(env, f"role/{name}-backup") for name in _backup_names(env)]
    replication_roles = [iam_arn(env, f"role/{name}-replication")
                         for name in _replicated_bucket_names(env)]
    statements = [
        # aws_iam_role in 3.39: create (with tags), read (inline and attached policies),
        # update (trust policy, description), delete (after its instance profiles).
        *_grant(role, "ServiceRolesOfBackupAndReplication", backup_roles + replication_roles,
                reads=["iam:GetRole", "iam:GetRolePolicy", "iam:ListAttachedRolePolicies",
                       "iam:ListInstanceProfilesForRole", "iam:ListRolePolicies"],
                writes=["iam:CreateRole", "iam:DeleteRole", "iam:TagRole", "iam:UntagRole",
                        "iam:UpdateAssumeRolePolicy", "iam:UpdateRole",
                        "iam:UpdateRoleDescription"]),
        # Only the two AWS Backup managed policies, so a backup role can never be given more.
        *_grant(role, "OnlyAwsBackupPoliciesOnBackupRoles", backup_roles,
                writes=["iam:AttachRolePolicy", "iam:DetachRolePolicy"],
                condition={"ArnEquals": {"iam:PolicyARN": [
                    f"arn:{partition(env)}:iam::aws:policy/{p}"
                    for p in BACKUP_MANAGED_POLICIES]}}),
        # The backup selection hands the role to AWS Backup, and to nothing else.
        *_grant(role, "PassBackupRolesToBackupOnly", backup_roles, writes=["iam:PassRole"],
                condition={"StringEquals": {"iam:PassedToService": "backup.amazonaws.com"}}),
    ]
    if replication_roles:
        statements += [
            # The replication role's own inline policy (modules/replication).
            *_grant(role, "ReplicationRoleInlinePolicy", replication_roles,
                    writes=["iam:DeleteRolePolicy", "iam:PutRolePolicy"]),
            # The bucket's replication configuration hands the role to S3, and to nothing else.
            *_grant(role, "PassReplicationRoleToS3Only", replication_roles,
                    writes=["iam:PassRole"], condition={
                        "StringEquals": {"iam:PassedToService": "s3.amazonaws.com"}}),
        ]
    return statements


def _state_objects(bucket: str) -> list[str]:
    return [f"{bucket}/{prefix}/*" for prefix in STATE_KEY_PREFIXES.values()]


def _previous_ledger(env: Environment) -> list[JsonObject]:
    """Both roles: a promotion's plan and its apply each check the previous env's ledger."""
    previous = _previous_name(env)
    if previous is None:
        return []
    # Another account's bucket: its policy must allow this too (ledger_read_bucket_policy).
    bucket = f"arn:{partition(env)}:s3:::{_state_bucket_of(previous)}"
    return [
        statement("PromoteListsPreviousEnvLedger", ["s3:ListBucket"],
                   [bucket], condition={"StringLike": {"s3:prefix": [f"{LEDGER_PREFIX}*"]}}),
        statement("PromoteReadsPreviousEnvLedger", ["s3:GetObject"],
                   [f"{bucket}/{LEDGER_PREFIX}*"]),
        statement("PromoteReadsPreviousEnvStateVersions",
                   ["s3:GetObject", "s3:GetObjectVersion"], _state_objects(bucket)),
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


def _lock_ids(env: Environment) -> list[str]:
    """The S3 backend's lock item of each component's state (its LockID, `<bucket>/<key>`)."""
    return sorted(lock_id(env, c.state_key) for c in COMPONENTS.values())


def _copy_to_dr(env: Environment) -> bool:
    return bool(env.values.get("backup_copy_to_dr"))


def _previous_name(env: Environment) -> str | None:
    """The environment whose ledger this one promotes from (deploy.previous_env's rule)."""
    index = PROMOTION_ORDER.index(env.name)
    return PROMOTION_ORDER[index - 1] if index else None


def _state_bucket_of(env_name: str) -> str:
    return f"bbws-terraform-state-{env_name}"  # Environment.state_bucket, by name


# --- building blocks ----------------------------------------------------------------------


def _checked(role: str) -> str:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; one of {ROLES}")
    return role


def _grant(role: str, sid: str, resources: list[str], *, reads: Iterable[str] = (),
           writes: Iterable[str] = (), condition: JsonObject | None = None
           ) -> list[JsonObject]:
    """One Allow statement of `reads`, plus `writes` for the deploy role; none when the role
    gets no action here. Reads and writes of a resource stay side by side in one place."""
    actions = [*reads, *(writes if role == DEPLOY else ())]
    if not actions:
        return []
    return [statement(sid, actions, resources, condition=condition)]
