"""The IAM roles GitHub Actions assumes in each environment's account (OIDC, no stored keys),
and the least-privilege policy each holds: exactly what the task runner and Terraform
(hashicorp/aws 3.39.0) call for this project's resources, by name.

- The plan role, `bbws-infra-plan-<env>`, is trusted only by `repo:<owner>/<repo>:environment:
  <env>-plan`: the plan and drift jobs, which have no reviewers and run a pull request's own
  code. It reads: the state objects and `ledger/`, the managed resources Terraform refreshes,
  the previous env's ledger (a promotion's plan). It writes nothing but the lock items of the
  lock table (a `dynamodb:LeadingKeys` condition names them), never a state digest.
- The deploy role, `bbws-infra-deploy-<env>`, is trusted only by `...:environment:<env>`: the
  apply, promotion and rollback jobs, whose environment requires reviewers. It may create,
  change and delete the managed resources and write the state; where the env's tfvars turn
  deletion protection on (prod), an explicit Deny (the protected-deletes guard policy) keeps it
  from deleting, and so from replacing, any table, bucket or backup vault.
- The break-glass role, `bbws-infra-break-glass-<env>`, exists only where deletion protection
  is on. It holds the deploy role's permissions without that Deny and is trusted only by
  `...:environment:<env>-break-glass`, whose runs need one approval more than the env's
  (the break-glass workflow: a promotion with `--allow-destroy`).

A job without an environment, bound to another one (the approval environments), or on a branch
or pull request subject cannot assume any of them. The ledger is write-once: a record is
created only with `If-None-Match: *` (S3 then refuses to replace an existing key) and only by
the roles that deploy, and explicit Denies (the ledger guard policy, attached to every role;
the policies attached beside the permissions are in iam_guards.py) forbid deleting any record,
state object or version, and any record write without that header.

Every name in them is derived the way the Terraform derives it (iam_resources.py); resources a
feature creates are allowed only where the env's tfvars switch that feature on, so the policy
follows envs/<env>.tfvars: switching a feature on needs this policy updated before the
deployment; switching it off, only after the deployment removed what it made.

Later environments (sit, prod) also read the previous environment's ledger in that account's
state bucket (promotion picks the commit from it); that bucket's policy must allow both roles
too: ledger_read_bucket_policy() gives those statements. A bucket policy naming a role is
accepted only once the role exists, so create the roles first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from bbws_infra.core import registry
from bbws_infra.core.errors import UserError
from bbws_infra.core.registry import (
    BREAK_GLASS,
    STATE_KEY_PREFIXES,
    Environment,
    break_glass_environment,
)
from bbws_infra.core.untyped import JsonObject
from bbws_infra.pipeline.iam_data import (
    data_read_policy,
    data_read_policy_name,
    data_write_policy,
    data_write_policy_name,
)
from bbws_infra.pipeline.iam_documents import (
    POLICY_VERSION,
    arn,
    dynamodb_arn,
    fitting,
    iam_arn,
    partition,
    s3_arn,
    sid_part,
    statement,
)
from bbws_infra.pipeline.iam_guards import (
    account_health_read_policy,
    account_health_read_policy_name,
    ledger_guard_policy,
    ledger_guard_policy_name,
    ledger_objects,
    protected_deletes_guard_policy,
    protected_deletes_guard_policy_name,
)
from bbws_infra.pipeline.iam_monitoring import (
    monitoring_read_policy,
    monitoring_read_policy_name,
    monitoring_write_policy,
    monitoring_write_policy_name,
)
from bbws_infra.pipeline.iam_resources import (
    backup_names,
    bucket_names,
    copy_to_dr,
    lock_ids,
    lock_objects,
    previous_name,
    replicated_bucket_names,
    state_bucket_of,
    table_names,
    vault_arns,
)
from bbws_infra.state.ledger import PREFIX as LEDGER_PREFIX

PLAN, DEPLOY = "plan", "deploy"
ROLES = (PLAN, DEPLOY)  # every env has these two; break-glass only where protection is on
# IAM's default session, and the apply jobs' (their role-duration-seconds: 5 hours, as long
# as their timeout-minutes, above the table module's 4h update timeout).
DEFAULT_SESSION_S, APPLY_SESSION_S = 3600, 18000
GITHUB_OIDC_PROVIDER = "token.actions.githubusercontent.com"
GITHUB_AUDIENCE = "sts.amazonaws.com"
# The AWS-managed policies modules/backup attaches to each backup role; nothing else may be.
BACKUP_MANAGED_POLICIES = (
    "service-role/AWSBackupServiceRolePolicyForBackup",
    "service-role/AWSBackupServiceRolePolicyForRestores",
)
# Calls IAM cannot scope to a resource, each with the reason it is needed; the only "*".
# (sts:GetCallerIdentity, which the task runner calls first, needs no permission at all.)
UNSCOPED_ACTIONS = {
    "dynamodb:ListBackups": "invoke backups (a plan-role read-out) lists the on-demand backups",
    "backup:ListBackupPlans": "verify finds each backup plan by its name",
    "backup-storage:MountCapsule": "CreateBackupVault mounts the new vault's storage",
    "kms:ListAliases": "verify names each table's key by its alias (aws/dynamodb)",
}
_UNSCOPED_WRITES = ("backup-storage:MountCapsule",)
_UNSCOPED_PLAN_ONLY = ("dynamodb:ListBackups",)
_REPOSITORY = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}")


def roles(env: Environment) -> tuple[str, ...]:
    """The roles env has: plan and deploy, and break-glass where deletion protection is on."""
    return (*ROLES, BREAK_GLASS) if env.deletion_protection else ROLES


def role_name(env: Environment, role: str) -> str:
    """bbws-infra-plan-dev, bbws-infra-deploy-dev, bbws-infra-break-glass-prod, ..."""
    return registry.role_name(_checked(role, env), env.name)


def role_arn(env: Environment, role: str) -> str:
    return iam_arn(env, f"role/{role_name(env, role)}")


def oidc_provider_arn(env: Environment) -> str:
    """The GitHub OIDC identity provider, created once in each account."""
    return f"arn:{partition(env)}:iam::{env.account_id}:oidc-provider/{GITHUB_OIDC_PROVIDER}"


def github_environment(env: Environment, role: str) -> str:
    """The one GitHub environment whose jobs may assume the role: `<env>` (approved apply,
    promotion and rollback jobs) for the deploy role, `<env>-plan` (plan and drift, no
    reviewers) for the plan role, `<env>-break-glass` (protected deletions) for break-glass."""
    return {DEPLOY: env.name, PLAN: f"{env.name}-plan",
            BREAK_GLASS: break_glass_environment(env.name)}[_checked(role, env)]


def github_environments(env: Environment) -> list[str]:
    """Every GitHub environment some role of env trusts."""
    return [github_environment(env, role) for role in (DEPLOY, PLAN, *roles(env)[2:])]


def github_subject(env: Environment, repository: str, environment: str | None = None) -> str:
    """The `sub` claim GitHub issues to a job of `repository` bound to a GitHub environment
    (by default the one named like env)."""
    if not _REPOSITORY.fullmatch(repository or ""):
        raise UserError(f"Repository {repository!r} is not of the form <owner>/<name> "
                        "(e.g. acme/bbws-infra); no policy was written.")
    return f"repo:{repository}:environment:{environment or env.name}"


def max_session_duration(role: str) -> int:
    """The role's MaxSessionDuration (seconds): the jobs that apply hold their session for as
    long as their timeout-minutes (a GSI backfill may take hours); a plan job needs IAM's
    default hour."""
    return DEFAULT_SESSION_S if _checked(role) == PLAN else APPLY_SESSION_S


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
    lock items; break-glass the deploy role's. (Reading the previous env is
    previous_env_read_policy, attached beside.)"""
    _checked(role, env)
    statements = [
        *_unscoped(env, role), *_state_backend(env, role), *_tables(env, role),
        *_buckets(env, role), *_backup(env, role), *_kms(env, role),
        *_service_roles(env, role),
    ]
    return fitting({"Version": POLICY_VERSION, "Statement": statements},
                    f"The {role} role's permissions policy of {env.name}")


