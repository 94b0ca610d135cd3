"""Generated tenants for the migration bench and the migration tests: many items, written fast
(batch_write_item), a known share of them in need of the activePartition backfill, and the
check that every item carries it exactly while it is active."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterator

from bbws_infra.core.untyped import Client, JsonObject

ACTIVE_SHARE = 0.7  # items with active = true
MISSING_SHARE = 0.5  # of the active ones: without activePartition (the backfill sets it)
STRAY_SHARE = 0.3  # of the inactive ones: still with activePartition (the backfill removes it)
BATCH = 25  # batch_write_item's limit


def tenant(index: int, rng: random.Random, prefix: str = "TENANT#") -> JsonObject:
    """One tenant in DynamoDB's typed form, as the portal wrote it before the index existed
    (with another key prefix: an item of the same shape for another table)."""
    tenant_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    active = rng.random() < ACTIVE_SHARE
    item: JsonObject = {
        "PK": {"S": f"{prefix}{tenant_id}"}, "SK": {"S": "METADATA"}, "id": {"S": tenant_id},
        "email": {"S": f"owner{index}@example.org"}, "status": {"S": "REGISTERED"},
        "active": {"BOOL": active}, "dateCreated": {"S": "2024-01-01T00:00:00Z"},
        "dateLastUpdated": {"S": "2024-01-01T00:00:00Z"}, "lastUpdatedBy": {"S": "loader"}}
    keep = rng.random() >= MISSING_SHARE if active else rng.random() < STRAY_SHARE
    if keep:
        item["activePartition"] = {"S": "ACTIVE"}
    return item


def needs_backfill(item: JsonObject) -> bool:
    """Whether the item breaks the sparse-index invariant (typed form)."""
    return ("activePartition" in item) != (item.get("active") == {"BOOL": True}) or \
        ("activePartition" in item and item["activePartition"] != {"S": "ACTIVE"})


def write_tenants(dynamodb: Client, table: str, count: int, series: int = 7,
                  prefix: str = "TENANT#") -> int:
    """Write `count` generated tenants (the same ones for the same series); how many need the
    backfill."""
    rng = random.Random(series)
    needing = 0
    batch: list[JsonObject] = []
    for index in range(count):
        item = tenant(index, rng, prefix)
        needing += needs_backfill(item)
        batch.append({"PutRequest": {"Item": item}})
        if len(batch) == BATCH or index == count - 1:
            _write_batch(dynamodb, table, batch)
            batch = []
    return needing


def _write_batch(dynamodb: Client, table: str, batch: list[JsonObject]) -> None:
    requests = {table: batch}
    for attempt in range(8):
        left = dynamodb.batch_write_item(RequestItems=requests).get("UnprocessedItems") or {}
        if not left:
            return
        requests = left
        time.sleep(0.05 * 2 ** attempt)
    raise RuntimeError(f"batch_write_item left {len(requests[table])} items unprocessed")


def scan_all(dynamodb: Client, table: str, consistent: bool = False) -> Iterator[JsonObject]:
    """Every item of the table, page by page (strongly consistent reads when `consistent`)."""
    request: JsonObject = {"TableName": table, "ConsistentRead": consistent}
    while True:
        page = dynamodb.scan(**request)
        yield from page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def wrong_items(dynamodb: Client, table: str) -> int:
    """How many items still break the invariant."""
    return sum(needs_backfill(item) for item in scan_all(dynamodb, table))


def generated(count: int, series: int = 7, prefix: str = "TENANT#") -> Iterator[JsonObject]:
    """The items write_tenants writes, in the same order."""
    rng = random.Random(series)
    return (tenant(index, rng, prefix) for index in range(count))
