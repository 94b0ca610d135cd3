"""The item schemas and their x-dynamodb table definitions (tools/bbws_infra/inputs/schemas.py)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bbws_infra.core.findings import Finding
from bbws_infra.core.paths import REPO_ROOT
from bbws_infra.inputs.schema_rules import CHECKED_FORMATS, FORMAT_CHECKER
from bbws_infra.inputs.schemas import (
    SchemaFileError,
    load_table_definition,
    schema_files,
    validate_all,
    validate_item,
    validate_schema_file,
)

SCHEMAS = {
    "tenants": REPO_ROOT / "dynamodb/tenants/tenant.schema.json",
    "products": REPO_ROOT / "dynamodb/products/product.schema.json",
    "campaigns": REPO_ROOT / "dynamodb/campaigns/campaign.schema.json",
}
GSIS = "$.x-dynamodb.globalSecondaryIndexes"


def broken(tmp_path: Path, component: str, change: Callable[[dict[str, Any]], Any]) -> Path:
    """Copy a real schema to tmp_path/dynamodb/<component>/ and apply `change` to it."""
    schema = json.loads(SCHEMAS[component].read_text())
    change(schema)
    target = tmp_path / "dynamodb" / component / SCHEMAS[component].name
    target.parent.mkdir(parents=True)
    target.write_text(json.dumps(schema, indent=2))
    return target


def findings_of(tmp_path: Path, component: str, change: Callable[[dict[str, Any]], Any]):
    return validate_schema_file(broken(tmp_path, component, change), tmp_path)


def only(findings: list[Finding], component: str, where: str, fragment: str) -> None:
    """Exactly one finding, at `where`, whose message contains `fragment`."""
    assert len(findings) == 1, findings
    (finding,) = findings
    assert finding.file == f"dynamodb/{component}/{SCHEMAS[component].name}"
    assert finding.where == where
    assert fragment in finding.message, finding.message


# --- the real schemas ----------------------------------------------------------------------


def test_real_schemas_have_no_findings():
    assert schema_files() == sorted(SCHEMAS.values())
    assert validate_all() == []


@pytest.mark.parametrize(
    ("component", "types", "gsis"),
    [
        (
            "tenants",
            {
                "PK": "S",
                "SK": "S",
                "email": "S",
                "status": "S",
                "dateCreated": "S",
                "activePartition": "S",
            },
            {
                "EmailIndex": ("email", None, "ALL"),
                "TenantStatusIndex": ("status", "dateCreated", "INCLUDE"),
                "TenantActiveIndex": ("activePartition", "dateCreated", "ALL"),
            },
        ),
        (
            "products",
            {"PK": "S", "SK": "S", "activePartition": "S", "dateCreated": "S"},
            {"ProductActiveIndex": ("activePartition", "dateCreated", "ALL")},
        ),
        (
            "campaigns",
            {"PK": "S", "SK": "S", "activePartition": "S", "fromDate": "S", "productId": "S"},
            {
                "CampaignActiveIndex": ("activePartition", "fromDate", "ALL"),
                "CampaignProductIndex": ("productId", "fromDate", "ALL"),
            },
        ),
    ],
)
def test_table_definitions(component, types, gsis):
    table = load_table_definition(SCHEMAS[component])
    assert (table.table_name, table.hash_key, table.range_key) == (component, "PK", "SK")
    assert table.attribute_types == types
    assert {g.name: (g.hash_key, g.range_key, g.projection_type) for g in table.gsis} == gsis
    include = [g for g in table.gsis if g.projection_type == "INCLUDE"]
    assert all(g.non_key_attributes for g in include)
    assert not any(g.non_key_attributes for g in table.gsis if g not in include)


def test_examples_cover_statuses_products_and_soft_deletes():
    examples = {c: json.loads(p.read_text())["examples"] for c, p in SCHEMAS.items()}
    for items in examples.values():
        assert len(items) >= 3
        assert any(item["active"] is False for item in items)
    assert len({t["status"] for t in examples["tenants"]}) >= 2
    assert len({t["dateCreated"] for t in examples["tenants"]}) >= 2
    assert len({c["productId"] for c in examples["campaigns"]}) >= 2


def test_binary_and_number_key_types(tmp_path):
    def change(schema):
        schema["properties"]["avatar"] = {"type": "string", "contentEncoding": "base64"}
        schema["properties"]["rank"] = {"type": "integer"}
        schema["x-dynamodb"]["globalSecondaryIndexes"].append(
            {
                "name": "AvatarIndex",
                "hashKey": "avatar",
                "rangeKey": "rank",
                "projectionType": "KEYS_ONLY",
            }
        )

    table = load_table_definition(broken(tmp_path, "tenants", change))
    assert table.attribute_types["avatar"] == "B"
    assert table.attribute_types["rank"] == "N"


def test_format_checker_checks_the_formats_we_use():
    bad = {
        "uuid": "not-a-uuid",
        "email": "user@",
        "date": "2025-02-30",
        "date-time": "2025-01-01 10:00",
        "uri": "no scheme here",
    }
    for name in CHECKED_FORMATS:
        assert not FORMAT_CHECKER.conforms(bad[name], name), name
    assert FORMAT_CHECKER.conforms("https://www.bbws.co.za/terms", "uri")
    assert not FORMAT_CHECKER.conforms("https://", "uri")


# --- broken x-dynamodb ---------------------------------------------------------------------


def test_boolean_key_attribute(tmp_path):
    def change(schema):
        schema["x-dynamodb"]["globalSecondaryIndexes"].append(
            {
                "name": "ActiveIndex",
                "hashKey": "active",
                "rangeKey": "dateCreated",
                "projectionType": "ALL",
            }
        )

    only(
        findings_of(tmp_path, "products", change),
        "products",
        f"{GSIS}[1].hashKey",
        "Key attribute 'active' (hashKey of index 'ActiveIndex') has JSON type 'boolean'",
    )
    with pytest.raises(SchemaFileError, match="'boolean'"):
        load_table_definition(tmp_path / "dynamodb/products/product.schema.json")


def test_undefined_key_attribute(tmp_path):
    def change(schema):
        schema["x-dynamodb"]["globalSecondaryIndexes"][0]["rangeKey"] = "entityType"

    only(
        findings_of(tmp_path, "tenants", change),
        "tenants",
        f"{GSIS}[0].rangeKey",
        "'entityType' (rangeKey of index 'EmailIndex') is not defined in properties",
    )


def test_duplicate_index_key_pair(tmp_path):
    def change(schema):
        gsis = schema["x-dynamodb"]["globalSecondaryIndexes"]
        gsis.append({**gsis[0], "name": "ActiveIndex"})

    only(
        findings_of(tmp_path, "products", change),
        "products",
        f"{GSIS}[1]",
        "Index 'ActiveIndex' has the same keys (activePartition, dateCreated) as index "
        "'ProductActiveIndex'",
    )


def test_index_with_the_table_key_pair(tmp_path):
    def change(schema):
        schema["x-dynamodb"]["globalSecondaryIndexes"].append(
            {"name": "CopyIndex", "hashKey": "PK", "rangeKey": "SK", "projectionType": "ALL"}
        )

    only(
        findings_of(tmp_path, "campaigns", change),
        "campaigns",
        f"{GSIS}[2]",
        "same keys (PK, SK) as the table",
    )


def test_duplicate_index_name(tmp_path):
    def change(schema):
        schema["x-dynamodb"]["globalSecondaryIndexes"].append(
            {"name": "EmailIndex", "hashKey": "lastUpdatedBy", "projectionType": "KEYS_ONLY"}
        )

    only(
        findings_of(tmp_path, "tenants", change),
        "tenants",
        f"{GSIS}[3].name",
        "Index name 'EmailIndex' is already used by globalSecondaryIndexes[0]",
    )


def test_more_than_20_gsis(tmp_path):
    def change(schema):
        gsi = schema["x-dynamodb"]["globalSecondaryIndexes"][0]
        schema["x-dynamodb"]["globalSecondaryIndexes"] = [
            {**gsi, "name": f"Index{i:02}"} for i in range(21)
        ]

    only(
        findings_of(tmp_path, "products", change),
        "products",
        GSIS,
        "at most 20 global secondary indexes, this one declares 21",
    )


def test_include_without_non_key_attributes(tmp_path):
    def change(schema):
        del schema["x-dynamodb"]["globalSecondaryIndexes"][1]["nonKeyAttributes"]

    only(
        findings_of(tmp_path, "tenants", change),
        "tenants",
        f"{GSIS}[1].nonKeyAttributes",
        "INCLUDE needs nonKeyAttributes",
    )


def test_non_key_attributes_without_include(tmp_path):
    def change(schema):
        schema["x-dynamodb"]["globalSecondaryIndexes"][0]["nonKeyAttributes"] = ["status"]

    only(
        findings_of(tmp_path, "tenants", change),
        "tenants",
        f"{GSIS}[0].nonKeyAttributes",
        "allowed only with projection type INCLUDE",
    )


def test_undefined_non_key_attribute(tmp_path):
    def change(schema):
        schema["x-dynamodb"]["globalSecondaryIndexes"][1]["nonKeyAttributes"].append("phone")

    only(
        findings_of(tmp_path, "tenants", change),
        "tenants",
        f"{GSIS}[1].nonKeyAttributes[4]",
        "projects 'phone', which is not defined",
    )


@pytest.mark.parametrize(
    ("member", "value", "where", "fragment"),
    [
        ("tableName", "tb", "$.x-dynamodb.tableName", "Table name 'tb' must be 3-255"),
        ("tableName", "campaigns", "$.x-dynamodb.tableName", "differs from its component"),
        ("billingMode", "PROVISIONED", "$.x-dynamodb.billingMode", "PAY_PER_REQUEST"),
        ("hashKey", "", "$.x-dynamodb.hashKey", "1-255 characters"),
        ("streams", True, "$.x-dynamodb.streams", "'streams' was unexpected"),
    ],
)
def test_x_dynamodb_shape_and_names(tmp_path, member, value, where, fragment):
    only(
        findings_of(tmp_path, "tenants", lambda s: s["x-dynamodb"].update({member: value})),
        "tenants",
        where,
        fragment,
    )


def test_bad_index_name_and_projection(tmp_path):
    def change(schema):
        schema["x-dynamodb"]["globalSecondaryIndexes"][0].update(
            name="Email Index", projectionType="SOME"
        )

    findings = findings_of(tmp_path, "tenants", change)
    assert [(f.where, f.message) for f in findings] == [
        (
            f"{GSIS}[0].name",
            "Index name 'Email Index' must be 3-255 characters of letters, "
            "digits, '_', '.' and '-'.",
        ),
        (f"{GSIS}[0].projectionType", "Projection type 'SOME' must be ALL, KEYS_ONLY or INCLUDE."),
    ]


def test_missing_x_dynamodb(tmp_path):
    only(
        findings_of(tmp_path, "products", lambda s: s.pop("x-dynamodb")),
        "products",
        "$.x-dynamodb",
        "lacks the x-dynamodb table definition",
    )


# --- broken examples and files -------------------------------------------------------------


def test_example_with_bad_email(tmp_path):
    only(
        findings_of(tmp_path, "tenants", lambda s: s["examples"][1].update(email="thandi")),
        "tenants",
        "$.examples[1].email",
        "'thandi' is not a 'email'",
    )


def test_example_with_discount_over_100(tmp_path):
    def change(schema):
        schema["examples"][0]["discountPercentage"] = 150

    only(
        findings_of(tmp_path, "campaigns", change),
        "campaigns",
        "$.examples[0].discountPercentage",
        "150 is greater than the maximum of 100",
    )


def test_example_with_bad_uri(tmp_path):
    def change(schema):
        schema["examples"][2]["termsConditionsLink"] = "see the website"

    only(
        findings_of(tmp_path, "campaigns", change),
        "campaigns",
        "$.examples[2].termsConditionsLink",
        "is not a 'uri'",
    )


def test_example_missing_a_key_attribute(tmp_path):
    only(
        findings_of(tmp_path, "products", lambda s: s["examples"][2].pop("SK")),
        "products",
        "$.examples[2].SK",
        "Example lacks the table key attribute 'SK'",
    )


def test_example_with_a_wrong_key_pattern(tmp_path):
    def change(schema):
        schema["examples"][0]["PK"] = "TENANT#acme"

    only(findings_of(tmp_path, "tenants", change), "tenants", "$.examples[0].PK", "does not match")


def test_invalid_json(tmp_path):
    target = tmp_path / "dynamodb/campaigns/campaign.schema.json"
    target.parent.mkdir(parents=True)
    lines = SCHEMAS["campaigns"].read_text().splitlines()
    number = lines.index('  "type": "object",') + 1
    lines[number - 1] = '  "type": "object"'  # missing comma: the error is on the next line
    target.write_text("\n".join(lines))
    (finding,) = validate_schema_file(target, tmp_path)
    assert finding == Finding(
        "dynamodb/campaigns/campaign.schema.json",
        number + 1,
        "Invalid JSON: Expecting ',' delimiter at column 3.",
    )


def test_invalid_against_the_meta_schema(tmp_path):
    def change(schema):
        schema["properties"]["price"]["type"] = "strin"

    only(
        findings_of(tmp_path, "products", change),
        "products",
        "$.properties.price.type",
        "'strin' is not valid under any of the given schemas",
    )


def test_table_key_must_be_required(tmp_path):
    only(
        findings_of(tmp_path, "tenants", lambda s: s["required"].remove("SK")),
        "tenants",
        "$.required",
        "Table key attribute 'SK' must be required",
    )


def test_no_schema_files(tmp_path):
    assert validate_all(tmp_path) == [
        Finding.at_path("dynamodb", "$", "No schema files match dynamodb/*/*.schema.json.")
    ]


# --- validate_item -------------------------------------------------------------------------


def example(component: str, index: int) -> dict[str, Any]:
    return copy.deepcopy(json.loads(SCHEMAS[component].read_text())["examples"][index])


def test_validate_item_accepts_examples_via_path_and_definition():
    definition = load_table_definition(SCHEMAS["campaigns"])
    assert validate_item(SCHEMAS["campaigns"], example("campaigns", 0)) == []
    assert validate_item(definition, example("campaigns", 2)) == []


def test_sparse_invariant_soft_deleted_item_must_not_carry_active_partition():
    item = example("tenants", 2)
    assert item["active"] is False
    item["activePartition"] = "ACTIVE"
    assert validate_item(SCHEMAS["tenants"], item) == [
        "$.activePartition: 'activePartition' must not be present in this item (forbidden by "
        "the schema's if/then/else rule)."
    ]


def test_sparse_invariant_active_item_needs_active_partition():
    item = example("products", 0)
    del item["activePartition"]
    assert validate_item(SCHEMAS["products"], item) == [
        "$.activePartition: 'activePartition' is a required property."
    ]


def test_validate_item_reports_unknown_attributes_and_bad_dates():
    item = example("campaigns", 1) | {"entityType": "CAMPAIGN", "fromDate": "2025-02-30"}
    assert validate_item(SCHEMAS["campaigns"], item) == [
        "$.entityType: Additional properties are not allowed ('entityType' was unexpected).",
        "$.fromDate: '2025-02-30' is not a 'date'.",
    ]


def test_only_table_components_have_item_schemas():
    """The template bucket's root holds contracts.schema.json, which is no item schema: the
    checks before a plan of templates must not read it as one."""
    from bbws_infra.core.registry import COMPONENTS
    from bbws_infra.inputs import preflight, schemas

    assert schemas.schema_files(component=COMPONENTS["templates"]) == []
    assert [p.name for p in schemas.schema_files(component=COMPONENTS["tenants"])] == [
        "tenant.schema.json"]
    assert preflight.check_components(list(COMPONENTS.values())) == []
