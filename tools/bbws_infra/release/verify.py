"""What is deployed against what the repository says: boto3 reads an environment's resources and
every setting is compared with the files of a source tree (schema files, envs/<env>.tfvars, the
template files) and with the names and settings the Terraform modules give them.

`invoke verify` prints the checks; the end-to-end tests run the very same checks on the sandbox.
A missing resource is a failed check (found = "missing"), never an exception; any other AWS error
(credentials, permissions) propagates.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from bbws_infra.core import tables, tfvars
from bbws_infra.core.errors import UserError
from bbws_infra.core.paths import REPO_ROOT
from bbws_infra.core.registry import Component, Environment
from bbws_infra.core.untyped import Client, ClientCall, Json, JsonObject, Session
from bbws_infra.inputs.schemas import TableDefinition, load_table_definition
from bbws_infra.plans.plan_summary import summarise

if TYPE_CHECKING:
    from bbws_infra.targets.targets import TargetContext

MISSING = "missing"  # the resource itself does not exist
NONE = "none"  # the resource exists without this setting
ABSENT = "absent"  # expected of anything the repository does not declare

# Error codes that mean "there is no such thing": each turns into a failed check.
_NOT_FOUND = frozenset({
    "404", "NotFound", "NoSuchBucket", "NoSuchKey", "NoSuchBucketPolicy", "NoSuchTagSet",
    "NoSuchLifecycleConfiguration", "NoSuchPublicAccessBlockConfiguration",
    "ServerSideEncryptionConfigurationNotFoundError", "ReplicationConfigurationNotFoundError",
    "ResourceNotFoundException", "TableNotFoundException",
})

# Mandatory tag keys (modules/mandatory_tags; tables add BackupPolicy in dynamodb/table_main.tf).
MANDATORY_TAGS = ("Environment", "Project", "Owner", "CostCenter", "ManagedBy", "Component")

# Fixed settings of the modules (not per environment).
BACKUP_RULE = "scheduled-backup"  # modules/backup/main.tf
DYNAMODB_KMS_ALIAS = "alias/aws/dynamodb"  # no kms_key_arn: the AWS-managed key
STREAM_VIEW = "NEW_AND_OLD_IMAGES"  # modules/dynamodb_table/main.tf
SSE_ALGORITHM = "AES256"  # modules/s3_bucket/main.tf
LOG_DELIVERY_PRINCIPAL = "logging.s3.amazonaws.com"  # s3/templates/main.tf
TEMPLATE_DIR = "templates"  # s3/<component>/templates, uploaded by s3/templates/main.tf


@dataclass(frozen=True)
class Check:
    component: str  # component name, e.g. "tenants"
    name: str  # short stable name, e.g. "table tenants: point-in-time recovery"
    expected: str  # human-readable expected value
    found: str  # human-readable found value ("missing" when absent)
    ok: bool


def resource_checks(session: Session, env: Environment, component: Component, source_root: Path
                    ) -> list[Check]:
    """Every check of one component's deployed resources against the files under source_root.

    `session` offers `.client(service, region_name=None)` (a boto3.Session or the sandbox's
    SandboxSession). Tables: the table settings, indexes, tags and AWS Backup vault, plan and
    the selection (on both targets: the sandbox emulator answers the selection calls too).
    s3 components: the buckets (template, access-log and DR replica), their settings and tags,
    and every template object.
    """
    if component.kind == "dynamodb":
        return _table_component(session, env, component, source_root)
    if component.kind == "s3":
        return _bucket_component(session, env, component, source_root)
    raise UserError(f"Component {component.name!r} has kind {component.kind!r}; verify knows "
                    "dynamodb and s3.")


# --- helpers --------------------------------------------------------------------------------


class _Checks(list[Check]):
    """Checks of one component; found values are rendered like the expected ones and compared."""

    def __init__(self, component: str) -> None:
        super().__init__()
        self.component = component

    def add(self, name: str, expected: object, found: object) -> None:
        self.append(Check(self.component, name, str(expected), str(found),
                          str(expected) == str(found)))


def _get(call: ClientCall, **kwargs: object) -> JsonObject | None:
    """The response, or None when AWS says the thing does not exist."""
    try:
        return call(**kwargs)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in _NOT_FOUND:
            return None
        raise


def _pages(client: Client, operation: str, key: str, **kwargs: object) -> list[JsonObject]:
    return [item for page in client.get_paginator(operation).paginate(**kwargs)
            for item in page.get(key, [])]


def _tag_map(tags: Iterable[dict[str, str]]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tags}


def _expected_tags(env: Environment, component: Component) -> dict[str, str]:
    """The tags the root merges over the tfvars tags (dynamodb/table_main.tf,
    s3/templates/main.tf); the Component tag is the component's folder."""
    tags = {str(k): str(v) for k, v in env.values.get("tags", {}).items()}
    tags.update(Environment=env.name, Component=component.kind)
    if component.kind == "dynamodb":
        tags["BackupPolicy"] = str(env.values["backup_policy"])
    return tags


