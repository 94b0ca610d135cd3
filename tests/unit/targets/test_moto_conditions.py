"""bbws_infra.targets.moto_conditions: conditions and filters parsed once, with moto's answers.
Each request runs in a fresh moto (in-process, boto3 against mock_aws) three times: with moto's
own parser, then with the kept trees twice (the first parses and keeps, the second binds the
request's values to what was kept); the raw HTTP bodies (errors included) and the table
afterwards must be identical."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from moto import mock_aws

from bbws_infra.targets import moto_conditions, sandbox_server
from tests.support.moto_session import MotoSession

KEY = {"PK": {"S": "TENANT#1"}, "SK": {"S": "METADATA"}}
ITEM = {**KEY, "active": {"BOOL": True}, "email": {"S": "a@example.org"},
        "tags": {"SS": ["x", "y"]}, "count": {"N": "3"},
        "nested": {"M": {"list": {"L": [{"S": "deep"}]}}}}
NAMES = {"#a0": "active", "#a1": "email", "#a2": "activePartition", "#n": "nested"}
VALUES = {":t": {"BOOL": True}, ":e": {"S": "a@example.org"}, ":p": {"S": "ACTIVE"},
          ":x": {"S": "x"}, ":lo": {"N": "1"}, ":hi": {"N": "5"}, ":d": {"S": "deep"}}

# Every kind of token and construct moto's parser knows, and texts it rejects.
CONDITIONS = [
    "#a0 = :t AND #a1 = :e AND attribute_not_exists(#a2)",  # a migration's form
    "#a0 = :t AND #a1 = :e AND attribute_not_exists(#a2)",  # the same text again
    "(#a0 <> :t OR NOT #a1 = :e) AND attribute_exists(PK)",
    "#a1 IN (:e, :x) AND #n.#a1 = :e OR begins_with(#a1, :x)",
    "count BETWEEN :lo AND :hi AND contains(tags, :x) AND size(tags) >= :lo",
    "#n.list[0] = :d AND attribute_type(#a0, :t)",
    "count < :hi AND count <= :hi AND count > :lo AND count >= :lo",
    "#a0 = :t AND",  # rejected by the parser
    "#a0 = = :t",  # rejected by the parser
    "#a0 ! :t",  # rejected by the lexer
]
REJECTED = CONDITIONS[-3:]
REFUSED: set[str] = set()  # the texts moto's parser raised an error for (e.g. `count` unquoted)


def _used(text: str) -> tuple[dict[str, str], dict[str, Any]]:
    """Only the names and values the text uses (DynamoDB refuses unused ones)."""
    return ({k: v for k, v in NAMES.items() if k in text},
            {k: v for k, v in VALUES.items() if k in text})


def _requests(text: str) -> dict[str, Callable[[Any], object]]:
    names, values = _used(text)
    extra: dict[str, Any] = {}
    if names:
        extra["ExpressionAttributeNames"] = names
    if values:
        extra["ExpressionAttributeValues"] = {**values}
    update_values = {**values, ":new": {"S": "ACTIVE"}}
    return {
        "update": lambda c: c.update_item(
            TableName="t", Key=KEY, UpdateExpression="SET activePartition = :new",
            ConditionExpression=text, ExpressionAttributeValues=update_values,
            **({"ExpressionAttributeNames": names} if names else {}),
            ReturnValues="ALL_NEW"),
        "put": lambda c: c.put_item(TableName="t", Item={**ITEM, "email": {"S": "b"}},
                                    ConditionExpression=text, **extra),
        "delete": lambda c: c.delete_item(TableName="t", Key=KEY, ConditionExpression=text,
                                          **extra),
        "scan": lambda c: c.scan(TableName="t", FilterExpression=text, **extra),
        "query": lambda c: c.query(TableName="t", KeyConditionExpression="PK = :pk",
                                   FilterExpression=text, **{
                                       **extra, "ExpressionAttributeValues": {
                                           **values, ":pk": KEY["PK"]}}),
    }


@pytest.fixture
def client() -> Iterator[Any]:
    with mock_aws():
        yield MotoSession().client("dynamodb")


def _answer(client: Any, call: Callable[[Any], object]) -> tuple[object, list[Any]]:
    """The raw body moto answered with (or the error moto's parser raised, which the server
    turns into a 500), and the table's items afterwards, on a new table "t"."""
    if "t" in client.list_tables()["TableNames"]:
        client.delete_table(TableName="t")
    client.create_table(
        TableName="t", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"},
                   {"AttributeName": "SK", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"},
                              {"AttributeName": "SK", "AttributeType": "S"}])
    client.put_item(TableName="t", Item=ITEM)
    client.put_item(TableName="t", Item={**ITEM, "SK": {"S": "OTHER"}, "count": {"N": "9"}})
    bodies: list[bytes] = []
    keep = lambda response_dict, **_: bodies.append(response_dict["body"])  # noqa: E731
    client.meta.events.register("before-parse.dynamodb.*", keep)
    try:
        call(client)
    except client.exceptions.ClientError:
        pass
    except (ValueError, KeyError) as error:
        bodies.append(f"{type(error).__name__}: {error}".encode())
    finally:
        client.meta.events.unregister("before-parse.dynamodb.*", keep)
    (answer,) = bodies
    return answer, client.scan(TableName="t")["Items"]


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The texts moto's own parser was asked for while the extension is applied."""
    asked: list[str] = []
    original = moto_conditions._tree

    def counted(parser: Any) -> Any:
        asked.append(parser.condition_expression)
        try:
            return original(parser)
        except Exception:
            REFUSED.add(parser.condition_expression)
            raise

    monkeypatch.setattr(moto_conditions, "_tree", counted)
    yield asked
    moto_conditions.remove()


