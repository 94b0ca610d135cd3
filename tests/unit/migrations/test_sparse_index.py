"""The activePartition backfill, derived from each table's schema: change() over every edge
case the schema's if/then/else decides, and the three migration files that use it."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bbws_infra.core.errors import UserError
from bbws_infra.core.registry import resolve_components
from bbws_infra.inputs import schemas
from bbws_infra.migrations import catalog
from bbws_infra.migrations.sparse_index import SparseKey, sparse_key

TABLES = {"tenants": "TenantActiveIndex", "products": "ProductActiveIndex",
          "campaigns": "CampaignActiveIndex"}
BASE = {"PK": "TENANT#1", "SK": "METADATA", "email": "a@example.org",
        "dateCreated": "2024-01-01T00:00:00Z"}


@pytest.mark.parametrize("component", list(TABLES))
def test_the_key_comes_from_the_schema(component):
    key = sparse_key(component)
    assert key == SparseKey(index=TABLES[component], attribute="activePartition",
                            value="ACTIVE", flag="active", flag_value=True)


@pytest.mark.parametrize(("item", "expected"), [
    # active: gets the constant, or keeps it
    ({"active": True}, {"active": True, "activePartition": "ACTIVE"}),
    ({"active": True, "activePartition": "ACTIVE"}, None),
    # a wrong value is put right
    ({"active": True, "activePartition": "active"}, {"active": True,
                                                     "activePartition": "ACTIVE"}),
    ({"active": True, "activePartition": Decimal(1)}, {"active": True,
                                                       "activePartition": "ACTIVE"}),
    # soft-deleted: loses it, or already has none
    ({"active": False, "activePartition": "ACTIVE"}, {"active": False}),
    ({"active": False}, None),
    # the schema's `if` holds only for the boolean true: no `active`, or a number or a
    # string, is the `else` branch (the attribute must be absent)
    ({"activePartition": "ACTIVE"}, {}),
    ({}, None),
    ({"active": Decimal(1), "activePartition": "ACTIVE"}, {"active": Decimal(1)}),
    ({"active": "true"}, None),
])
def test_change_follows_the_schema(item, expected):
    key = sparse_key("tenants")
    before = {**BASE, **item}
    snapshot = dict(before)
    changed = key.change(before)
    assert before == snapshot, "change() never alters the item it is given"
    assert changed == (None if expected is None else {**BASE, **expected})
    if changed is not None:
        assert key.change(changed) is None, "idempotent: its own result needs nothing"


def test_change_keeps_every_other_attribute():
    key = sparse_key("tenants")
    item = {**BASE, "active": True, "organizationName": "Acme", "tags": {"a": [1, 2]}}
    assert key.change(item) == {**item, "activePartition": "ACTIVE"}


def test_the_scan_filter_names_the_attributes_and_values():
    scan = sparse_key("campaigns").scan_filter
    assert scan.names == {"#flag": "active", "#key": "activePartition"}
    assert scan.values == {":flag": True, ":value": "ACTIVE"}


def test_the_migration_files_load_with_what_they_need():
    found = catalog.discover(resolve_components(None))
    assert set(found) == set(TABLES)  # the template bucket has no items to migrate
    for component, migrations in found.items():
        (migration,) = migrations
        assert migration.id == "0001_backfill_active_partition"
        assert migration.needs_index == TABLES[component]
        assert migration.needs_attribute == "activePartition"
        assert migration.change({**BASE, "active": True})["activePartition"] == "ACTIVE"


def test_a_schema_without_a_sparse_key_is_refused(tmp_path):
    import shutil

    from bbws_infra.core.paths import REPO_ROOT

    shutil.copytree(REPO_ROOT / "dynamodb" / "tenants", tmp_path / "dynamodb" / "tenants",
                    symlinks=True)
    path = tmp_path / "dynamodb" / "tenants" / "tenant.schema.json"
    path.write_text(path.read_text().replace('"then": { "required": ["activePartition"] }',
                                             '"then": { "required": [] }'))
    with pytest.raises(UserError, match="no single sparse index key"):
        sparse_key("tenants", tmp_path)


def test_a_changed_schema_example_validates():
    """What change() makes of a schema example with the key removed is valid again."""
    component = resolve_components("tenants")[0]
    path = schemas.schema_file(component)
    example = dict(schemas.load_table_definition(path).schema["examples"][0])
    del example["activePartition"]
    assert schemas.validate_item(path, example) != []
    assert schemas.validate_item(path, sparse_key("tenants").change(example)) == []