def _tag_checks(checks: _Checks, what: str, expected: dict[str, str],
                found: dict[str, str] | None) -> None:
    """One check per tag key (extra tags AWS or the organisation adds are allowed)."""
    keys = dict.fromkeys([*MANDATORY_TAGS, *sorted(expected)])
    for key in keys:
        value = MISSING if found is None else found.get(key, MISSING)
        checks.add(f"{what}: tag {key}", expected.get(key, "any value"),
                   value if key in expected or value == MISSING else "any value")


def _days(days: object) -> str:
    return NONE if days is None else f"{days} day" + ("" if days == 1 else "s")


# --- DynamoDB tables ------------------------------------------------------------------------


def _schema_file(source_root: Path, component: Component) -> Path:
    # The root reads exactly one *.schema.json (one(fileset(...)) in dynamodb/table_main.tf).
    files = sorted((source_root / component.root).glob("*.schema.json"))
    if len(files) != 1:
        raise UserError(f"{component.root} must hold exactly one *.schema.json, found "
                        f"{len(files)}.")
    return files[0]


def _keys(hash_key: str, range_key: str | None) -> str:
    return f"{hash_key} HASH" + (f", {range_key} RANGE" if range_key else "")


def _found_keys(key_schema: list[dict[str, str]]) -> str:
    return ", ".join(f"{k['AttributeName']} {k['KeyType']}" for k in key_schema)


def _projection(projection_type: str, non_key: Iterable[str]) -> str:
    attributes = sorted(non_key)
    return f"{projection_type}: {', '.join(attributes)}" if attributes else projection_type


def _table_component(session: Session, env: Environment, component: Component, source_root: Path
                     ) -> list[Check]:
    definition = load_table_definition(_schema_file(source_root, component))
    dynamodb = session.client("dynamodb", region_name=env.region)
    checks = _Checks(component.name)
    described = _get(dynamodb.describe_table, TableName=definition.table_name)
    table = described["Table"] if described else None
    _table_checks(checks, session, env, definition, table)
    tags = None
    if table:
        tags = _tag_map(_pages(dynamodb, "list_tags_of_resource", "Tags",
                               ResourceArn=table["TableArn"]))
    _tag_checks(checks, f"table {definition.table_name}", _expected_tags(env, component), tags)
    _backup_checks(checks, session, env, component, definition.table_name,
                   table["TableArn"] if table else None)
    return checks


