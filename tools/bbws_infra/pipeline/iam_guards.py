"""The policies attached beside each role's own permissions policy (pipeline/iam_policy.py):
explicit Denies that no other policy attached to a role can grant back (the ledger guard on
every role, the protected-deletes guard on prod's deploy role), and the account health reads
`invoke doctor` makes. Each is a managed policy of its own: the permissions policies have no
room left."""

from __future__ import annotations

from bbws_infra.core.registry import COMPONENTS, Environment
from bbws_infra.core.untyped import JsonObject
from bbws_infra.pipeline.iam_documents import (
    POLICY_VERSION,
    dynamodb_arn,
    fitting,
    partition,
    s3_arn,
    statement,
)
from bbws_infra.pipeline.iam_resources import bucket_names, table_names, vault_arns
from bbws_infra.state.ledger import INTENTS_PREFIX
from bbws_infra.state.ledger import PREFIX as LEDGER_PREFIX
from bbws_infra.state.state_bucket import log_bucket


def ledger_guard_policy_name(env: Environment) -> str:
    return f"bbws-infra-ledger-guard-{env.name}"


def ledger_guard_policy(env: Environment) -> JsonObject:
    """Explicit Denies attached to every role beside its permissions policy: no other
    policy attached to a role can grant back deleting a ledger record (or any version of it),
    a write that could replace one, or deleting a state object or any version in the state
    bucket. (A managed policy of its own: the deploy role's permissions policy of prod has no
    room left for it.)"""
    ledger = ledger_objects(env)
    bucket = s3_arn(env, env.state_bucket)
    return fitting({"Version": POLICY_VERSION, "Statement": [
        # Every earlier state stays recoverable; a lock file (`.tflock`) may still be deleted
        # (a delete marker), its versions may not.
        statement("StateVersionsAreNeverDeleted", ["s3:DeleteObjectVersion"],
                   [f"{bucket}/*"], effect="Deny"),
        statement("StateObjectsAreNeverDeleted", ["s3:DeleteObject"],
                   [f"{bucket}/{c.state_key}" for c in COMPONENTS.values()], effect="Deny"),
        statement("LedgerRecordsAreNeverDeleted",
                   ["s3:DeleteObject", "s3:DeleteObjectVersion"], ledger, effect="Deny"),
        # Multipart uploads would need an s3:ObjectCreationOperation exemption (their parts
        # carry no If-None-Match); ledger records are single small PutObject calls.
        statement("LedgerRecordsAreNeverOverwritten", ["s3:PutObject"], ledger,
                   effect="Deny", condition={"Null": {"s3:if-none-match": "true"}}),
    ]}, f"The ledger guard policy of {env.name}")


def ledger_objects(env: Environment) -> list[str]:
    """The ledger's records and the intents the deploy path leaves before each apply."""
    bucket = s3_arn(env, env.state_bucket)
    return [f"{bucket}/{LEDGER_PREFIX}*", f"{bucket}/{INTENTS_PREFIX}*"]


def protected_deletes_guard_policy_name(env: Environment) -> str:
    return f"bbws-infra-protected-deletes-guard-{env.name}"


def protected_deletes_guard_policy(env: Environment) -> JsonObject | None:
    """Where deletion protection is on, explicit Denies attached to the deploy role: it can
    neither delete nor replace (a replacement deletes first) a table, bucket or backup vault,
    whatever the tool is told; only the break-glass role can. None where protection is off."""
    if not env.deletion_protection:
        return None
    buckets = [s3_arn(env, name) for name in bucket_names(env)]
    return fitting({"Version": POLICY_VERSION, "Statement": [
        statement("ProtectedTablesAreNotDeleted", ["dynamodb:DeleteTable"],
                   [dynamodb_arn(env, f"table/{t}") for t in table_names()], effect="Deny"),
        statement("ProtectedBucketsAreNotDeleted", ["s3:DeleteBucket"], buckets,
                   effect="Deny"),
        statement("ProtectedVaultsAreNotDeleted", ["backup:DeleteBackupVault"],
                   vault_arns(env), effect="Deny"),
    ]}, f"The protected-deletes guard policy of {env.name}")


def account_health_read_policy_name(env: Environment) -> str:
    return f"bbws-infra-account-health-read-{env.name}"


def account_health_read_policy(env: Environment) -> JsonObject:
    """What `invoke doctor` reads besides the state (attached to every role, so a failed job's
    doctor step sees it too): the state bucket's hardening and its log bucket, whether the
    env's regions are enabled, AWS Backup's region settings, which planned bucket names the
    account owns. Reads only. (A managed policy of its own: the permissions policies have no
    room left.)"""
    logs = s3_arn(env, log_bucket(env))
    return fitting({"Version": POLICY_VERSION, "Statement": [
        statement("StateBucketHardeningRead", [
            "s3:GetBucketLogging", "s3:GetBucketPolicy", "s3:GetBucketPublicAccessBlock",
            "s3:GetEncryptionConfiguration"], [s3_arn(env, env.state_bucket), logs]),
        statement("StateLogBucketExists", ["s3:ListBucket"], [logs]),
        statement("AccountRegionsEnabled", ["account:GetRegionOptStatus"],
                  [f"arn:{partition(env)}:account::{env.account_id}:account"]),
        # IAM scopes neither to a resource
        statement("BackupRegionSettingsAndOwnedBuckets",
                  ["backup:DescribeRegionSettings", "s3:ListAllMyBuckets"], ["*"]),
    ]}, f"The account health read policy of {env.name}")
