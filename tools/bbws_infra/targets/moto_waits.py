"""AWS's waits, added to moto's DynamoDB so the sandbox exercises what waits on them.

moto makes a table, an index or point-in-time recovery ACTIVE / ENABLED the moment it is asked
for, so the provider's waiters, the tasks' progress output, their timeouts and Ctrl-C during a
long wait never run on the sandbox. With BBWS_SANDBOX_WAIT_SECONDS=N (N > 0) in the environment
of the sandbox server, each change reports the status AWS reports while it is under way for N
seconds, then the status it ends in (names and fields of botocore's DynamoDB model):

| request | under way, for N seconds | then |
|---|---|---|
| CreateTable | TableStatus CREATING, its indexes IndexStatus CREATING | ACTIVE |
| UpdateTable: billing mode, capacity or stream | TableStatus UPDATING | ACTIVE |
| UpdateTable: GSI Create | IndexStatus CREATING, Backfilling true | ACTIVE, no Backfilling |
| UpdateTable: GSI Update (capacity) | IndexStatus UPDATING | ACTIVE |
| UpdateTable: GSI Delete | IndexStatus DELETING | the index is gone |
| DeleteTable | TableStatus DELETING | ResourceNotFoundException |
| UpdateContinuousBackups: enable | PointInTimeRecoveryStatus ENABLING | ENABLED |
| UpdateTimeToLive | TimeToLiveStatus ENABLING / DISABLING | ENABLED / DISABLED |

ENABLING is not in the model's PointInTimeRecoveryStatus enum (ENABLED, DISABLED), but the
AWS provider's PITR waiter treats it as the pending status, so that is the state it handles.
As on AWS, UpdateTable and DeleteTable of a table that is not ACTIVE are refused with
ResourceInUseException (the provider retries a refused DeleteTable), and CreateTable of a name
still being deleted with ResourceInUseException.

The switch is off (0) by default: then nothing is patched and the sandbox is moto as it is.
Each status lives on the moto object it describes, so moto's reset forgets it with the object.
Only the sandbox server (bbws_infra.targets.sandbox_server) and the unit tests import this
module; the tests drive `Transition` and the patched backend with a fake clock.
"""

from __future__ import annotations

import copy
import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from moto.dynamodb.exceptions import ResourceInUseException, ResourceNotFoundException
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import GlobalSecondaryIndex, Table

from bbws_infra.core.untyped import JsonObject

ENV = "BBWS_SANDBOX_WAIT_SECONDS"
Clock = Callable[[], float]

# Where the statuses live on moto's objects (their own __dict__, forgotten with them).
_STATUS = "bbws_status"  # Table and GlobalSecondaryIndex: the transition under way
_PITR = "bbws_pitr"  # Table: point-in-time recovery being enabled
_TTL = "bbws_ttl"  # Table: time to live being enabled or disabled
_DELETING_INDEXES = "bbws_deleting_indexes"  # Table: deleted GSIs still reported
_DELETING_TABLES = "bbws_deleting_tables"  # DynamoDBBackend: deleted tables still reported


@dataclass
class Settings:
    seconds: float = 0.0
    clock: Clock = time.monotonic


settings = Settings()


@dataclass(frozen=True)
class Transition:
    """One change under way: `pending` from `started` for `seconds`, then `final` (None: the
    resource is gone)."""

    pending: str
    final: str | None
    started: float
    seconds: float
    backfilling: bool = False

    def done(self, now: float) -> bool:
        return now >= self.started + self.seconds

    def status(self, now: float) -> str | None:
        return self.final if self.done(now) else self.pending


def seconds_from(environ: Mapping[str, str]) -> float:
    """The switch's value: 0 when unset; a clear sentence when it is not a number >= 0."""
    raw = environ.get(ENV, "").strip()
    if not raw:
        return 0.0
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"{ENV}={raw!r} is not a number of seconds (0 or more, e.g. 5).")
    return seconds


def _start(target: object, attribute: str, pending: str, final: str | None,
           backfilling: bool = False) -> Transition:
    transition = Transition(pending, final, settings.clock(), settings.seconds, backfilling)
    target.__dict__[attribute] = transition
    return transition


def _under_way(target: object, attribute: str) -> Transition | None:
    """The transition still under way on target; a finished one is forgotten."""
    transition: Transition | None = target.__dict__.get(attribute)
    if transition is not None and transition.done(settings.clock()):
        del target.__dict__[attribute]
        return None
    return transition


def table_status(table: Table) -> str:
    transition = _under_way(table, _STATUS)
    return transition.pending if transition else "ACTIVE"


# --- describing --------------------------------------------------------------------------------

