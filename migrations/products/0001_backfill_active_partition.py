"""Backfill activePartition on products: items written before ProductActiveIndex
existed lack it, so the index misses them. The change is derived from the schema
(bbws_infra.migrations.sparse_index)."""

from bbws_infra.migrations.sparse_index import sparse_key

_KEY = sparse_key("products")

ID = "0001_backfill_active_partition"
DESCRIPTION = _KEY.description
NEEDS_INDEX = _KEY.index
NEEDS_ATTRIBUTE = _KEY.attribute
SCAN_FILTER = _KEY.scan_filter
change = _KEY.change
