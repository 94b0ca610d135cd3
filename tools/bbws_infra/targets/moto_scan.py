"""DynamoDB's Scan in the sandbox, with moto's answers and without moto's cost per page.

moto's Table.scan sorts the whole table (comparing its DynamoType wrappers) for every page,
then walks it from the first item, hashing each item's partition key for Segment and comparing
it with ExclusiveStartKey until it reaches the page's start: every page costs O(n log n), a full
scan in pages O(n^2). A 50,000-item backfill spent most of its time there.

Here the table's keys are sorted once (by the values moto's own comparisons compare:
`DynamoType.cast_value`, so the order is moto's), split by segment once per TotalSegments, and
kept until an item is put or deleted (Table.put_item and Table.delete_item, the only two places
moto changes a table's set of items, bump a counter; updates change items in place, never keys).
A page then starts at a binary search for ExclusiveStartKey and reads only its own items, with
moto's own loop for Limit, the 1 MB page size, ScanFilter, FilterExpression, projections and
LastEvaluatedKey, so the answers are moto's, item for item.

Index scans and the rare requests whose ExclusiveStartKey is not exactly the table's key (moto
answers those with errors of its own) go to moto's implementation unchanged.
"""

from __future__ import annotations

import bisect
import copy
import itertools
import threading
from collections.abc import Callable
from typing import Concatenate, ParamSpec, TypeVar

from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import RESULT_SIZE_LIMIT, Table
from moto.utilities.utils import md5_hash

from bbws_infra.core.untyped import Json, JsonObject

_VERSION = "bbws_scan_version"  # on moto's Table: bumped by every put and delete of an item
_CACHE = "bbws_scan_cache"

SortKey = tuple[Json, ...]


class SortedItems:
    """A table's items in moto's scan order, with each TotalSegments' split of them."""

    def __init__(self, table: Table, version: int) -> None:
        self.version = version
        self.source = table.items  # a restored table gets a new dict: never mistaken for this
        items: list[Item] = []
        # list() copies each dict in one step, so a concurrent put cannot break the walk
        for entry in list(table.items.values()):
            if isinstance(entry, Item):
                items.append(entry)
            else:
                items.extend(list(entry.values()))
        keyed = [(sort_key(item), item) for item in items]
        keyed.sort(key=lambda pair: pair[0])
        self.keys: list[SortKey] = [key for key, _ in keyed]
        self.items: list[Item] = [item for _, item in keyed]
        self._segments: dict[int, list[tuple[list[SortKey], list[Item]]]] = {}
        self._lock = threading.Lock()

    def segment(self, segments: tuple[None, None] | tuple[int, int]
                ) -> tuple[list[SortKey], list[Item]]:
        """The keys and items of one segment (all of them without Segment), in order."""
        segment, total = segments
        if segment is None or total is None:
            return self.keys, self.items
        with self._lock:
            split = self._segments.get(total)
            if split is None:
                split = [([], []) for _ in range(total)]
                for key, item in zip(self.keys, self.items, strict=True):
                    keys, items = split[segment_of(item, total)]
                    keys.append(key)
                    items.append(item)
                self._segments[total] = split
        return split[segment]

    def __deepcopy__(self, memo: dict[int, object]) -> None:
        """moto deep-copies a table for a backup: the copy sorts its own items when scanned."""
        return None


def sort_key(item: Item) -> SortKey:
    """What moto's scan sorts by, as plain values: (hash key, range key) compared with
    DynamoType's == and <, which compare `cast_value` (every key of a table has one type)."""
    if item.range_key is None:
        return (item.hash_key.cast_value,)
    return (item.hash_key.cast_value, item.range_key.cast_value)


def segment_of(item: Item, total: int) -> int:
    """The segment moto puts an item in (Item.is_within_segment): by its partition key."""
    return int(md5_hash(item.hash_key.value.encode("utf8")).digest()[0]) % total


def sorted_items(table: Table) -> SortedItems:
    """The table's items in scan order, sorted again only after a put or delete."""
    version = getattr(table, _VERSION, 0)  # read before the items: a later put re-sorts
    cached = getattr(table, _CACHE, None)
    if cached is None or cached.version != version or cached.source is not table.items:
        cached = SortedItems(table, version)
        setattr(table, _CACHE, cached)
    return cached