def previous_env_read_policy_name(env: Environment) -> str:
    return f"bbws-infra-previous-env-read-{env.name}"


def previous_env_read_policy(env: Environment) -> JsonObject | None:
    """After the first env, attached to every role: a promotion's plan job and its apply job
    each check the previous env's ledger, and the state versions its records name (a record
    counts only when that version exists as recorded). None for the first env. (A managed
    policy of its own: prod's deploy permissions policy has no room left.)"""
    statements = _previous_ledger(env)
    if not statements:
        return None
    return fitting({"Version": POLICY_VERSION, "Statement": statements},
                    f"The previous-environment read policy of {env.name}")


def policies(env: Environment, repository: str) -> JsonObject:
    """Everything needed to create the env's roles: `plan_role`, `deploy_role` (and
    `break_glass_role` where deletion protection is on), each with its name, ARN, the GitHub
    environment it trusts, trust policy and permissions policy, the `ledger_guard_policy` to
    attach to all, the `protected_deletes_guard_policy` to attach to the deploy role where
    protection is on, the monitoring policies (`monitoring_read_policy` for all,
    `monitoring_write_policy` for the roles that deploy; iam_monitoring.py), the item
    policies (`data_read_policy` for all, `data_write_policy` for the roles that deploy;
    iam_data.py), and after the first env the `previous_env_read_policy` for all."""
    documents = {f"{role.replace('-', '_')}_role": {
        "role_name": role_name(env, role),
        "role_arn": role_arn(env, role),
        "github_environment": github_environment(env, role),
        "trust_policy": trust_policy(env, repository, role),
        "permissions_policy": permissions_policy(env, role),
        "max_session_duration": max_session_duration(role),
    } for role in roles(env)}
    every_role = [role_name(env, role) for role in roles(env)]
    deploying = [role_name(env, role) for role in roles(env) if role != PLAN]
    attached: list[tuple[str, str, JsonObject | None, list[str]]] = [
        ("ledger_guard_policy", ledger_guard_policy_name(env), ledger_guard_policy(env),
         every_role),
        ("account_health_read_policy", account_health_read_policy_name(env),
         account_health_read_policy(env), every_role),
        ("protected_deletes_guard_policy", protected_deletes_guard_policy_name(env),
         protected_deletes_guard_policy(env), [role_name(env, DEPLOY)]),
        ("monitoring_read_policy", monitoring_read_policy_name(env),
         monitoring_read_policy(env), every_role),
        ("monitoring_write_policy", monitoring_write_policy_name(env),
         monitoring_write_policy(env), deploying),
        ("data_read_policy", data_read_policy_name(env), data_read_policy(env), every_role),
        ("data_write_policy", data_write_policy_name(env), data_write_policy(env), deploying),
        ("previous_env_read_policy", previous_env_read_policy_name(env),
         previous_env_read_policy(env), every_role),
    ]
    # (a policy that does not apply to this env, None, is left out)
    shared = {key: {"policy_name": name, "attach_to": attach_to, "policy_document": document}
              for key, name, document, attach_to in attached if document is not None}
    return {**documents, **shared}


