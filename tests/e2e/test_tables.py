"""Issue: DynamoDB tables from JSON schemas, applied for real on the sandbox.

`invoke plan` then `invoke apply --confirm deploy-dev` for the three tables; boto3 then checks
every setting against the schema files, runs each access pattern through its index, and a
second plan must be empty.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import boto3
import pytest
from boto3.dynamodb.conditions import Attr, Key

from bbws_infra.core.paths import REPO_ROOT
from bbws_infra.core.registry import COMPONENTS, load_environment
from bbws_infra.inputs.schemas import load_table_definition, validate_item
from bbws_infra.plans import bundle, operations
from bbws_infra.release import verify
from bbws_infra.targets import sandbox, targets
from tests.support.cli import invoke

pytestmark = pytest.mark.e2e

TABLES = {"tenants": "tenant", "products": "product", "campaigns": "campaign"}
MANDATORY_TAGS = {"Environment", "Project", "Owner", "CostCenter", "ManagedBy", "BackupPolicy",
                  "Component"}


def _schema_path(component: str) -> Path:
    return REPO_ROOT / "dynamodb" / component / f"{TABLES[component]}.schema.json"


def _examples(component: str) -> list[dict]:
    schema = json.loads(_schema_path(component).read_text(), parse_float=Decimal)
    return schema["examples"]


@pytest.fixture(scope="module")
def dev(work: Path):
    components = ",".join(TABLES)
    planned = invoke("plan", "--env", "dev", "--component", components)
    assert planned.returncode == 0, planned.stdout + planned.stderr
    applied = invoke("apply", "--env", "dev", "--component", components, "--confirm",
                     "deploy-dev")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    env = load_environment("dev")
    _, session, _ = sandbox.session_for(env)
    return env, session


def _resource(session) -> object:
    return boto3.resource("dynamodb", endpoint_url=session.endpoint, region_name=session.region,
                          aws_access_key_id=session.access_key,
                          aws_secret_access_key=session.secret_key)


def _checks(dev, component: str) -> list[verify.Check]:
    env, session = dev
    return verify.resource_checks(session, env, COMPONENTS[component], REPO_ROOT)


@pytest.mark.parametrize("component", list(TABLES))
def test_table_matches_its_schema_file(dev, component):
    checks = _checks(dev, component)
    assert [c for c in checks if not c.ok] == []

    definition = load_table_definition(_schema_path(component))
    table = f"table {definition.table_name}"
    names = {c.name for c in checks}
    settings = ("key schema", "billing mode", "encryption", "point-in-time recovery", "stream",
                "time to live")
    assert {f"{table}: {s}" for s in settings} <= names
    assert {f"{table}: attribute {a}" for a in definition.attribute_types} <= names
    indexes = {n for n in names if n.startswith(f"{table}: index ")}
    assert indexes == {f"{table}: index {g.name} {what}" for g in definition.gsis
                       for what in ("keys", "projection")}
    assert {f"{table}: tag {k}" for k in MANDATORY_TAGS} <= names


def test_backup_plan_follows_the_env(dev):
    env, _ = dev
    for component in TABLES:
        checks = _checks(dev, component)
        assert [c for c in checks if not c.ok] == []
        backup = {c.name: c for c in checks if c.name.startswith("backup ")}
        name = f"bbws-{component}-{env.name}"
        assert set(backup) == {f"backup vault {name}"} | {
            f"backup plan {name}: {what}"
            for what in ("rules", "schedule", "target vault", "retention", "DR copy",
                         "selection")}
        assert backup[f"backup plan {name}: schedule"].found == env.values["backup_schedule"]
        assert backup[f"backup plan {name}: DR copy"].found == "none"  # dev: no DR copy
        assert backup[f"backup plan {name}: selection"].found == f"covers table {component}"


def test_access_patterns_through_the_indexes(dev):
    _, session = dev
    dynamodb = _resource(session)
    for component in TABLES:
        definition = load_table_definition(_schema_path(component))
        table = dynamodb.Table(definition.table_name)
        for item in _examples(component):
            assert validate_item(definition, item) == []
            table.put_item(Item=item)

    # an invalid item is refused before any write
    bad = dict(_examples("campaigns")[0], discountPercentage=Decimal(150), code="BADCODE",
               PK="CAMPAIGN#BADCODE")
    assert validate_item(load_table_definition(_schema_path("campaigns")), bad)

    tenants = dynamodb.Table("tenants")
    tenant_examples = _examples("tenants")
    first = tenant_examples[0]
    by_email = tenants.query(IndexName="EmailIndex",
                             KeyConditionExpression=Key("email").eq(first["email"]))["Items"]
    assert [t["id"] for t in by_email] == [first["id"]]

    for status in {t["status"] for t in tenant_examples}:
        found = tenants.query(IndexName="TenantStatusIndex",
                              KeyConditionExpression=Key("status").eq(status),
                              ScanIndexForward=False)["Items"]
        expected = sorted((t for t in tenant_examples if t["status"] == status),
                          key=lambda t: t["dateCreated"], reverse=True)
        assert [t["id"] for t in found] == [t["id"] for t in expected]

    def active(component, index, sort_key):
        rows = dynamodb.Table(component).query(
            IndexName=index, KeyConditionExpression=Key("activePartition").eq("ACTIVE")
        )["Items"]
        expected = sorted((i for i in _examples(component) if i["active"]),
                          key=lambda i: i[sort_key])
        assert [r["id"] for r in rows] == [i["id"] for i in expected]
        assert len(expected) < len(_examples(component)), "examples need a soft-deleted item"

    active("tenants", "TenantActiveIndex", "dateCreated")
    active("products", "ProductActiveIndex", "dateCreated")
    active("campaigns", "CampaignActiveIndex", "fromDate")

    campaigns = _examples("campaigns")
    product_id = campaigns[0]["productId"]
    of_product = dynamodb.Table("campaigns").query(
        IndexName="CampaignProductIndex", KeyConditionExpression=Key("productId").eq(product_id),
        FilterExpression=Attr("active").eq(True))["Items"]
    expected = sorted((c for c in campaigns if c["productId"] == product_id and c["active"]),
                      key=lambda c: c["fromDate"])
    assert [c["id"] for c in of_product] == [c["id"] for c in expected]

    # soft delete: the item leaves the sparse index and stays in the table
    keep = next(t for t in tenant_examples if t["active"])
    tenants.update_item(Key={"PK": keep["PK"], "SK": keep["SK"]},
                        UpdateExpression="SET active = :false REMOVE activePartition",
                        ExpressionAttributeValues={":false": False})
    remaining = tenants.query(IndexName="TenantActiveIndex",
                              KeyConditionExpression=Key("activePartition").eq("ACTIVE"))["Items"]
    assert keep["id"] not in {t["id"] for t in remaining}
    assert tenants.get_item(Key={"PK": keep["PK"], "SK": keep["SK"]})["Item"]["active"] is False


def test_second_plan_shows_no_changes(dev):
    again = invoke("plan", "--env", "dev", "--component", ",".join(TABLES),
                   "--detailed-exitcode")
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.count("0 to add, 0 to change, 0 to destroy") == 3


def test_prod_backups_and_a_protected_table_replacement(work: Path):
    # Applied with the engine directly: prod's deploy path takes only committed code, which a
    # developer's working tree may not be (that path is tested in a clean copy, test_deploy).
    env = load_environment("prod")
    ctx = targets.prepare("sandbox", env)
    tenants = COMPONENTS["tenants"]
    targets.stage(ctx, [tenants])
    operations.plan(ctx, tenants)
    operations.apply_saved_plan(  # no deploy path here: nothing checks the shown plan
        ctx, tenants, bundle.bundle_dir("sandbox", "prod", tenants) / bundle.PLAN_FILE,
        check=lambda shown: None)
    _, session, _ = sandbox.session_for(env)

    # PROD backs up hourly, keeps 90 days and copies every recovery point to eu-west-1
    backup = session.client("backup")
    (summary,) = backup.list_backup_plans()["BackupPlansList"]
    (rule,) = backup.get_backup_plan(BackupPlanId=summary["BackupPlanId"])["BackupPlan"]["Rules"]
    assert rule["ScheduleExpression"] == "cron(0 * * * ? *)"
    assert rule["Lifecycle"]["DeleteAfterDays"] == 90
    (copy,) = rule["CopyActions"]
    assert copy["DestinationBackupVaultArn"].startswith("arn:aws:backup:eu-west-1:093646564004:")
    dr_vaults = session.client("backup", region_name="eu-west-1").list_backup_vaults()
    assert copy["DestinationBackupVaultArn"] in {
        v["BackupVaultArn"] for v in dr_vaults["BackupVaultList"]}

    # A renamed table forces a replacement; plan it from an edited staged copy (never the repo).
    staged = ctx.root_dir(tenants) / "tenant.schema.json"
    schema = json.loads(staged.read_text())
    schema["x-dynamodb"]["tableName"] = "tenants_v2"
    staged.write_text(json.dumps(schema))
    summary = operations.plan(ctx, tenants).summary
    assert ("replace", "module.table.aws_dynamodb_table.this", "aws_dynamodb_table") in [
        change[:3] for change in summary.changes]
    # the bundle names the protected address at the top; apply's refusal of it is proven in
    # tests/e2e/test_deploy.py
    saved = bundle.bundle_dir("sandbox", "prod", tenants)
    record = json.loads((saved / bundle.RECORD).read_text())
    assert record["protected_removals"] == ["module.table.aws_dynamodb_table.this"]
    assert (saved / bundle.SUMMARY_TEXT).read_text().splitlines()[2] == (
        "  ! module.table.aws_dynamodb_table.this")
    tables = session.client("dynamodb").list_tables()["TableNames"]
    assert "tenants" in tables and "tenants_v2" not in tables


def test_state_list_pull_and_push_through_the_engine(dev, tmp_path: Path):
    env, _ = dev
    ctx = targets.prepare("sandbox", env)
    products = COMPONENTS["products"]
    targets.stage(ctx, [products])
    assert "module.table.aws_dynamodb_table.this" in operations.state_list(ctx, products)
    state = operations.state_pull(ctx, products)
    assert state["lineage"] and state["serial"] >= 1

    state["serial"] += 1  # a push must not go backwards; same content, next serial
    pushed = tmp_path / "state.json"
    pushed.write_text(json.dumps(state))
    operations.state_push(ctx, products, pushed)
    after = operations.state_pull(ctx, products)
    assert after["lineage"] == state["lineage"] and after["serial"] >= state["serial"]
    assert after["resources"] == state["resources"]

    # every push is a new S3 object version: what a rollback chooses from
    _, session, _ = sandbox.session_for(env)
    versions = session.client("s3").list_object_versions(
        Bucket=env.state_bucket, Prefix=products.state_key)["Versions"]
    assert len(versions) >= 2 and all(v["VersionId"] for v in versions)
