"""The checks of a deployed table component: the DynamoDB table, its indexes and tags, and
its AWS Backup vault, plan and selection (against the schema file and the env's tfvars)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from bbws_infra.core.registry import Component, Environment
from bbws_infra.core.untyped import Client, JsonObject, Session
from bbws_infra.inputs.schemas import TableDefinition, load_table_definition, schema_file
from bbws_infra.release.verify_checks import (
    ABSENT,
    BACKUP_RULE,
    DYNAMODB_KMS_ALIAS,
    MISSING,
    NONE,
    STREAM_VIEW,
    Check,
    CheckList,
    days_text,
    expected_tags,
    get_or_none,
    pages,
    tag_checks,
    tag_map,
)


def _keys(hash_key: str, range_key: str | None) -> str:
    return f"{hash_key} HASH" + (f", {range_key} RANGE" if range_key else "")


def _found_keys(key_schema: list[dict[str, str]]) -> str:
    return ", ".join(f"{k['AttributeName']} {k['KeyType']}" for k in key_schema)


def _projection(projection_type: str, non_key: Iterable[str]) -> str:
    attributes = sorted(non_key)
    return f"{projection_type}: {', '.join(attributes)}" if attributes else projection_type


def table_component(session: Session, env: Environment, component: Component, source_root: Path
                     ) -> list[Check]:
    definition = load_table_definition(schema_file(component, source_root))
    dynamodb = session.client("dynamodb", region_name=env.region)
    checks = CheckList(component.name)
    described = get_or_none(dynamodb.describe_table, TableName=definition.table_name)
    table = described["Table"] if described else None
    _table_checks(checks, session, env, definition, table)
    tags = None
    if table:
        tags = tag_map(pages(dynamodb, "list_tags_of_resource", "Tags",
                               ResourceArn=table["TableArn"]))
    tag_checks(checks, f"table {definition.table_name}", expected_tags(env, component), tags)
    _backup_checks(checks, session, env, component, definition.table_name,
                   table["TableArn"] if table else None)
    return checks


def _table_checks(checks: CheckList, session: Session, env: Environment,
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
        backups = get_or_none(dynamodb.describe_continuous_backups, TableName=name)
        pitr = MISSING if backups is None else backups["ContinuousBackupsDescription"].get(
            "PointInTimeRecoveryDescription", {}).get("PointInTimeRecoveryStatus", "DISABLED")
        described = get_or_none(dynamodb.describe_time_to_live, TableName=name)
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
    listed = get_or_none(kms.list_aliases, KeyId=key_arn) if key_arn else None
    aliases = sorted(a["AliasName"] for a in (listed or {}).get("Aliases", []))
    return f"{sse.get('SSEType', NONE)}, {', '.join(aliases) or key_arn or 'no key'}"


# --- AWS Backup -----------------------------------------------------------------------------


def _vault_check(checks: CheckList, session: Session, name: str, region: str) -> None:
    backup = session.client("backup", region_name=region)
    vault = get_or_none(backup.describe_backup_vault, BackupVaultName=name)
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
    for summary in pages(backup, "list_backup_plans", "BackupPlansList"):
        if summary.get("BackupPlanName") == name:
            return summary
    return None


def _backup_checks(checks: CheckList, session: Session, env: Environment, component: Component,
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
    checks.add(f"{what}: retention", days_text(retention),
               found(lambda r: days_text(r.get("Lifecycle", {}).get("DeleteAfterDays"))))
    # Copies keep the same retention as the recovery points (modules/backup/main.tf).
    checks.add(f"{what}: DR copy",
               f"{dr_vault} in {env.dr_region}, {days_text(retention)}" if copy_to_dr else NONE,
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
        f"{days_text(a.get('Lifecycle', {}).get('DeleteAfterDays'))}" for a in actions) or NONE


def _selected(backup: Client, plan_id: str, table_arn: str) -> bool:
    for selection in pages(backup, "list_backup_selections", "BackupSelectionsList",
                            BackupPlanId=plan_id):
        detail = backup.get_backup_selection(BackupPlanId=plan_id,
                                              SelectionId=selection["SelectionId"])
        if table_arn in detail["BackupSelection"].get("Resources", []):
            return True
    return False