def ledger_read_bucket_policy(previous: Environment, reader: Environment) -> JsonObject:
    """Statements for the previous environment's state bucket policy that let the reader
    environment's two roles (another account) list and read `ledger/` and read the state
    versions its records name, nothing else: the
    promotion's plan job checks the commit there with the plan role, its apply job again with
    the deploy role. Merge them into that bucket's policy (a document with just these is
    returned)."""
    if previous_name(reader) != previous.name:
        raise UserError(f"{reader.name} promotes from "
                        f"{previous_name(reader) or 'no environment'}, not {previous.name}; "
                        "only that environment's ledger is read.")
    bucket = s3_arn(previous, previous.state_bucket)
    principal = {"AWS": sorted(role_arn(reader, role) for role in roles(reader))}
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
            statement(f"{name}PromoteReadsStateVersions", ["s3:GetObjectVersion"],
                       _state_objects(bucket), principal=principal),
        ],
    }


# --- statements ---------------------------------------------------------------------------


def _unscoped(env: Environment, role: str) -> list[JsonObject]:
    reads = [a for a in UNSCOPED_ACTIONS if a not in _UNSCOPED_WRITES
             and (role == PLAN or a not in _UNSCOPED_PLAN_ONLY)]
    return _grant(role, "CallsWithNoResourceScope", ["*"], reads=reads,
                  writes=_UNSCOPED_WRITES)


