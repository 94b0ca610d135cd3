"""The data stage of verify (tools/bbws_infra/release/verify_data.py, canary.py) against tables
and a template bucket built with boto3 in moto (in-process): every access pattern passes on a
table as the schema defines it, each break fails naming the pattern, the index and the
attribute, a canary never outlives the stage, and where writes are off nothing is written."""

from __future__ import annotations

import fnmatch
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from bbws_infra.core.paths import REPO_ROOT
from bbws_infra.core.registry import COMPONENTS, Environment, load_environment
from bbws_infra.inputs import access_patterns
from bbws_infra.inputs.schemas import TableDefinition, load_table_definition, schema_file
from bbws_infra.release import canary, verify_data
from bbws_infra.release.canary import CanaryError

TEMPLATES = REPO_ROOT / "s3" / "templates" / "templates"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class Session:
    """The slice of boto3.Session the stage uses; `wrap` may stand between it and a client."""

    def __init__(self, wrap: Any = None) -> None:
        self.wrap = wrap

    def client(self, service: str, region_name: str | None = None) -> Any:
        client = boto3.client(service, region_name=region_name or "af-south-1",
                              aws_access_key_id="testing", aws_secret_access_key="testing")
        return self.wrap(client) if self.wrap else client


class Recorder:
    """A DynamoDB client that records each call's name and may break one."""

    def __init__(self, client: Any, calls: list[str], fail: dict[tuple[str, int], Any]) -> None:
        self.client, self.calls, self.fail = client, calls, fail

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.client, name)

        def call(**kwargs: Any) -> Any:
            self.calls.append(name)
            breaking = self.fail.get((name, self.calls.count(name)))
            if isinstance(breaking, BaseException):
                raise breaking
            return breaking(kwargs) if breaking else method(**kwargs)

        return call


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        yield


def _definition(component: str) -> TableDefinition:
    return load_table_definition(schema_file(COMPONENTS[component]))


def _create_table(component: str, projections: dict[str, dict[str, Any]] | None = None,
                  without: str | None = None) -> TableDefinition:
    """The table as modules/dynamodb_table makes it; `projections` overrides an index's
    projection, `without` leaves an index out."""
    definition = _definition(component)
    gsis = [{"IndexName": g.name,
             "KeySchema": [{"AttributeName": g.hash_key, "KeyType": "HASH"}] + (
                 [{"AttributeName": g.range_key, "KeyType": "RANGE"}] if g.range_key else []),
             "Projection": (projections or {}).get(g.name) or {
                 "ProjectionType": g.projection_type,
                 **({"NonKeyAttributes": g.non_key_attributes} if g.non_key_attributes else {})}}
            for g in definition.gsis]
    dynamodb = Session().client("dynamodb")
    dynamodb.create_table(
        TableName=definition.table_name, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"},
                   {"AttributeName": "SK", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": t}
                              for a, t in definition.attribute_types.items()],
        GlobalSecondaryIndexes=gsis)
    if without:  # as someone would behind Terraform's back
        dynamodb.update_table(TableName=definition.table_name, GlobalSecondaryIndexUpdates=[
            {"Delete": {"IndexName": without}}])
    return definition


def _items(table: str) -> list[dict[str, Any]]:
    return Session().client("dynamodb").scan(TableName=table)["Items"]


def _run(component: str, env: str = "dev", wrap: Any = None, now: datetime = NOW
         ) -> dict[str, verify_data.Check]:
    checks = verify_data.data_checks(Session(wrap), load_environment(env), COMPONENTS[component],
                                     REPO_ROOT, now=lambda: now)
    assert all(c.name.startswith("data: ") for c in checks)
    return {c.name.removeprefix("data: "): c for c in checks}


def _failed(checks: dict[str, verify_data.Check]) -> dict[str, str]:
    return {name: c.found for name, c in checks.items() if not c.ok}


# --- the canary -----------------------------------------------------------------------------


@pytest.mark.parametrize("component", ["tenants", "products", "campaigns"])
def test_a_canary_is_valid_marked_and_new_each_run(component):
    definition = _definition(component)
    patterns = access_patterns.load(definition.schema)
    first, second = (canary.build(definition, patterns, uuid.uuid4(), NOW) for _ in range(2))
    for item in (first.item, second.item):
        assert item["lastUpdatedBy"].startswith("bbws-verify-canary 2026-03-01T12:00:00Z ")
        assert all(v == canary.CANARY_EMAIL for k, v in item.items() if "mail" in k.lower())
        assert item["active"] is True and item["activePartition"] == "ACTIVE"
    assert first.item["id"] != second.item["id"] and first.item["PK"] != second.item["PK"]
    assert first.item["PK"].endswith(first.item["id"] if component != "campaigns"
                                      else first.item["code"])
    # IAM tells it from a customer's item by its partition key alone (pipeline/iam_data.py)
    assert all(fnmatch.fnmatchcase(item["PK"], pattern) for item in (first.item, second.item)
               for pattern in canary.LEADING_KEY_PATTERNS[:1]) != (component == "campaigns")
    assert any(fnmatch.fnmatchcase(first.item["PK"], p) for p in canary.LEADING_KEY_PATTERNS)
    assert canary.written_at(first.typed) == NOW
    assert not canary.is_stale(first.typed, NOW + timedelta(minutes=4))
    assert canary.is_stale(first.typed, NOW + timedelta(minutes=6))


