"""The sandbox's faster paths answer as moto does, on the running server: a table read page by
page and segment by segment gives every item once, in key order within each segment and in the
segment moto assigns; items of every attribute type come back exactly as written; and AWS's
managed policies are there in the env's account."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from bbws_infra.core.registry import load_environment
from bbws_infra.targets import sandbox

pytestmark = pytest.mark.e2e

TABLE = "speed-probe"
ITEMS = 1500
SEGMENTS = 4


@pytest.fixture(scope="module")
def aws(work: Path) -> Any:
    env = load_environment("dev")
    server, session, _ = sandbox.session_for(env)

    def client(service: str) -> Any:
        return boto3.client(service, endpoint_url=server.endpoint, region_name=env.region,
                            aws_access_key_id=session.access_key,
                            aws_secret_access_key=session.secret_key)
    return client


@pytest.fixture(scope="module")
def table(aws: Any) -> Any:
    dynamodb = aws("dynamodb")
    dynamodb.create_table(
        TableName=TABLE, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"},
                   {"AttributeName": "SK", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"},
                              {"AttributeName": "SK", "AttributeType": "S"}])
    batch: list[dict[str, Any]] = []
    for n in range(ITEMS):
        batch.append({"PutRequest": {"Item": {
            "PK": {"S": f"TENANT#{n % 300:03d}"}, "SK": {"S": f"ITEM#{n:05d}"},
            "active": {"BOOL": n % 3 == 0}, "n": {"N": str(n)}}}})
        if len(batch) == 25:
            assert not dynamodb.batch_write_item(RequestItems={TABLE: batch}).get(
                "UnprocessedItems")
            batch = []
    yield dynamodb
    dynamodb.delete_table(TableName=TABLE)


def _pages(dynamodb: Any, **request: Any) -> list[dict[str, Any]]:
    pages = []
    while True:
        page = dynamodb.scan(TableName=TABLE, **request)
        pages.append(page)
        if "LastEvaluatedKey" not in page:
            return pages
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _keys(pages: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(i["PK"]["S"], i["SK"]["S"]) for page in pages for i in page.get("Items", [])]


def test_pages_and_segments_give_every_item_once_in_key_order(table):
    everything: list[tuple[str, str]] = []
    for segment in range(SEGMENTS):
        pages = _pages(table, Segment=segment, TotalSegments=SEGMENTS, Limit=97)
        keys = _keys(pages)
        assert keys == sorted(keys)
        # moto's rule: the first byte of the partition key's MD5, modulo the segments
        assert {hashlib.md5(pk.encode()).digest()[0] % SEGMENTS for pk, _ in keys} == {segment}
        assert all(len(page["Items"]) == 97 for page in pages[:-1])
        everything += keys
    assert len(everything) == len(set(everything)) == ITEMS
    assert _keys(_pages(table, Limit=250)) == sorted(everything)


def test_a_filtered_scan_counts_what_it_read(table):
    pages = _pages(table, Limit=200, FilterExpression="active = :a",
                   ExpressionAttributeValues={":a": {"BOOL": True}})
    assert sum(p["ScannedCount"] for p in pages) == ITEMS
    assert sum(p["Count"] for p in pages) == len(range(0, ITEMS, 3))


def test_items_of_every_type_come_back_as_written(table):
    item = {"PK": {"S": "RICH"}, "SK": {"S": "1"}, "n": {"N": "-1.5"}, "b": {"B": b"\x00\xff"},
            "ss": {"SS": ["a", "b"]}, "ns": {"NS": ["1", "2"]}, "bs": {"BS": [b"x"]},
            "null": {"NULL": True}, "m": {"M": {"l": {"L": [{"S": "\u00e9"}, {"BOOL": False}]}}}}
    table.put_item(TableName=TABLE, Item=item)
    read = table.get_item(TableName=TABLE, Key={"PK": item["PK"], "SK": item["SK"]})["Item"]
    assert {k: v for k, v in read.items() if k not in ("ss", "ns")} == \
        {k: v for k, v in item.items() if k not in ("ss", "ns")}
    assert sorted(read["ss"]["SS"]) == ["a", "b"] and sorted(read["ns"]["NS"]) == ["1", "2"]
    table.delete_item(TableName=TABLE, Key={"PK": item["PK"], "SK": item["SK"]})


def test_aws_managed_policies_are_in_the_account(aws):
    iam = aws("iam")
    arn = "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup"
    policy = iam.get_policy(PolicyArn=arn)["Policy"]
    version = iam.get_policy_version(PolicyArn=arn, VersionId=policy["DefaultVersionId"])
    document = version["PolicyVersion"]["Document"]
    statements = (json.loads(document) if isinstance(document, str) else document)["Statement"]
    assert any("dynamodb:CreateBackup" in str(s.get("Action")) for s in statements)