_original_table_describe = Table.describe
_original_index_describe = GlobalSecondaryIndex.describe


def describe_index(self: GlobalSecondaryIndex) -> JsonObject:
    description = _original_index_describe(self)
    transition = _under_way(self, _STATUS)
    if transition is not None:
        description["IndexStatus"] = transition.pending
        if transition.backfilling:
            description["Backfilling"] = True
    return description


def describe_table(self: Table, base_key: str = "TableDescription") -> JsonObject:
    result = _original_table_describe(self, base_key)
    description = result[base_key]
    description["TableStatus"] = table_status(self)
    deleting = [index for index in self.__dict__.get(_DELETING_INDEXES, [])
                if _under_way(index, _STATUS) is not None]
    self.__dict__[_DELETING_INDEXES] = deleting
    description["GlobalSecondaryIndexes"] = [
        *description.get("GlobalSecondaryIndexes", []), *(i.describe() for i in deleting)]
    return result


# --- the backend -------------------------------------------------------------------------------

_original_create_table = DynamoDBBackend.create_table
_original_delete_table = DynamoDBBackend.delete_table
_original_describe_table = DynamoDBBackend.describe_table
_original_update_table = DynamoDBBackend.update_table
_original_update_indexes = DynamoDBBackend.update_table_global_indexes
_original_update_pitr = DynamoDBBackend.update_continuous_backups
_original_describe_pitr = DynamoDBBackend.describe_continuous_backups
_original_update_ttl = DynamoDBBackend.update_time_to_live
_original_describe_ttl = DynamoDBBackend.describe_time_to_live


def _deleting_tables(backend: DynamoDBBackend) -> dict[str, Table]:
    """Tables deleted but still DELETING, by name; the finished ones dropped."""
    tables: dict[str, Table] = backend.__dict__.setdefault(_DELETING_TABLES, {})
    for name, table in list(tables.items()):
        if _under_way(table, _STATUS) is None:
            del tables[name]
    return tables


def _refuse_unless_active(table: Table) -> None:
    status = table_status(table)
    if status != "ACTIVE":
        doing = {"CREATING": "created", "UPDATING": "updated", "DELETING": "deleted"}
        raise ResourceInUseException(
            "Attempt to change a resource which is still in use: Table is being "
            f"{doing.get(status, status.lower())}: {table.name}")


def create_table(self: DynamoDBBackend, name: str, schema: list[dict[str, str]],
                 throughput: dict[str, int] | None, attr: list[dict[str, str]],
                 global_indexes: list[JsonObject] | None, indexes: list[JsonObject] | None,
                 streams: JsonObject | None, billing_mode: str,
                 sse_specification: JsonObject | None, tags: list[dict[str, str]],
                 deletion_protection_enabled: bool | None,
                 warm_throughput: JsonObject | None) -> Table:
    if name in _deleting_tables(self):
        raise ResourceInUseException(f"Table already exists: {name}")
    table = _original_create_table(
        self, name, schema=schema, throughput=throughput, attr=attr,
        global_indexes=global_indexes, indexes=indexes, streams=streams,
        billing_mode=billing_mode, sse_specification=sse_specification, tags=tags,
        deletion_protection_enabled=deletion_protection_enabled,
        warm_throughput=warm_throughput)
    _start(table, _STATUS, "CREATING", "ACTIVE")
    for index in table.global_indexes:
        _start(index, _STATUS, "CREATING", "ACTIVE")
    return table


def delete_table(self: DynamoDBBackend, name: str) -> Table:
    table = self.get_table(name)
    _refuse_unless_active(table)
    deleted = _original_delete_table(self, name)
    _start(deleted, _STATUS, "DELETING", None)
    _deleting_tables(self)[deleted.name] = deleted
    return deleted


def describe_table_of_backend(self: DynamoDBBackend, name: str) -> JsonObject:
    try:
        return _original_describe_table(self, name)
    except ResourceNotFoundException:
        deleting = _deleting_tables(self).get(name)
        if deleting is None:
            raise
        return describe_table(deleting, base_key="Table")


def update_table(self: DynamoDBBackend, name: str, attr_definitions: list[dict[str, str]],
                 global_index: list[JsonObject], throughput: JsonObject, billing_mode: str,
                 stream_spec: JsonObject, deletion_protection_enabled: bool | None,
                 warm_throughput: JsonObject | None) -> Table:
    _refuse_unless_active(self.get_table(name))
    table = _original_update_table(self, name, attr_definitions, global_index, throughput,
                                   billing_mode, stream_spec, deletion_protection_enabled,
                                   warm_throughput)
    if throughput or billing_mode or stream_spec:
        _start(table, _STATUS, "UPDATING", "ACTIVE")
    return table


