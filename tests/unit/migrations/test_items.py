"""The conditional write of one item: what it sets, removes and requires."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bbws_infra.migrations import items

RAW = {"PK": {"S": "TENANT#1"}, "SK": {"S": "METADATA"}, "active": {"BOOL": True},
       "count": {"N": "3"}, "old": {"S": "x"}}
KEYS = ["PK", "SK"]


def _names(write: items.Write) -> dict[str, str]:
    return {v: k for k, v in write.names.items()}


def test_typed_form_round_trip():
    python = items.to_python(RAW)
    assert python == {"PK": "TENANT#1", "SK": "METADATA", "active": True,
                      "count": Decimal(3), "old": "x"}
    assert {k: items.to_wire(v) for k, v in python.items()} == RAW


def test_the_write_sets_removes_and_requires_the_item_read():
    old = items.to_python(RAW)
    new = {k: v for k, v in old.items() if k != "old"} | {"activePartition": "ACTIVE"}
    write = items.plan_write(RAW, old, new, KEYS)
    n = _names(write)
    assert write.key == {"PK": RAW["PK"], "SK": RAW["SK"]}
    assert write.update == f"SET {n['activePartition']} = :s0 REMOVE {n['old']}"
    assert write.values[":s0"] == {"S": "ACTIVE"}
    # every attribute read, compared with the value read; the added one still absent
    for index, attribute in enumerate(sorted(RAW)):
        assert f"{n[attribute]} = :c{index}" in write.condition
        assert write.values[f":c{index}"] == RAW[attribute]
    assert f"attribute_not_exists({n['activePartition']})" in write.condition
    request = write.request("tenants")
    assert request["TableName"] == "tenants" and request["ConditionExpression"]


def test_a_changed_value_is_set():
    old = items.to_python(RAW)
    write = items.plan_write(RAW, old, {**old, "count": Decimal(4)}, KEYS)
    assert write.update == f"SET {_names(write)['count']} = :s0"
    assert "attribute_not_exists" not in write.condition


@pytest.mark.parametrize(("new", "message"), [
    ({"PK": "TENANT#2"}, "alters key attribute PK"),
    ({"score": 1.5}, "Float types are not supported"),
])
def test_an_unwritable_change_is_refused(new, message):
    old = items.to_python(RAW)
    with pytest.raises(items.ChangeError, match=message):
        items.plan_write(RAW, old, {**old, **new}, KEYS)


def test_an_item_too_large_for_one_condition_is_refused():
    raw = {**RAW, **{f"attribute{i}": {"S": "v"} for i in range(400)}}
    old = items.to_python(raw)
    with pytest.raises(items.ChangeError, match="too many attributes"):
        items.plan_write(raw, old, {**old, "activePartition": "ACTIVE"}, KEYS)


def test_keys_as_text_and_json():
    key = {"PK": {"S": "TENANT#1"}, "SK": {"B": b"\x00\xff"}}
    assert items.key_text({"PK": {"S": "TENANT#1"}, "SK": {"S": "METADATA"}}) == \
        "PK=TENANT#1, SK=METADATA"
    assert items.from_json_key(items.to_json_key(key)) == key
    assert items.to_json_key(key)["SK"] == {"B64": "AP8="}