def _table_checks(checks: _Checks, session: Session, env: Environment,
                  definition: TableDefinition, table: JsonObject | None) -> None:
    name = definition.table_name
    what = f"table {name}"
    dynamodb = session.client("dynamodb", region_name=env.region)

    def found(render: Callable[[JsonObject], object]) -> object:
        return MISSING if table is None else render(table)

    checks.add(f"{what}: key schema", _keys(definition.hash_key, definition.range_key),
               found(lambda t: _found_keys(t["KeySchema"])))

    # Only key attributes are declared to DynamoDB (dynamodb/table_main.tf derives them,
    # modules/dynamodb_table/variables.tf refuses any other).
    attributes = {} if table is None else {
        a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]}
    for attribute, kind in definition.attribute_types.items():
        def declared(_: JsonObject, a: str = attribute) -> object:
            return attributes.get(a, MISSING)

        checks.add(f"{what}: attribute {attribute}", kind, found(declared))
    for attribute in sorted(set(attributes) - set(definition.attribute_types)):
        checks.add(f"{what}: attribute {attribute}", ABSENT, attributes[attribute])

    # A table created on demand reports its mode in BillingModeSummary only.
    checks.add(f"{what}: billing mode", "PAY_PER_REQUEST", found(
        lambda t: t.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED")))
    checks.add(f"{what}: encryption", f"KMS, {DYNAMODB_KMS_ALIAS}",
               found(lambda t: _table_encryption(session, env, t)))

    pitr, ttl = MISSING, MISSING
    if table is not None:
        backups = _get(dynamodb.describe_continuous_backups, TableName=name)
        pitr = MISSING if backups is None else backups["ContinuousBackupsDescription"].get(
            "PointInTimeRecoveryDescription", {}).get("PointInTimeRecoveryStatus", "DISABLED")
        described = _get(dynamodb.describe_time_to_live, TableName=name)
        ttl = MISSING if described is None else described["TimeToLiveDescription"].get(
            "TimeToLiveStatus", "DISABLED")
    checks.add(f"{what}: point-in-time recovery", "ENABLED", pitr)
    checks.add(f"{what}: stream", STREAM_VIEW, found(_stream))
    # The module declares no ttl block.
    checks.add(f"{what}: time to live", "DISABLED", ttl)

    indexes = {} if table is None else {
        g["IndexName"]: g for g in table.get("GlobalSecondaryIndexes", [])}
    for gsi in definition.gsis:
        index = indexes.get(gsi.name)
        checks.add(f"{what}: index {gsi.name} keys", _keys(gsi.hash_key, gsi.range_key),
                   MISSING if index is None else _found_keys(index["KeySchema"]))
        projection = (index or {}).get("Projection", {})
        checks.add(f"{what}: index {gsi.name} projection",
                   _projection(gsi.projection_type, gsi.non_key_attributes),
                   MISSING if index is None else _projection(
                       projection.get("ProjectionType", NONE),
                       projection.get("NonKeyAttributes", [])))
    for extra in sorted(set(indexes) - {g.name for g in definition.gsis}):
        checks.add(f"{what}: index {extra}", ABSENT, "exists")


def _stream(table: JsonObject) -> str:
    spec = table.get("StreamSpecification") or {}
    return spec.get("StreamViewType", NONE) if spec.get("StreamEnabled") else "disabled"


def _table_encryption(session: Session, env: Environment, table: JsonObject) -> str:
    sse = table.get("SSEDescription")
    if not sse or sse.get("Status") not in ("ENABLED", "ENABLING", "UPDATING"):
        return "AWS owned key"  # DynamoDB's default when SSE is not enabled
    key_arn = sse.get("KMSMasterKeyArn", "")
    kms = session.client("kms", region_name=env.region)
    listed = _get(kms.list_aliases, KeyId=key_arn) if key_arn else None
    aliases = sorted(a["AliasName"] for a in (listed or {}).get("Aliases", []))
    return f"{sse.get('SSEType', NONE)}, {', '.join(aliases) or key_arn or 'no key'}"


# --- AWS Backup -----------------------------------------------------------------------------


def _vault_check(checks: _Checks, session: Session, name: str, region: str) -> None:
    backup = session.client("backup", region_name=region)
    vault = _get(backup.describe_backup_vault, BackupVaultName=name)
    checks.add(f"backup vault {name}", f"exists in {region}",
               MISSING if vault is None else f"exists in {region}")


def _vault_of(arn: str, account_id: str) -> str:
    """'<vault> in <region>' from arn:<partition>:backup:<region>:<account>:backup-vault:<name>;
    another account is shown."""
    parts = arn.split(":")
    if len(parts) < 7:
        return arn
    where = parts[3] if parts[4] == account_id else f"{parts[3]} (account {parts[4]})"
    return f"{parts[6]} in {where}"


def _find_plan(backup: Client, name: str) -> JsonObject | None:
    for summary in _pages(backup, "list_backup_plans", "BackupPlansList"):
        if summary.get("BackupPlanName") == name:
            return summary
    return None


def _backup_checks(checks: _Checks, session: Session, env: Environment, component: Component,
                   table_name: str, table_arn: str | None) -> None:
    # Vault, plan and selection share this name (dynamodb/table_main.tf, modules/backup).
    name = f"bbws-{component.name}-{env.name}"
    dr_vault = f"{name}-dr"
    retention = env.values["backup_retention_days"]
    copy_to_dr = bool(env.values.get("backup_copy_to_dr"))
    backup = session.client("backup", region_name=env.region)

    _vault_check(checks, session, name, env.region)
    summary = _find_plan(backup, name)
    plan = None if summary is None else backup.get_backup_plan(
        BackupPlanId=summary["BackupPlanId"])["BackupPlan"]
    rules = None if plan is None else plan.get("Rules", [])
    rule = next((r for r in rules or [] if r.get("RuleName") == BACKUP_RULE), None)
    what = f"backup plan {name}"
    checks.add(f"{what}: rules", BACKUP_RULE,
               MISSING if rules is None else ", ".join(r["RuleName"] for r in rules) or NONE)

    def found(render: Callable[[JsonObject], object]) -> object:
        return MISSING if rule is None else render(rule)

    checks.add(f"{what}: schedule", env.values["backup_schedule"],
               found(lambda r: r.get("ScheduleExpression", NONE)))
    checks.add(f"{what}: target vault", name,
               found(lambda r: r.get("TargetBackupVaultName", NONE)))
    checks.add(f"{what}: retention", _days(retention),
               found(lambda r: _days(r.get("Lifecycle", {}).get("DeleteAfterDays"))))
    # Copies keep the same retention as the recovery points (modules/backup/main.tf).
    checks.add(f"{what}: DR copy",
               f"{dr_vault} in {env.dr_region}, {_days(retention)}" if copy_to_dr else NONE,
               found(lambda r: _copies(r, env.account_id)))
    if copy_to_dr:
        _vault_check(checks, session, dr_vault, env.dr_region)
    covered = MISSING
    if summary is not None:
        covered = (f"covers table {table_name}"
                   if table_arn and _selected(backup, summary["BackupPlanId"], table_arn)
                   else f"lacks table {table_name}")
    checks.add(f"{what}: selection", f"covers table {table_name}", covered)


def _copies(rule: JsonObject, account_id: str) -> str:
    actions = rule.get("CopyActions") or []
    return "; ".join(
        f"{_vault_of(a['DestinationBackupVaultArn'], account_id)}, "
        f"{_days(a.get('Lifecycle', {}).get('DeleteAfterDays'))}" for a in actions) or NONE


def _selected(backup: Client, plan_id: str, table_arn: str) -> bool:
    for selection in _pages(backup, "list_backup_selections", "BackupSelectionsList",
                            BackupPlanId=plan_id):
        detail = backup.get_backup_selection(BackupPlanId=plan_id,
                                              SelectionId=selection["SelectionId"])
        if table_arn in detail["BackupSelection"].get("Resources", []):
            return True
    return False


# --- S3: buckets and template objects -------------------------------------------------------


@dataclass(frozen=True)
class _Bucket:
    """One bucket as modules/s3_bucket creates it."""

    name: str
    region: str
    noncurrent_days: int | None
    expiration_days: int | None = None


def _main_tf_locals(source_root: Path, component: Component) -> JsonObject:
    path = source_root / component.root / "main.tf"
    merged: JsonObject = {}
    for block in tfvars.parse_file(path, source_root).get("locals", []):
        merged.update(tfvars.plain(block))
    return merged


def _content_types(found: JsonObject, component: Component) -> dict[str, str]:
    """Suffix -> content type of the uploaded templates, from the locals of the root's main.tf
    (`content_types`, restricted to the suffixes of the `template_files` glob)."""
    types = {str(k).lower(): str(v) for k, v in found.get("content_types", {}).items()}
    glob = re.search(r"\*\.\{([\w,]+)\}", str(found.get("template_files", "")))
    if glob:
        types = {s: t for s, t in types.items() if s in glob.group(1).split(",")}
    if not types:
        raise UserError(f"{component.root}/main.tf declares no template content types.")
    return types


def _template_files(source_root: Path, component: Component,
                    content_types: dict[str, str]) -> dict[str, Path]:
    # fileset() matches the suffix case-sensitively, so only lower-case suffixes are uploaded.
    base = source_root / component.root / TEMPLATE_DIR
    return {p.relative_to(base).as_posix(): p for p in sorted(base.rglob("*"))
            if p.is_file() and p.suffix[1:] in content_types}


def _bucket_component(session: Session, env: Environment, component: Component,
                      source_root: Path) -> list[Check]:
    # Names from s3/templates/main.tf: bbws-<component>-<env>, -logs and -replica.
    name = f"bbws-{component.name}-{env.name}"
    log_bucket, replica_bucket = f"{name}-logs", f"{name}-replica"
    log_prefix = f"{name}/"
    noncurrent = env.values["noncurrent_version_expiration_days"]
    logging_on = bool(env.values.get("access_logging_enabled"))
    replication_on = bool(env.values.get("replication_enabled"))
    tags = _expected_tags(env, component)
    local = _main_tf_locals(source_root, component)
    content_types = _content_types(local, component)
    s3 = session.client("s3", region_name=env.region)
    checks = _Checks(component.name)

    exists = _bucket_checks(checks, s3, _Bucket(name, env.region, noncurrent), tags)
    logging = _get(s3.get_bucket_logging, Bucket=name) if exists else None
    target = (logging or {}).get("LoggingEnabled")
    checks.add(f"bucket {name}: access logging",
               f"to {log_bucket}/{log_prefix}" if logging_on else NONE,
               MISSING if not exists else
               f"to {target['TargetBucket']}/{target.get('TargetPrefix', '')}" if target else NONE)
    replication = _get(s3.get_bucket_replication, Bucket=name) if exists else None
    checks.add(f"bucket {name}: replication",
               f"to {replica_bucket}, Enabled" if replication_on else NONE,
               MISSING if not exists else _replication(replication))
    if replication_on:
        # The role modules/replication creates: <bucket>-replication.
        role = ((replication or {}).get("ReplicationConfiguration") or {}).get("Role")
        checks.add(f"bucket {name}: replication role", f"{name}-replication",
                   role.rsplit("/", 1)[-1] if role else MISSING if not exists else NONE)

    if logging_on:
        # Log objects expire after noncurrent_version_expiration_days; the local in main.tf
        # sets how long their noncurrent versions stay.
        log_noncurrent = local.get("log_noncurrent_version_expiration_days")
        log_exists = _bucket_checks(
            checks, s3, _Bucket(log_bucket, env.region, log_noncurrent, noncurrent), tags)
        checks.add(f"bucket {log_bucket}: log delivery", f"allowed for {name}",
                   _log_delivery(s3, log_bucket) if log_exists else MISSING)
    if replication_on:
        s3_dr = session.client("s3", region_name=env.dr_region)
        _bucket_checks(checks, s3_dr, _Bucket(replica_bucket, env.dr_region, noncurrent), tags)

    _object_checks(checks, s3, name, exists, _template_files(source_root, component,
                                                            content_types), content_types)
    return checks


def _bucket_checks(checks: _Checks, s3: Client, bucket: _Bucket, tags: dict[str, str]) -> bool:
    """The settings every modules/s3_bucket bucket has; returns whether the bucket exists."""
    name, what = bucket.name, f"bucket {bucket.name}"
    exists = _get(s3.head_bucket, Bucket=name) is not None

    def read(call: ClientCall) -> JsonObject | None:
        return _get(call, Bucket=name) if exists else None

    def found(value: object) -> object:
        return value if exists else MISSING

    location = read(s3.get_bucket_location)
    # us-east-1 answers with an empty LocationConstraint.
    checks.add(f"{what}: region", bucket.region,
               found((location or {}).get("LocationConstraint") or "us-east-1"))
    versioning = read(s3.get_bucket_versioning) or {}
    checks.add(f"{what}: versioning", "Enabled", found(versioning.get("Status", NONE)))
    encryption = read(s3.get_bucket_encryption)
    checks.add(f"{what}: encryption", SSE_ALGORITHM, found(_sse(encryption)))
    block = (read(s3.get_public_access_block) or {}).get("PublicAccessBlockConfiguration")
    checks.add(f"{what}: public access block", "all four on", found(_public_block(block)))
    policy = read(s3.get_bucket_policy)
    statements = _statements(policy)
    checks.add(f"{what}: TLS-only policy", "denies non-TLS",
               found(NONE if policy is None else "denies non-TLS"
                     if any(_denies_plain_http(s, name) for s in statements) else ABSENT))
    rules = (read(s3.get_bucket_lifecycle_configuration) or {}).get("Rules", [])
    enabled = [r for r in rules if r.get("Status") == "Enabled"]
    checks.add(f"{what}: noncurrent version expiration", _days(bucket.noncurrent_days),
               found(_lifecycle_days(enabled, "NoncurrentVersionExpiration", "NoncurrentDays")))
    # A current-version expiration only where the module was given one (the log bucket).
    checks.add(f"{what}: expiration", _days(bucket.expiration_days),
               found(_lifecycle_days(enabled, "Expiration", "Days")))
    tagging = read(s3.get_bucket_tagging)
    _tag_checks(checks, what, tags, None if not exists else _tag_map(
        (tagging or {}).get("TagSet", [])))
    return exists


def _sse(encryption: JsonObject | None) -> str:
    rules = ((encryption or {}).get("ServerSideEncryptionConfiguration") or {}).get("Rules", [])
    algorithms = [r.get("ApplyServerSideEncryptionByDefault", {}).get("SSEAlgorithm", NONE)
                  for r in rules]
    return ", ".join(algorithms) or NONE


def _public_block(block: dict[str, bool] | None) -> str:
    if block is None:
        return NONE
    keys = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
    off = [k for k in keys if block.get(k) is not True]
    return "all four on" if not off else f"off: {', '.join(off)}"


def _lifecycle_days(rules: list[JsonObject], member: str, field: str) -> str:
    days = sorted({r[member][field] for r in rules if field in r.get(member, {})})
    return ", ".join(_days(d) for d in days) or NONE


def _listed(value: object) -> list[Json]:
    return value if isinstance(value, list) else [value]


def _statements(policy: JsonObject | None) -> list[JsonObject]:
    if policy is None:
        return []
    return _listed(json.loads(policy["Policy"]).get("Statement", []))


def _denies_plain_http(statement: JsonObject, bucket: str) -> bool:
    """The modules/bucket_policy statement: deny every S3 action (on the bucket and its objects)
    to everyone when aws:SecureTransport is false."""
    actions = {str(a).lower() for a in _listed(statement.get("Action", []))}
    principal = statement.get("Principal")
    everyone = principal == "*" or (
        isinstance(principal, dict) and "*" in _listed(principal.get("AWS", [])))
    resources = {str(r).split(":::", 1)[-1] for r in _listed(statement.get("Resource", []))}
    secure = statement.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport")
    return (statement.get("Effect") == "Deny" and "s3:*" in actions and everyone
            and {bucket, f"{bucket}/*"} <= resources and _listed(secure) == ["false"])


def _log_delivery(s3: Client, log_bucket: str) -> str:
    """Whom the log bucket lets the logging service write for (its aws:SourceArn)."""
    for statement in _statements(_get(s3.get_bucket_policy, Bucket=log_bucket)):
        principal = statement.get("Principal")
        services = _listed(principal.get("Service", [])) if isinstance(principal, dict) else []
        actions = {str(a).lower() for a in _listed(statement.get("Action", []))}
        if (statement.get("Effect") == "Allow" and LOG_DELIVERY_PRINCIPAL in services
                and "s3:putobject" in actions):
            sources = _listed(statement.get("Condition", {}).get("ArnLike", {}).get(
                "aws:SourceArn", []))
            names = sorted(str(s).split(":::", 1)[-1] for s in sources)
            return f"allowed for {', '.join(names) or 'any bucket'}"
    return ABSENT


def _replication(replication: JsonObject | None) -> str:
    """'to <bucket>, <status>' for each rule of the configuration."""
    rules = ((replication or {}).get("ReplicationConfiguration") or {}).get("Rules", [])
    rendered = []
    for rule in rules:
        # Every object: no filter, or an empty prefix (modules/s3_bucket/main.tf).
        scope = rule.get("Filter", {}).get("Prefix", rule.get("Prefix", ""))
        arn = rule.get("Destination", {}).get("Bucket", "")
        status = rule.get("Status", NONE) + (f", prefix {scope!r}" if scope else "")
        rendered.append(f"to {arn.split(':::', 1)[-1]}, {status}")
    return "; ".join(rendered) or NONE


def _content(data: bytes) -> str:
    return f"{len(data)} B, sha256 {hashlib.sha256(data).hexdigest()[:12]}"


def _object_checks(checks: _Checks, s3: Client, bucket: str, exists: bool,
                   files: dict[str, Path], content_types: dict[str, str]) -> None:
    """Each template file equals its object (bytes, content type); any other object fails."""
    listed = {o["Key"]: o for o in _pages(s3, "list_objects_v2", "Contents", Bucket=bucket)
              } if exists else {}
    for key, path in files.items():
        got = _get(s3.get_object, Bucket=bucket, Key=key) if key in listed else None
        body = got["Body"].read() if got else None
        checks.add(f"object {key}: bytes", _content(path.read_bytes()),
                   MISSING if body is None else _content(body))
        checks.add(f"object {key}: content type", content_types[path.suffix[1:]],
                   MISSING if got is None else got.get("ContentType", NONE))
    for key in sorted(set(listed) - set(files)):
        checks.add(f"object {key}", ABSENT, f"{listed[key].get('Size', 0)} B")


# ---- one deployed component, as `invoke verify` and the deploy path check it -------------

PENDING = "plan: nothing pending"
NO_CHANGES = "0 to add, 0 to change, 0 to destroy"


def deployed_checks(ctx: TargetContext, component: Component,
                    report: Callable[[str], None] = lambda _: None,
                    plan_json: JsonObject | None = None) -> list[Check]:
    """Every check of one deployed component: its resources against the files of ctx.source,
    and a plan of those files (plan_json when the caller already made it), which must have
    nothing pending (it neither locks the state nor writes a bundle)."""
    from bbws_infra.plans import operations

    if plan_json is None:
        plan_json = operations.speculative_plan(ctx, component, report=report)
    report("check resources")
    checks = resource_checks(ctx.live_session, ctx.env, component, ctx.source)
    summary = summarise(plan_json)
    pending = [c.address for c in summary.changes]
    found = summary.counts
    if pending:
        found += ": " + ", ".join(pending[:3]) + (", ..." if len(pending) > 3 else "")
    checks.append(Check(component.name, PENDING, NO_CHANGES, found, not summary.has_changes))
    checks += policy_checks(ctx.live_session, ctx.env, component, plan_json)
    return checks


def _planned(module: JsonObject, kind: str) -> Iterator[JsonObject]:
    """Every planned resource of one type in a module and its child modules."""
    for resource in module.get("resources", []):
        if resource.get("type") == kind and resource.get("mode") == "managed":
            yield resource
    for child in module.get("child_modules", []):
        yield from _planned(child, kind)


def _normal(value: Json) -> Json:
    """A policy document in a form two equivalent ones share: lists sorted, a list of one the
    same as its element (IAM treats "Action": "x" and ["x"] alike)."""
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        items = sorted((_normal(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
        return items[0] if len(items) == 1 else items
    return value


def policy_checks(session: Session, env: Environment, component: Component,
                  plan_json: JsonObject) -> list[Check]:
    """Every bucket policy the component manages, whole, against the document its source
    produces (the planned value of the source's aws_s3_bucket_policy): a statement added
    outside the source (an ignored override, a console edit) fails, not only a missing one."""
    checks = _Checks(component.name)
    root = (plan_json.get("planned_values") or {}).get("root_module") or {}
    for resource in _planned(root, "aws_s3_bucket_policy"):
        values = resource.get("values") or {}
        bucket, planned = values.get("bucket"), values.get("policy")
        if not bucket or not isinstance(planned, str):
            continue  # not known before apply (a bucket not created yet): pending shows it
        # the replica lives in the DR region: ask S3 where, then ask that region
        location = _get(session.client("s3", region_name=env.region).get_bucket_location,
                        Bucket=bucket) or {}
        region = location.get("LocationConstraint") or env.region
        deployed = _get(session.client("s3", region_name=region).get_bucket_policy,
                        Bucket=bucket)
        found = NONE if deployed is None else (
            "as the source" if _normal(json.loads(deployed["Policy"]))
            == _normal(json.loads(planned)) else f"differs: {deployed['Policy']}")
        checks.add(f"bucket {bucket}: whole policy", "as the source", found)
    return checks


@dataclass
class Sources:
    """Which tree each component is verified against, and the components nothing was ever
    deployed to (one failed check each)."""

    groups: dict[Path, list[Component]]
    missing: list[Check]


def sources(target: str, env: Environment, components: list[Component]) -> Sources:
    """The files each component's last apply was made from: the working tree when its inputs
    are exactly those, otherwise a clean worktree of the recorded commit. An apply from
    uncommitted changes that this tree no longer has cannot be verified: that is refused."""
    from bbws_infra.plans import bundle
    from bbws_infra.release import worktrees
    from bbws_infra.state import ledger
    from bbws_infra.targets import targets

    session = targets.reader_session(target, env)
    extra = list(targets.TARGET_IMPLEMENTATIONS[target].extra_vars)
    groups: dict[Path, list[Component]] = {}
    missing = []
    for component in components:
        record = ledger.current(session, env, component.name)
        if record is None:
            missing.append(Check(component.name, "deployed", "a recorded apply",
                                 "none in the ledger", False))
            continue
        if not record.commit:  # a state document restored without a recorded commit
            missing.append(Check(component.name, "deployed", "a recorded commit",
                                 "none (the state was restored by hand)", False))
            continue
        if bundle.inputs_fingerprint(env, component, extra) == record.inputs_sha256:
            source = REPO_ROOT
        elif record.dirty:
            raise UserError(
                f"{component.name} in {env.name} was last applied by {record.who} from "
                f"uncommitted changes on {record.commit[:12] or 'no commit'}, which this "
                "working tree does not hold; verify from that tree, or apply a commit.")
        else:
            source = worktrees.checkout(record.commit)
        groups.setdefault(source, []).append(component)
    return Sources(groups, missing)


# ---- printing ---------------------------------------------------------------------------


def table(checks: list[Check]) -> tables.CopyableTable:
    """The pass/fail table: component, check, expected, found, result (the check names an
    object or address, kept whole; what was expected and found may wrap between words)."""
    return tables.table(
        None, ["component", "check", tables.prose("expected"), tables.prose("found"), "result"],
        [[c.component, c.name, c.expected, c.found,
          "[green]pass[/green]" if c.ok else "[red]FAIL[/red]"] for c in checks])


def table_text(checks: list[Check]) -> str:
    """Plain lines for an error's details (no terminal needed)."""
    return "\n".join(f"  FAIL {c.component}: {c.name}: expected {c.expected}, found {c.found}"
                     for c in checks)


def to_json(checks: list[Check]) -> str:
    return json.dumps([asdict(c) for c in checks], indent=2)