def _state_backend(env: Environment, role: str) -> list[JsonObject]:
    bucket = s3_arn(env, env.state_bucket)
    keys = _state_objects(bucket)
    ledger = ledger_objects(env)
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
        # (records are write-once: never an earlier version to read)
        *_grant(role, "LedgerRecordsRead", ledger, reads=["s3:GetObject"]),
        # A new record only: with If-None-Match: * S3 refuses (412) to replace an existing key.
        # The condition is the one AWS documents for enforcing conditional writes.
        *_grant(role, "LedgerNewRecordsOnly", ledger, writes=["s3:PutObject"],
                condition={"Null": {"s3:if-none-match": "false"}}),
        # The S3 backend's lock and digest items; DescribeTable for doctor and unlock. The
        # deploy role writes digests (each state write; doctor --fix-digest).
        *_grant(role, "StateLockTable", [table],
                reads=["dynamodb:DescribeTable", "dynamodb:GetItem"],
                writes=["dynamodb:DeleteItem", "dynamodb:PutItem"]),
        # The S3 backend's lock objects (use_lockfile) beside the states: every role removes
        # them (a run's end, unlock); the deploy role's state writes already create them.
        statement("StateLockObjectsReleased", ["s3:DeleteObject"], lock_objects(env)),
    ]
    if role == PLAN:
        # Plans keep locking (a plan never reads a state an apply is half-way through), but
        # only the lock items `<bucket>/<key>`: every key of the request must be one of them,
        # so a digest `<bucket>/<key>-md5` can never be overwritten or removed. The Null test
        # refuses a request without keys, which ForAllValues alone would let through.
        statements.append(statement(
            "PlanLocksStatesOnly", ["dynamodb:DeleteItem", "dynamodb:PutItem"], [table],
            condition={"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": lock_ids(env)},
                       "Null": {"dynamodb:LeadingKeys": "false"}}))
        # and creates a lock object only where none exists (Terraform writes it with
        # If-None-Match: *), so it never replaces another run's lock
        statements.append(statement(
            "PlanCreatesLockObjectsOnly", ["s3:PutObject"], lock_objects(env),
            condition={"Null": {"s3:if-none-match": "false"}}))
    return statements


def _tables(env: Environment, role: str) -> list[JsonObject]:
    tables = table_names()
    table_arns = [dynamodb_arn(env, f"table/{t}") for t in tables]
    # the pre-deploy on-demand backups, where the env takes them (pre_deploy_backup)
    backups = ["dynamodb:CreateBackup"] if env.pre_deploy_backup else []
    return [
        # What hashicorp/aws 3.39 aws_dynamodb_table calls (create, read, update, delete,
        # tags, PITR, TTL), plus the pre-deploy on-demand backup of a changed table. All of
        # these authorise on the table (GSIs included), so no index ARN is needed.
        *_grant(role, "TablesAndPreDeployBackups", table_arns, reads=[
            # read-only: DescribeTable, DescribeContinuousBackups, DescribeTimeToLive, ...
            "dynamodb:Describe*", "dynamodb:ListTagsOfResource",
        ], writes=[
            *backups, "dynamodb:CreateTable", "dynamodb:DeleteTable",
            "dynamodb:TagResource", "dynamodb:UntagResource",
            "dynamodb:UpdateContinuousBackups", "dynamodb:UpdateTable",
            "dynamodb:UpdateTimeToLive",
        ]),
        # Waiting for a pre-deploy backup to become AVAILABLE (a read only the deploy path
        # makes, hence among the writes).
        *_grant(role, "WaitForPreDeployBackups", [f"{arn}/backup/*" for arn in table_arns],
                writes=["dynamodb:DescribeBackup"] if backups else []),
    ]