def _start_key(table: Table, start: JsonObject) -> SortKey | None:
    """ExclusiveStartKey as a sort key, or None when it is not exactly the table's key with the
    key's types (moto's own scan then answers, errors included)."""
    names = [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])
    types = [table.hash_key_type] + ([table.range_key_type] if table.range_key_attr else [])
    if not isinstance(start, dict) or set(start) != set(names):
        return None
    values = []
    for name, expected in zip(names, types, strict=True):
        raw = start[name]
        if not isinstance(raw, dict) or len(raw) != 1 or next(iter(raw)) != expected:
            return None
        try:
            values.append(DynamoType(raw).cast_value)
        except Exception:  # a malformed value: moto's own scan says what is wrong
            return None
    return tuple(values)


_original_scan = Table.scan
_original_put_item = Table.put_item
_original_delete_item = Table.delete_item


def scan(self: Table, filters: JsonObject, limit: int, exclusive_start_key: JsonObject,
         filter_expression: Json = None, index_name: str | None = None,
         consistent_read: bool = False, projection_expression: list[list[str]] | None = None,
         segments: tuple[None, None] | tuple[int, int] = (None, None),
         ) -> tuple[list[Item], int, JsonObject | None]:
    start: SortKey | None = None
    if exclusive_start_key is not None:
        start = _start_key(self, exclusive_start_key)
    if index_name or (exclusive_start_key is not None and start is None):
        return _original_scan(self, filters, limit, exclusive_start_key, filter_expression,
                              index_name, consistent_read, projection_expression, segments)
    keys, items = sorted_items(self).segment(segments)
    first = 0 if start is None else bisect.bisect_right(keys, start)
    return _page(self, items, first, filters, limit, filter_expression, projection_expression)


def _page(table: Table, items: list[Item], first: int, filters: JsonObject, limit: int,
          filter_expression: Json, projection_expression: list[list[str]] | None,
          ) -> tuple[list[Item], int, JsonObject | None]:
    """moto's page loop (Table.scan after its start key), from `first` on. moto copies every
    item it reads before the FilterExpression drops some; only the kept ones are copied here
    (the expression reads an item, so it answers the same for the item and its copy)."""
    read: list[Item] = []
    result_size = 0
    scanned_count = 0
    last_evaluated_key = None
    for index in range(first, len(items)):
        item = items[index]
        size = item.size()
        if len(read) == limit or result_size + size > RESULT_SIZE_LIMIT:
            last_evaluated_key = table._get_last_evaluated_key(read[-1], None)
            break
        if _passes(item, filters):
            read.append(item)
            result_size += size
        scanned_count += 1
    results = [copy.deepcopy(item) for item in read
               if filter_expression is None or filter_expression.expr(item)]
    if projection_expression:
        results = [r.project(projection_expression) for r in results]
    return results, scanned_count, last_evaluated_key


def _passes(item: Item, filters: JsonObject) -> bool:
    """The legacy ScanFilter, as moto's scan applies it."""
    for attribute_name, (operator, values) in filters.items():
        attribute = item.attrs.get(attribute_name)
        if attribute:
            if not attribute.compare(operator, values):
                return False
        elif operator != "NULL":
            return False
    return True


# A new, never used value for each change (next() is atomic): two puts racing cannot leave the
# counter where a scan between them read it, as `+= 1` could.
_versions = itertools.count(1)


P = ParamSpec("P")
R = TypeVar("R")


def _bumping(original: Callable[Concatenate[Table, P], R]) -> Callable[Concatenate[Table, P], R]:
    def changed(self: Table, /, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return original(self, *args, **kwargs)
        finally:
            setattr(self, _VERSION, next(_versions))
    changed.__name__ = original.__name__
    changed.__doc__ = original.__doc__
    return changed


put_item = _bumping(_original_put_item)
delete_item = _bumping(_original_delete_item)


def apply() -> None:
    """Scan with the sorted keys from now on (idempotent; this process only)."""
    Table.scan = scan  # type: ignore[method-assign]
    Table.put_item = put_item  # type: ignore[method-assign,assignment]
    Table.delete_item = delete_item  # type: ignore[method-assign,assignment]


def is_applied() -> bool:
    return Table.scan is scan


def remove() -> None:
    """moto's own scan again (the unit tests compare the two in one process)."""
    Table.scan = _original_scan  # type: ignore[method-assign]
    Table.put_item = _original_put_item  # type: ignore[method-assign]
    Table.delete_item = _original_delete_item  # type: ignore[method-assign]