@pytest.mark.parametrize("request_name", ["update", "put", "delete", "scan", "query"])
def test_answers_and_tables_are_moto_s(client, parsed, request_name):
    for text in CONDITIONS:
        call = _requests(text)[request_name]
        moto_conditions.remove()  # (forgets the kept trees too)
        expected = _answer(client, call)
        moto_conditions.apply()
        assert _answer(client, call) == expected, text  # parsed and kept (or rejected)
        first = len(parsed)
        assert _answer(client, call) == expected, text  # from the kept tree
        again = parsed[first:]
        # moto's parser is asked again only for the texts it refuses (never kept)
        assert again == ([text] * len(again) if text in REFUSED else []), text
    assert set(REJECTED) <= REFUSED
    assert all(parsed.count(text) >= 2 for text in REJECTED)
    assert len(set(parsed)) == len(set(CONDITIONS))


def test_each_request_gets_new_nodes_with_its_own_values(parsed):
    from moto.dynamodb.comparisons import ConditionExpressionParser
    from moto.dynamodb.models.dynamo_type import Item

    moto_conditions.apply()
    text = CONDITIONS[0]
    names, values = _used(text)
    item = Item(KEY["PK"], KEY["SK"], ITEM)  # active, a@example.org, no activePartition
    other = {**values, ":e": {"S": "b@example.org"}}
    first = ConditionExpressionParser(text, names, values)
    second = ConditionExpressionParser(text, names, other)
    assert first.parse().expr(item) and not second.parse().expr(item)
    assert ConditionExpressionParser(text, names, values).parse().expr(item)  # kept intact
    assert parsed == [text]
    assert first.expr_attr_names_found == second.expr_attr_names_found == ["#a0", "#a1", "#a2"]
    assert first.expr_attr_values_found == second.expr_attr_values_found == [":t", ":e"]


def test_a_kept_text_missing_a_value_fails_as_moto_does(client, parsed):
    text = "#a0 = :t AND #a1 = :e"
    names, values = _used(text)

    def scan(given: dict[str, Any]) -> Callable[[Any], object]:
        return lambda c: c.scan(TableName="t", FilterExpression=text,
                                ExpressionAttributeNames=names,
                                ExpressionAttributeValues=given)

    missing = {":t": values[":t"]}
    moto_conditions.remove()
    expected = _answer(client, scan(missing))
    moto_conditions.apply()
    _answer(client, scan(values))  # parses and keeps the tree
    assert _answer(client, scan(missing)) == expected
    assert parsed == [text]


def test_a_full_cache_starts_over(client, parsed, monkeypatch):
    monkeypatch.setattr(moto_conditions, "LIMIT", 2)
    moto_conditions.apply()
    for text in ("a = :v", "b = :v", "c = :v", "a = :v"):
        _answer(client, lambda c, text=text: c.scan(
            TableName="t", FilterExpression=text,
            ExpressionAttributeValues={":v": {"S": "x"}}))
    # each scan parses its filter twice (the answer's checks, then the scan itself)
    assert parsed == ["a = :v", "b = :v", "c = :v", "a = :v"]
    assert len(moto_conditions._trees) <= 2


def test_apply_is_idempotent_and_the_server_applies_it():
    moto_conditions.apply()
    moto_conditions.apply()
    assert moto_conditions.is_applied()
    moto_conditions.remove()
    assert not moto_conditions.is_applied()
    assert moto_conditions in sandbox_server.EXTENSIONS
