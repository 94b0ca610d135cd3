"""The x-accessPatterns member of the schema files (tools/bbws_infra/inputs/access_patterns.py):
each offline rule with the real schemas passing and a broken copy failing with one finding that
names the pattern, the index and the attribute."""

from __future__ import annotations

import json

import pytest

from bbws_infra.inputs import access_patterns
from bbws_infra.inputs.access_patterns import AccessPattern
from tests.unit.inputs.test_schemas import SCHEMAS, findings_of, only

AP = "$.x-accessPatterns"


def _pattern(schema, name):
    return next(p for p in schema["x-accessPatterns"] if p["name"] == name)


def test_real_schemas_document_the_application_patterns():
    names = {table: [(p.name, p.index_label) for p in access_patterns.load(
        json.loads(path.read_text()))] for table, path in SCHEMAS.items()}
    assert names == {
        "tenants": [("tenant by id", "the table"), ("tenant by email", "EmailIndex"),
                    ("tenants by status newest first", "TenantStatusIndex"),
                    ("active tenants", "TenantActiveIndex")],
        "products": [("product by id", "the table"), ("active products", "ProductActiveIndex")],
        "campaigns": [("campaign by code", "the table"),
                      ("campaigns of a product", "CampaignProductIndex"),
                      ("active campaigns", "CampaignActiveIndex")],
    }
    (status,) = [p for p in access_patterns.load(json.loads(SCHEMAS["tenants"].read_text()))
                 if p.index == "TenantStatusIndex"]
    assert status == AccessPattern("tenants by status newest first", "TenantStatusIndex",
                                   "status", "dateCreated", None, "descending",
                                   ("id", "email", "organizationName", "active", "status",
                                    "dateCreated"))


def test_the_member_is_required(tmp_path):
    only(findings_of(tmp_path, "products", lambda s: s.pop("x-accessPatterns")),
         "products", AP, "lacks x-accessPatterns")


def test_the_shape_is_checked(tmp_path):
    def change(schema):
        _pattern(schema, "tenant by email")["order"] = "sideways"

    only(findings_of(tmp_path, "tenants", change), "tenants", f"{AP}[1].order",
         "must be ascending or descending")
    only(findings_of(tmp_path / "e", "tenants", lambda s: s.update({"x-accessPatterns": []})),
         "tenants", AP, "at least one access pattern")


def test_the_index_must_exist(tmp_path):
    def change(schema):
        _pattern(schema, "tenant by email")["index"] = "MailIndex"

    only(findings_of(tmp_path, "tenants", change), "tenants", f"{AP}[1].index",
         "'tenant by email' queries index 'MailIndex', which x-dynamodb does not define")


def test_the_keys_must_be_the_index_keys(tmp_path):
    def change(schema):
        _pattern(schema, "tenants by status newest first")["hashKey"] = "email"

    only(findings_of(tmp_path, "tenants", change), "tenants", f"{AP}[2].hashKey",
         "queries TenantStatusIndex by 'email', but its hashKey is 'status'")

    def no_range(schema):
        _pattern(schema, "tenant by email")["rangeKey"] = "dateCreated"

    only(findings_of(tmp_path / "r", "tenants", no_range), "tenants", f"{AP}[1].rangeKey",
         "queries EmailIndex by 'dateCreated', but its rangeKey does not exist")

    def order_alone(schema):
        del _pattern(schema, "active products")["rangeKey"]

    only(findings_of(tmp_path / "o", "products", order_alone), "products", f"{AP}[1].order",
         "'active products' sets order but names no rangeKey")


def test_every_needed_attribute_must_be_projected(tmp_path):
    def change(schema):
        _pattern(schema, "tenants by status newest first")["attributes"].append(
            "destinationEmail")

    only(findings_of(tmp_path, "tenants", change), "tenants", f"{AP}[2].attributes[6]",
         "'tenants by status newest first' needs 'destinationEmail', which TenantStatusIndex "
         "does not project")

    def keys_only(schema):
        schema["x-dynamodb"]["globalSecondaryIndexes"][0]["projectionType"] = "KEYS_ONLY"

    findings = findings_of(tmp_path / "k", "tenants", keys_only)
    # the table's and the index's keys stay projected; every other attribute is reported
    assert [f.path for f in findings] == [f"{AP}[1].attributes[{i}]" for i in (0, 2, 3, 4, 5)]
    assert "'tenant by email' needs 'id', which EmailIndex does not project" in (
        findings[0].message)


def test_attributes_must_be_defined_and_names_unique(tmp_path):
    def change(schema):
        _pattern(schema, "product by id")["attributes"].append("colour")

    only(findings_of(tmp_path, "products", change), "products", f"{AP}[0].attributes[9]",
         "'product by id' needs 'colour', which is not defined in properties")

    def twice(schema):
        schema["x-accessPatterns"][1]["name"] = "product by id"

    only(findings_of(tmp_path / "t", "products", twice), "products", f"{AP}[1].name",
         "'product by id' is already used by x-accessPatterns[0]")


@pytest.mark.parametrize("component", sorted(SCHEMAS))
def test_a_broken_table_definition_is_reported_once(tmp_path, component):
    """The pattern rules lean on x-dynamodb: when that is broken only its own finding shows."""
    findings = findings_of(tmp_path, component, lambda s: s["x-dynamodb"].pop("hashKey"))
    assert [f.path for f in findings] == ["$.x-dynamodb.hashKey"]
