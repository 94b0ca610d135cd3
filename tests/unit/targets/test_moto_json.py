"""bbws_infra.targets.moto_json: DynamoDB's answers, byte for byte as moto's model walk writes
them. Each operation runs twice in one moto (in-process, boto3 against mock_aws), once with
moto's walk and once with the direct writer, and the raw HTTP bodies must be identical."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from moto import mock_aws

from bbws_infra.targets import moto_json, sandbox_server
from tests.support.moto_session import MotoSession

RICH = {
    "PK": {"S": "TENANT#1"}, "SK": {"S": "METADATA"},
    "text": {"S": ""}, "number": {"N": "-12.50"}, "blob": {"B": b"\x00\xffbytes"},
    "texts": {"SS": ["b", "a"]}, "numbers": {"NS": ["1", "10", "2.5"]},
    "blobs": {"BS": [b"one", b"\x01two"]}, "nothing": {"NULL": True}, "flag": {"BOOL": False},
    "empty_map": {"M": {}}, "empty_list": {"L": []},
    "nested": {"M": {"list": {"L": [{"S": "x"}, {"N": "1"}, {"M": {"deep": {"BOOL": True}}},
                                    {"L": [{"NULL": True}, {"B": b"z"}]}]},
                     "set": {"SS": ["only"]}, "map": {"M": {"a": {"S": "\u00e9\u4e2d\"q\""}}}}},
}
KEY = {"PK": RICH["PK"], "SK": RICH["SK"]}


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with mock_aws():
        client = MotoSession().client("dynamodb")
        client.create_table(
            TableName="rich", BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"},
                       {"AttributeName": "SK", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"},
                                  {"AttributeName": "SK", "AttributeType": "S"}])
        client.put_item(TableName="rich", Item=RICH)
        for n in range(5):
            client.put_item(TableName="rich", Item={"PK": {"S": f"TENANT#{n + 2}"},
                                                    "SK": {"S": "METADATA"},
                                                    "n": {"N": str(n)}})
        yield client
    moto_json.remove()


def _body(client: Any, call: Callable[[Any], object]) -> bytes:
    """The raw body moto answered `call` with (an error's included)."""
    bodies: list[bytes] = []

    def keep(response_dict: dict[str, Any], **_: object) -> None:
        bodies.append(response_dict["body"])

    client.meta.events.register("before-parse.dynamodb.*", keep)
    try:
        call(client)
    except client.exceptions.ClientError:
        pass
    finally:
        client.meta.events.unregister("before-parse.dynamodb.*", keep)
    (body,) = bodies
    return body


def _same_as_moto(client: Any, call: Callable[[Any], object]) -> bytes:
    moto_json.remove()
    expected = _body(client, call)
    moto_json.apply()
    assert _body(client, call) == expected
    return expected


CALLS: dict[str, Callable[[Any], object]] = {
    "get_item": lambda c: c.get_item(TableName="rich", Key=KEY),
    "scan": lambda c: c.scan(TableName="rich", Limit=4),
    "scan_projection": lambda c: c.scan(TableName="rich", ProjectionExpression="nested.map, n"),
    "query": lambda c: c.query(TableName="rich", KeyConditionExpression="PK = :p",
                               ExpressionAttributeValues={":p": RICH["PK"]}),
    "batch_get_item": lambda c: c.batch_get_item(RequestItems={"rich": {"Keys": [KEY]}}),
    "transact_get_items": lambda c: c.transact_get_items(
        TransactItems=[{"Get": {"TableName": "rich", "Key": KEY}}]),
    "update_all_new": lambda c: c.update_item(
        TableName="rich", Key=KEY, UpdateExpression="SET added = :a", ReturnValues="ALL_NEW",
        ExpressionAttributeValues={":a": {"L": [{"BS": [b"q"]}, {"NS": ["3"]}]}}),
    "put_all_old": lambda c: c.put_item(TableName="rich", Item=RICH, ReturnValues="ALL_OLD"),
    "condition_failed_all_old": lambda c: c.put_item(
        TableName="rich", Item=RICH, ConditionExpression="attribute_not_exists(PK)",
        ReturnValuesOnConditionCheckFailure="ALL_OLD"),
    "statement": lambda c: c.execute_statement(Statement="SELECT * FROM rich"),
    "describe_table": lambda c: c.describe_table(TableName="rich"),
    "list_tables": lambda c: c.list_tables(),
    "missing_table": lambda c: c.get_item(TableName="absent", Key=KEY),
}


# answers without AttributeValues, or errors (moto writes an error's item without the walk)
WITHOUT_ITEMS = {"describe_table", "list_tables", "missing_table", "condition_failed_all_old"}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_answers_are_moto_s_byte_for_byte(dynamodb, monkeypatch, name):
    written: list[object] = []
    original = moto_json.plain

    def counted(value: object, base64: Callable[[str | bytes], str]) -> object:
        written.append(value)
        return original(value, base64)

    monkeypatch.setattr(moto_json, "plain", counted)
    assert _same_as_moto(dynamodb, CALLS[name])
    # the direct writer wrote the items (not moto's walk), or there were none to write
    assert bool(written) == (name not in WITHOUT_ITEMS)


def test_every_kind_of_value_is_written_directly():
    encode = lambda value: base64.b64encode(  # noqa: E731 - moto's own encoding
        value if isinstance(value, bytes) else value.encode()).decode()
    plain = {name: moto_json.plain(value, encode) for name, value in RICH.items()}
    assert None not in plain.values()
    assert plain["blob"] == {"B": base64.b64encode(b"\x00\xffbytes").decode()}
    assert plain["nested"]["M"]["list"]["L"][3] == {"L": [{"NULL": True}, {"B": "eg=="}]}


@pytest.mark.parametrize("value", [
    None, {}, {"S": "a", "N": "1"}, {"s": "lower case"}, {"S": 1}, {"N": 1}, {"BOOL": "true"},
    {"B": 5}, {"SS": ["a", 1]}, {"BS": [None]}, {"M": {"a": {"S": None}}}, {"M": {1: {"S": "a"}}},
    {"L": [{"S": "a"}, None]}, {"L": "not a list"}, {"X": "unknown"},
])
def test_any_other_value_is_left_to_moto(value):
    assert moto_json.plain(value, lambda v: str(v)) is None


def test_apply_is_idempotent_and_the_server_applies_it():
    moto_json.apply()
    moto_json.apply()
    assert moto_json.is_applied()
    moto_json.remove()
    assert not moto_json.is_applied()
    assert moto_json in sandbox_server.EXTENSIONS
