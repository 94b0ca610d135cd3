"""What the IAM policies name in an environment, derived the way the Terraform derives it:
tables from the schema files' x-dynamodb.tableName, backup vault/plan/role from
dynamodb/table_main.tf and modules/backup (`bbws-<component>-<env>`, `-dr`, `-backup`), buckets
and the replication role from s3/templates/main.tf and modules/replication
(`bbws-<component>-<env>`, `-logs`, `-replica`, `-replication`), and the S3 backend's lock
items. Resources a feature creates are named only where the env's tfvars switch it on."""

from __future__ import annotations

from bbws_infra.core.paths import REPO_ROOT
from bbws_infra.core.registry import COMPONENTS, Environment, previous_env
from bbws_infra.inputs import schemas
from bbws_infra.pipeline.iam_documents import arn, s3_arn
from bbws_infra.state.planned_buckets import component_buckets
from bbws_infra.state.state_backend import lock_id, lockfile_key


def table_names() -> list[str]:
    """Every table, as its schema file names it (x-dynamodb.tableName)."""
    return sorted(schemas.load_table_definition(p).table_name
                  for p in schemas.schema_files(REPO_ROOT))


def backup_names(env: Environment) -> list[str]:
    """Vault, plan and selection name of each table component (dynamodb/table_main.tf)."""
    return sorted(f"bbws-{c.name}-{env.name}" for c in COMPONENTS.values()
                  if c.kind == "dynamodb")


def replicated_bucket_names(env: Environment) -> list[str]:
    if not env.values.get("replication_enabled"):
        return []
    return sorted(f"bbws-{c.name}-{env.name}" for c in COMPONENTS.values() if c.kind == "s3")


def bucket_names(env: Environment) -> list[str]:
    """The buckets the bucket components create in env, as their roots name them (the
    template bucket, and its -logs and -replica buckets where the tfvars switch them on)."""
    return sorted(name for component in COMPONENTS.values() if component.kind == "s3"
                  for name in component_buckets(env, component))


def lock_objects(env: Environment) -> list[str]:
    """The S3 backend's lock objects (`<key>.tflock`) beside the states, as one pattern: the
    deploy policy of prod has no room for each key, and the pattern reaches no state or
    ledger object."""
    return [f"{s3_arn(env, env.state_bucket)}/*.{lockfile_key('').lstrip('.')}"]


def lock_ids(env: Environment) -> list[str]:
    """The S3 backend's lock item of each component's state (its LockID, `<bucket>/<key>`)."""
    return sorted(lock_id(env, c.state_key) for c in COMPONENTS.values())


def copy_to_dr(env: Environment) -> bool:
    return bool(env.values.get("backup_copy_to_dr"))


def previous_name(env: Environment) -> str | None:
    """The environment whose ledger this one promotes from."""
    return previous_env(env.name)


def state_bucket_of(env_name: str) -> str:
    return f"bbws-terraform-state-{env_name}"  # Environment.state_bucket, by name


def vault_arns(env: Environment) -> list[str]:
    vaults = [arn(env, "backup", f"backup-vault:{name}") for name in backup_names(env)]
    if copy_to_dr(env):
        vaults += [arn(env, "backup", f"backup-vault:{name}-dr", env.dr_region)
                   for name in backup_names(env)]
    return vaults