def test_a_schema_without_a_usable_example_gives_no_canary():
    definition = _definition("tenants")
    patterns = access_patterns.load(definition.schema)
    inactive = {**definition.schema, "examples": [
        e for e in definition.schema["examples"] if e["active"] is False]}
    with pytest.raises(CanaryError, match="no example of an active item"):
        canary.build(TableDefinition(**{**definition.__dict__, "schema": inactive}), patterns,
                     uuid.uuid4(), NOW)
    poorer = {**definition.schema, "examples": [
        {k: v for k, v in e.items() if k not in ("organizationName", "destinationEmail")}
        for e in definition.schema["examples"]]}
    with pytest.raises(CanaryError, match="lacks destinationEmail, organizationName"):
        canary.build(TableDefinition(**{**definition.__dict__, "schema": poorer}), patterns,
                     uuid.uuid4(), NOW)
    strict = json.loads(json.dumps(definition.schema))
    strict["properties"]["organizationName"]["maxLength"] = 5
    with pytest.raises(CanaryError, match=r"invalid against it: \$.organizationName"):
        canary.build(TableDefinition(**{**definition.__dict__, "schema": strict}), patterns,
                     uuid.uuid4(), NOW)


# --- tables where canaries are written (dev) -------------------------------------------------


@pytest.mark.parametrize("component", ["tenants", "products", "campaigns"])
def test_every_pattern_returns_the_canary_and_it_is_deleted(aws, component):
    definition = _create_table(component)
    calls: list[str] = []
    checks = _run(component, wrap=lambda c: Recorder(c, calls, {}))
    assert _failed(checks) == {}
    patterns = [p.name for p in access_patterns.load(definition.schema)]
    assert list(checks) == [f"table {component} active", "canary", "left-over canaries",
                            "canary written", *patterns, "canary deleted"]
    assert _items(component) == []
    # DescribeTable, the left-over Query, PutItem, one Query per pattern, DeleteItem
    assert calls == ["describe_table", "query", "put_item", *["query"] * len(patterns),
                     "delete_item"]


def test_an_index_that_lacks_an_attribute_fails_naming_pattern_index_and_attribute(aws):
    _create_table("tenants", projections={
        "EmailIndex": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["id", "status"]}})
    checks = _run("tenants")
    assert _failed(checks) == {"tenant by email": "EmailIndex returned the canary without "
                                                  "organizationName, destinationEmail, active"}
    assert checks["canary deleted"].ok and _items("tenants") == []


def test_a_missing_index_fails_its_patterns_and_the_canary_still_goes(aws):
    _create_table("campaigns", without="CampaignActiveIndex")
    failed = _failed(_run("campaigns"))
    assert failed.pop("table campaigns active") == (
        "table campaigns ACTIVE; CampaignActiveIndex missing; CampaignProductIndex ACTIVE")
    assert list(failed) == ["active campaigns"]
    assert failed["active campaigns"].startswith("CampaignActiveIndex: ")
    assert "CampaignActiveIndex" in failed["active campaigns"].split(": ", 1)[1]
    assert _items("campaigns") == []


def test_an_index_catches_up_within_the_wait(aws):
    _create_table("tenants")
    calls: list[str] = []
    # the first Query of EmailIndex after the write answers as an index not yet caught up
    empty = {("query", 3): lambda kwargs: {"Items": [], "Count": 0}}
    checks = _run("tenants", wrap=lambda c: Recorder(c, calls, empty))
    assert _failed(checks) == {} and calls.count("query") == 1 + 4 + 1


def test_an_interrupt_mid_stage_still_deletes_the_canary(aws):
    _create_table("products")
    calls: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        _run("products", wrap=lambda c: Recorder(c, calls, {("query", 2): KeyboardInterrupt()}))
    assert calls[-1] == "delete_item" and _items("products") == []


def test_a_refused_write_is_a_failed_check_and_nothing_is_deleted(aws):
    from botocore.exceptions import ClientError

    _create_table("products")
    calls: list[str] = []
    refused = ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}},
                          "PutItem")
    failed = _failed(_run("products", wrap=lambda c: Recorder(c, calls, {("put_item", 1):
                                                                      refused})))
    assert failed == {"canary written": "AccessDeniedException: no"}
    assert "delete_item" not in calls