def _buckets(env: Environment, role: str) -> list[JsonObject]:
    arns = [s3_arn(env, name) for name in bucket_names(env)]
    # aws_s3_bucket in 3.39 reads every bucket setting (one Get* per inline block) and writes
    # them with Put*; objects are the uploaded templates (and their versions on delete).
    return _grant(role, "TemplateLogAndReplicaBuckets", arns + [f"{arn}/*" for arn in arns],
                  reads=["s3:Get*", "s3:List*"],
                  writes=["s3:CreateBucket", "s3:DeleteBucket*", "s3:DeleteObject*",
                          "s3:Put*"])


def _backup(env: Environment, role: str) -> list[JsonObject]:
    vaults = vault_arns(env)
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
    regions = [env.region, env.dr_region] if copy_to_dr(env) else [env.region]
    # A vault encrypted with the AWS-managed key aws/backup needs these on that key when it is
    # created; only through AWS Backup, never directly. Nothing a plan does needs a key.
    return _grant(role, "AwsManagedKeyViaBackupForNewVaults",
                  [arn(env, "kms", "key/*", region) for region in regions], writes=[
                      "kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey",
                      "kms:GenerateDataKey", "kms:RetireGrant",
                  ], condition={"StringEquals": {
                      "kms:ViaService": [f"backup.{r}.amazonaws.com" for r in regions]}})


def _service_roles(env: Environment, role: str) -> list[JsonObject]:
    backup_roles = [iam_arn(env, f"role/{name}-backup") for name in backup_names(env)]
    replication_roles = [iam_arn(env, f"role/{name}-replication")
                         for name in replicated_bucket_names(env)]
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
    previous = previous_name(env)
    if previous is None:
        return []
    # Another account's bucket: its policy must allow this too (ledger_read_bucket_policy).
    bucket = f"arn:{partition(env)}:s3:::{state_bucket_of(previous)}"
    return [
        statement("PromoteListsPreviousEnvLedger", ["s3:ListBucket"],
                   [bucket], condition={"StringLike": {"s3:prefix": [f"{LEDGER_PREFIX}*"]}}),
        statement("PromoteReadsPreviousEnvLedger", ["s3:GetObject"],
                   [f"{bucket}/{LEDGER_PREFIX}*"]),
        statement("PromoteReadsPreviousEnvStateVersions",
                   ["s3:GetObjectVersion"], _state_objects(bucket)),
    ]


# --- building blocks ----------------------------------------------------------------------


def _checked(role: str, env: Environment | None = None) -> str:
    known = (*ROLES, BREAK_GLASS) if env is None else roles(env)
    if role not in known:
        raise ValueError(f"unknown role {role!r}; one of {known}")
    return role


def _grant(role: str, sid: str, resources: list[str], *, reads: Iterable[str] = (),
           writes: Iterable[str] = (), condition: JsonObject | None = None
           ) -> list[JsonObject]:
    """One Allow statement of `reads`, plus `writes` for the roles that change things (deploy,
    break-glass); none when the role gets no action here. Reads and writes of a resource stay
    side by side in one place."""
    actions = [*reads, *(writes if role != PLAN else ())]
    if not actions:
        return []
    return [statement(sid, actions, resources, condition=condition)]