def update_table_global_indexes(self: DynamoDBBackend, table: Table,
                                global_index_updates: list[JsonObject]) -> None:
    before = {index.name: index for index in table.global_indexes}
    _original_update_indexes(self, table, global_index_updates)
    after = {index.name: index for index in table.global_indexes}
    for update in global_index_updates:
        if "Delete" in update and update["Delete"]["IndexName"] in before:
            gone = before[update["Delete"]["IndexName"]]
            _start(gone, _STATUS, "DELETING", None)
            table.__dict__.setdefault(_DELETING_INDEXES, []).append(gone)
        if "Update" in update and update["Update"]["IndexName"] in after:
            _start(after[update["Update"]["IndexName"]], _STATUS, "UPDATING", "ACTIVE")
        if "Create" in update and update["Create"]["IndexName"] in after:
            _start(after[update["Create"]["IndexName"]], _STATUS, "CREATING", "ACTIVE",
                   backfilling=True)


def _continuous_backups(table: Table) -> JsonObject:
    """The table's continuous backups as described now: ENABLING (and no restorable window
    yet) while point-in-time recovery is being enabled."""
    if _under_way(table, _PITR) is None:
        return table.continuous_backups
    described = copy.deepcopy(table.continuous_backups)
    recovery = described["PointInTimeRecoveryDescription"]
    described["PointInTimeRecoveryDescription"] = {
        "PointInTimeRecoveryStatus": "ENABLING",
        **({"RecoveryPeriodInDays": recovery["RecoveryPeriodInDays"]}
           if "RecoveryPeriodInDays" in recovery else {})}
    return described


def update_continuous_backups(self: DynamoDBBackend, table_name: str,
                              point_in_time_spec: JsonObject) -> JsonObject:
    before = _original_describe_pitr(self, table_name)
    was = before["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"]
    _original_update_pitr(self, table_name, point_in_time_spec)
    table = self.get_table(table_name)
    if point_in_time_spec.get("PointInTimeRecoveryEnabled") and was == "DISABLED":
        _start(table, _PITR, "ENABLING", "ENABLED")
    elif not point_in_time_spec.get("PointInTimeRecoveryEnabled"):
        table.__dict__.pop(_PITR, None)
    return _continuous_backups(table)


def describe_continuous_backups(self: DynamoDBBackend, table_name: str) -> JsonObject:
    _original_describe_pitr(self, table_name)  # moto's error for an unknown table
    return _continuous_backups(self.get_table(table_name))


def update_time_to_live(self: DynamoDBBackend, table_name: str, ttl_spec: JsonObject) -> None:
    was = _original_describe_ttl(self, table_name).get("TimeToLiveStatus")
    _original_update_ttl(self, table_name, ttl_spec)
    now = _original_describe_ttl(self, table_name).get("TimeToLiveStatus")
    if was != now:
        pending = "ENABLING" if now == "ENABLED" else "DISABLING"
        _start(self.get_table(table_name), _TTL, pending, now)


def describe_time_to_live(self: DynamoDBBackend, table_name: str) -> JsonObject:
    described = _original_describe_ttl(self, table_name)
    transition = _under_way(self.get_table(table_name), _TTL)
    if transition is None:
        return described
    return {**described, "TimeToLiveStatus": transition.pending}


_TABLE = {"describe": describe_table}
_INDEX = {"describe": describe_index}
_BACKEND = {
    "create_table": create_table,
    "delete_table": delete_table,
    "describe_table": describe_table_of_backend,
    "update_table": update_table,
    "update_table_global_indexes": update_table_global_indexes,
    "update_continuous_backups": update_continuous_backups,
    "describe_continuous_backups": describe_continuous_backups,
    "update_time_to_live": update_time_to_live,
    "describe_time_to_live": describe_time_to_live,
}


def apply(seconds: float | None = None, clock: Clock = time.monotonic) -> None:
    """Make DynamoDB changes take `seconds` (default: the switch in this process's
    environment). 0 leaves moto as it is; once patched (this process only), 0 again makes
    every change finish at once, as moto's own do."""
    if seconds is None:
        try:
            seconds = seconds_from(os.environ)
        except ValueError as error:  # the server's last word, which sandbox.up reports
            raise SystemExit(str(error)) from None
    settings.seconds = seconds
    settings.clock = clock
    if settings.seconds <= 0:
        return
    for cls, methods in ((Table, _TABLE), (GlobalSecondaryIndex, _INDEX),
                         (DynamoDBBackend, _BACKEND)):
        for name, function in methods.items():
            setattr(cls, name, function)