def test_a_left_over_canary_is_removed_and_reported_once(aws):
    definition = _create_table("tenants")
    patterns = access_patterns.load(definition.schema)
    dynamodb = Session().client("dynamodb")
    old = canary.build(definition, patterns, uuid.uuid4(), NOW - timedelta(hours=1))
    live = canary.build(definition, patterns, uuid.uuid4(), NOW - timedelta(seconds=20))
    for item in (old, live):
        dynamodb.put_item(TableName="tenants", Item=item.typed)
    failed = _failed(_run("tenants"))
    assert failed == {"left-over canaries":
                      f"1 left by an earlier run, 1 removed now: {old.item['PK']}"}
    # the canary of a run under way is left alone; the next run finds nothing more
    assert [i["PK"]["S"] for i in _items("tenants")] == [live.item["PK"]]
    assert _failed(_run("tenants")) == {}


# --- tables where nothing may be written (prod) ---------------------------------------------


def test_prod_only_reads(aws):
    definition = _create_table("tenants")
    example = definition.schema["examples"][0]
    dynamodb = Session().client("dynamodb")
    dynamodb.put_item(TableName="tenants", Item=canary.to_typed(example))
    assert not load_environment("prod").verify_canary_writes
    calls: list[str] = []
    checks = _run("tenants", "prod", wrap=lambda c: Recorder(c, calls, {}))
    assert _failed(checks) == {}
    assert "canary written" not in checks and "canary deleted" not in checks
    assert set(calls) == {"describe_table", "query"} and len(calls) == 1 + 1 + 4
    assert _items("tenants") == [canary.to_typed(example)]


def test_prod_reports_a_missing_projection_and_a_left_over_without_writing(aws):
    definition = _create_table("tenants", projections={
        "TenantStatusIndex": {"ProjectionType": "KEYS_ONLY"}})
    old = canary.build(definition, access_patterns.load(definition.schema), uuid.uuid4(),
                       NOW - timedelta(days=1))
    Session().client("dynamodb").put_item(TableName="tenants", Item=old.typed)
    failed = _failed(_run("tenants", "prod"))
    assert failed == {
        "tenants by status newest first":
            "TenantStatusIndex does not project id, email, organizationName, active",
        "left-over canaries": "1 left by an earlier run, not removed (this env allows no "
                              f"canary writes): {old.item['PK']}"}
    assert len(_items("tenants")) == 1


def test_a_missing_table_is_one_failed_check(aws):
    assert _failed(_run("products")) == {"table products active": "table products missing"}
    assert _failed(_run("products", "prod")) == {
        "table products active": "table products missing"}


# --- the template bucket ---------------------------------------------------------------------


def _upload(env: Environment, change: dict[str, bytes | None] | None = None) -> None:
    s3 = Session().client("s3")
    bucket = f"bbws-templates-{env.name}"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": env.region})
    for path in sorted(p for p in TEMPLATES.rglob("*") if p.is_file()):
        key = path.relative_to(TEMPLATES).as_posix()
        body = (change or {}).get(key, path.read_bytes())
        if body is not None:
            s3.put_object(Bucket=bucket, Key=key, Body=body)


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_every_template_object_renders_with_its_sample_context(aws, env):
    _upload(load_environment(env))
    checks = _run("templates", env)
    assert _failed(checks) == {}
    objects = {p.relative_to(TEMPLATES).as_posix() for p in TEMPLATES.rglob("*") if p.is_file()}
    assert {n.removeprefix("template ") for n in checks} == objects
    assert checks["template receipts/receipt.html"].found == (
        "renders with all 25 declared variables filled")


def test_a_template_object_without_a_variable_or_with_an_unknown_one_fails(aws):
    receipt = (TEMPLATES / "receipts" / "receipt.html").read_text()
    order = (TEMPLATES / "receipts" / "order.txt").read_text()
    _upload(load_environment("dev"), {
        "receipts/receipt.html": receipt.replace("{{paymentReference}}", "").encode(),
        "receipts/order.txt": order.replace("{{{orderNumber}}}", "{{{orderNo}}}").encode(),
        "invoices/invoice.txt": None,
        "invoices/invoice.html": b"{{#items}}never closed",
    })
    failed = _failed(_run("templates"))
    assert failed == {
        "template receipts/receipt.html": "no tag for paymentReference",
        "template receipts/order.txt": "undeclared tags that render empty: orderNo",
        "template invoices/invoice.txt": "missing",
        "template invoices/invoice.html": "Mustache: section 'items' is never closed",
    }


def test_components_without_data_have_no_data_stage():
    assert verify_data.data_checks(Session(), load_environment("dev"), COMPONENTS["alerts"],
                                   REPO_ROOT) == []


def test_the_canary_switch_is_each_envs_tfvars_value_and_off_by_default():
    assert {e: load_environment(e).verify_canary_writes for e in ("dev", "sit", "prod")} == {
        "dev": True, "sit": True, "prod": False}
    dev = load_environment("dev")
    values = {k: v for k, v in dev.values.items() if k != "verify_canary_writes"}
    assert Environment(**{**dev.__dict__, "values": values}).verify_canary_writes is False
