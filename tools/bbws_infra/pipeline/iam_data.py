"""The permissions on the tables' items, as two managed policies attached beside each role's
permissions policy (prod's has no room left): what verify's data stage and the migration
listing read, for every role; and what a data migration writes, for the roles that deploy.

The canaries of verify's data stage are written by whichever role runs verify (the plan role
in the workflows' verification, the deploy role right after an apply), so where the env's
tfvars allow canaries (verify_canary_writes) both may PutItem and DeleteItem, but only items
whose partition key is a canary's (dynamodb:LeadingKeys against the
patterns release/canary.py builds canary keys from): no role can create or delete a customer's
item. Only the deploying roles may UpdateItem, which a migration's conditional writes are.
"""

from __future__ import annotations

from bbws_infra.core.registry import Environment
from bbws_infra.core.untyped import JsonObject
from bbws_infra.migrations.checkpoints import PREFIX as CHECKPOINTS_PREFIX
from bbws_infra.pipeline.iam_documents import (
    POLICY_VERSION,
    dynamodb_arn,
    fitting,
    s3_arn,
    statement,
)
from bbws_infra.pipeline.iam_resources import table_names
from bbws_infra.release.canary import LEADING_KEY_PATTERNS


def data_read_policy_name(env: Environment) -> str:
    return f"bbws-infra-data-read-{env.name}"


def data_write_policy_name(env: Environment) -> str:
    return f"bbws-infra-data-write-{env.name}"


def _tables(env: Environment) -> list[str]:
    return [dynamodb_arn(env, f"table/{name}") for name in table_names()]


def _checkpoints(env: Environment) -> list[str]:
    return [f"{s3_arn(env, env.state_bucket)}/{CHECKPOINTS_PREFIX}*"]


def _canary_writes(env: Environment) -> JsonObject:
    """PutItem and DeleteItem of canaries only: every partition key of the request must be a
    canary's, and a request without one is refused (the Null test; ForAllValues alone would
    let it through)."""
    return statement(
        "VerifyCanaryItemsOnly", ["dynamodb:DeleteItem", "dynamodb:PutItem"], _tables(env),
        condition={"ForAllValues:StringLike": {"dynamodb:LeadingKeys": LEADING_KEY_PATTERNS},
                   "Null": {"dynamodb:LeadingKeys": "false"}})


def data_read_policy(env: Environment) -> JsonObject:
    """Every role: the data stage's queries (tables and their indexes) and its canary, a
    migration's dry run (Scan), and the checkpoints `invoke migrations` shows."""
    tables = _tables(env)
    return fitting({"Version": POLICY_VERSION, "Statement": [
        statement("TableItemsRead", ["dynamodb:Query", "dynamodb:Scan"],
                  tables + [f"{arn}/index/*" for arn in tables]),
        # only where the env's tfvars let verify write canaries (not prod)
        *([_canary_writes(env)] if env.verify_canary_writes else []),
        statement("MigrationCheckpointsRead", ["s3:GetObject"], _checkpoints(env)),
    ]}, f"The data read policy of {env.name}")


def data_write_policy(env: Environment) -> JsonObject:
    """The roles that deploy: a migration's conditional UpdateItem on any item, and its
    checkpoints. (Its lease is an item of the state lock table, which the deploy role already
    writes; its ledger record goes where every record goes.)"""
    return fitting({"Version": POLICY_VERSION, "Statement": [
        # GetItem: an item a concurrent write changed under the run is read again
        statement("MigrationItemWrites", ["dynamodb:GetItem", "dynamodb:UpdateItem"],
                  _tables(env)),
        statement("MigrationCheckpointsWrite", ["s3:DeleteObject", "s3:PutObject"],
                  _checkpoints(env)),
    ]}, f"The data write policy of {env.name}")
