"""bbws_infra.targets.moto_scan: Scan over the sorted keys answers exactly as moto's own scan.

Every comparison reads the same table page by page twice in one moto (in-process, boto3 against
mock_aws): once with moto's Table.scan, once with the sandbox's, and the pages (items and their
order, Count, ScannedCount, LastEvaluatedKey) or the errors must be identical."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.dynamodb.models.table import Table

from bbws_infra.targets import moto_scan, sandbox_server
from tests.support.moto_session import MotoSession

ITEMS = 300
CHANGING = "changing-"


def _create_tables(client: Any, prefix: str = "") -> None:
    client.create_table(
        TableName=f"{prefix}keyed", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"},
                   {"AttributeName": "SK", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"}
                              for n in ("PK", "SK", "activePartition")],
        GlobalSecondaryIndexes=[{
            "IndexName": "active", "Projection": {"ProjectionType": "ALL"},
            "KeySchema": [{"AttributeName": "activePartition", "KeyType": "HASH"},
                          {"AttributeName": "SK", "KeyType": "RANGE"}]}])
    client.create_table(
        TableName=f"{prefix}numbered", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "N"}])
    rng = random.Random(7)
    for n in range(ITEMS):
        item = {"PK": {"S": f"TENANT#{rng.randrange(60):03d}"}, "SK": {"S": f"S#{n}"},
                "active": {"BOOL": n % 3 != 0}, "n": {"N": str(n)}}
        if n % 2:
            item["activePartition"] = {"S": "ACTIVE"}
        client.put_item(TableName=f"{prefix}keyed", Item=item)
        # numbers whose text order differs from their order (2 < 10, -1 < 0.5)
        client.put_item(TableName=f"{prefix}numbered",
                        Item={"id": {"N": str(rng.choice([-1, 1]) * n / 4)},
                              "flag": {"BOOL": n % 5 == 0}})


@pytest.fixture(scope="module")
def shared() -> Iterator[Any]:
    """The tables for the tests that only read them."""
    with mock_aws():
        client = MotoSession().client("dynamodb")
        _create_tables(client)
        yield client
    moto_scan.remove()


@pytest.fixture
def dynamodb(shared: Any) -> Iterator[Any]:
    """Tables of its own for a test that changes them: "changing-keyed", "changing-numbered"
    (one moto for the module: a second mock_aws would empty the shared tables)."""
    _create_tables(shared, CHANGING)
    yield shared
    moto_scan.remove()
    for table in shared.list_tables()["TableNames"]:
        if table.startswith(CHANGING) or table == "restored":
            shared.delete_table(TableName=table)


def _pages(client: Any, request: dict[str, Any]) -> list[dict[str, Any]] | str:
    """Every page of the scan (without HTTP metadata), or the error that ended it (in-process,
    moto's own failures are raised: the server answers them with HTTP 500)."""
    request, pages = dict(request), []
    try:
        while True:
            page = client.scan(**request)
            page.pop("ResponseMetadata")
            pages.append(page)
            if "LastEvaluatedKey" not in page or len(pages) > 2 * ITEMS:
                return pages
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    except ClientError as error:
        return f"{error.response['Error']} after {len(pages)} pages"
    except Exception as error:  # the same failure is the expected answer
        return f"{type(error).__name__}: {error} after {len(pages)} pages"


def _same_as_moto(client: Any, request: dict[str, Any]) -> list[dict[str, Any]] | str:
    moto_scan.remove()
    expected = _pages(client, request)
    moto_scan.apply()
    assert _pages(client, request) == expected
    return expected


SEGMENTS = [{}, *({"Segment": s, "TotalSegments": 4} for s in range(4)),
            *({"Segment": s, "TotalSegments": 3} for s in range(3))]


@pytest.mark.parametrize("limit", [None, 1, 7, 50, 1000])
@pytest.mark.parametrize("segment", SEGMENTS)
def test_pages_by_limit_and_segment_are_moto_s(shared, limit, segment):
    request = {"TableName": "keyed", **segment, **({"Limit": limit} if limit else {})}
    pages = _same_as_moto(shared, request)
    assert isinstance(pages, list) and pages[0]["Items"]
    numbered = _same_as_moto(shared, {**request, "TableName": "numbered"})
    assert isinstance(numbered, list)


@pytest.mark.parametrize("extra", [
    {"FilterExpression": "active = :a", "ExpressionAttributeValues": {":a": {"BOOL": True}}},
    {"FilterExpression": "attribute_not_exists(activePartition)"},
    {"ProjectionExpression": "PK, n"},
    {"Select": "COUNT", "FilterExpression": "n > :n",
     "ExpressionAttributeValues": {":n": {"N": "100"}}},
    {"ScanFilter": {"n": {"ComparisonOperator": "LT", "AttributeValueList": [{"N": "150"}]}}},
    {"ScanFilter": {"activePartition": {"ComparisonOperator": "NULL"}}},
])
@pytest.mark.parametrize("paging", [{"Limit": 9}, {"Limit": 9, "Segment": 2, "TotalSegments": 4},
                                    {}])
def test_filters_and_projections_are_moto_s(shared, extra, paging):
    pages = _same_as_moto(shared, {"TableName": "keyed", **extra, **paging})
    assert isinstance(pages, list)


def test_a_page_ends_at_one_megabyte_as_in_moto(dynamodb):
    for n in range(250):  # ~8 KB each: about 130 to a 1 MB page
        dynamodb.put_item(TableName="changing-numbered",
                          Item={"id": {"N": str(10_000 + n)}, "blob": {"S": "x" * 8000}})
    pages = _same_as_moto(dynamodb, {"TableName": "changing-numbered"})
    assert isinstance(pages, list) and len(pages) >= 3
    _same_as_moto(dynamodb, {"TableName": "changing-numbered", "Limit": 100, "Segment": 1,
                             "TotalSegments": 2})


def test_puts_deletes_and_updates_between_scans_are_seen(dynamodb):
    request = {"TableName": "changing-keyed", "Limit": 11, "Segment": 1, "TotalSegments": 4}
    before = _same_as_moto(dynamodb, request)
    for pk, sk in (("TENANT#000", "A"), ("TENANT#999", "Z")):
        dynamodb.put_item(TableName="changing-keyed", Item={"PK": {"S": pk}, "SK": {"S": sk}})
    first = before[0]["Items"][0]  # type: ignore[index]
    dynamodb.delete_item(TableName="changing-keyed", Key={"PK": first["PK"], "SK": first["SK"]})
    dynamodb.update_item(TableName="changing-keyed", Key={"PK": first["PK"], "SK": {"S": "S#new"}},
                         UpdateExpression="SET n = :n",
                         ExpressionAttributeValues={":n": {"N": "1"}})
    after = _same_as_moto(dynamodb, request)
    assert after != before
    everything = _same_as_moto(dynamodb, {"TableName": "changing-keyed"})
    assert sum(p["Count"] for p in everything) == ITEMS + 2  # type: ignore[index]


def test_an_update_in_place_keeps_the_sorted_keys(dynamodb):
    moto_scan.apply()
    item = dynamodb.scan(TableName="changing-keyed", Limit=5)["Items"][0]
    key = {"PK": item["PK"], "SK": item["SK"]}
    table = next(t for t in _tables() if t.name == "changing-keyed")
    cached = moto_scan.sorted_items(table)
    dynamodb.update_item(TableName="changing-keyed", Key=key, UpdateExpression="SET touched = :t",
                         ExpressionAttributeValues={":t": {"BOOL": True}})
    assert moto_scan.sorted_items(table) is cached
    dynamodb.delete_item(TableName="changing-keyed", Key=key)
    assert moto_scan.sorted_items(table) is not cached


def _tables() -> list[Table]:
    from moto.dynamodb.models import dynamodb_backends

    return [table for backend in dynamodb_backends.values()
            for region in backend.values() for table in region.tables.values()]


@pytest.mark.parametrize("start", [
    {"PK": {"N": "1"}, "SK": {"S": "S#1"}},  # the wrong type
    {"PK": {"S": "TENANT#001"}},  # the range key missing
    {"PK": {"S": "TENANT#001"}, "SK": {"S": "S#1"}, "other": {"S": "x"}},  # a stray attribute
    {"PK": {"S": "TENANT#001"}, "SK": {"S": "S#1"}},  # an item that does not exist
    {"PK": {"S": "TENANT#0015"}, "SK": {"S": "S#1"}},  # between two partitions
])
def test_any_exclusive_start_key_answers_as_moto(shared, start):
    _same_as_moto(shared, {"TableName": "keyed", "Limit": 5, "ExclusiveStartKey": start})


def test_index_scans_are_moto_s(shared):
    pages = _same_as_moto(shared, {"TableName": "keyed", "IndexName": "active", "Limit": 13})
    assert isinstance(pages, list) and len(pages) > 5


def test_a_backup_copies_the_table_without_the_sorted_keys(dynamodb):
    moto_scan.apply()
    dynamodb.scan(TableName="changing-keyed", Limit=5)
    backup = dynamodb.create_backup(TableName="changing-keyed", BackupName="before")
    arn = backup["BackupDetails"]["BackupArn"]
    dynamodb.restore_table_from_backup(TargetTableName="restored", BackupArn=arn)
    restored = _same_as_moto(dynamodb, {"TableName": "restored", "Limit": 40})
    assert sum(p["Count"] for p in restored) == ITEMS  # type: ignore[index]


def test_apply_is_idempotent_and_the_server_applies_it():
    moto_scan.apply()
    moto_scan.apply()
    assert moto_scan.is_applied() and Table.put_item is moto_scan.put_item
    moto_scan.remove()
    assert not moto_scan.is_applied()
    assert moto_scan in sandbox_server.EXTENSIONS
