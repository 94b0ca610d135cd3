"""The data stage of verify: the application can use what is deployed the way its files promise.

Tables: every access pattern of the schema file (x-accessPatterns) is run as a Query. Where the
env's tfvars set verify_canary_writes (dev and sit), a canary item (release/canary.py) is
written, found through every pattern with every attribute the pattern needs, and deleted in a
`finally` (also on Ctrl-C or an error); a canary a killed run left is found and removed first.
Elsewhere (prod) the stage only reads: the table and its indexes ACTIVE, each pattern's index
deployed with its keys and projecting what the pattern needs, and one Limit=1 COUNT Query per
pattern with the canary's key values (no item comes back, nothing is written).

The template bucket: every template object read through GetObject, as the application reads
it, and rendered with its contract's sample_context: every declared variable has its tag, no
tag is undeclared (it would render empty), nothing is left unrendered. Read-only, every env.

Each check is named `data: <what>` and fails naming the pattern, the index and the attribute.
An AWS error of the data stage (a missing index, a refused write) is a failed check.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import chevron
from botocore.exceptions import ClientError

from bbws_infra.core.registry import Component, Environment
from bbws_infra.core.untyped import Client, JsonObject, Session
from bbws_infra.engine import interrupts
from bbws_infra.inputs import access_patterns, templates
from bbws_infra.inputs.access_patterns import DESCENDING, AccessPattern
from bbws_infra.inputs.mustache import resolve, tokenize
from bbws_infra.inputs.schemas import TableDefinition, load_table_definition, schema_file
from bbws_infra.release import canary
from bbws_infra.release.canary import Canary, CanaryError
from bbws_infra.release.verify_checks import MISSING, Check, get_or_none

PREFIX = "data: "
# GSIs are eventually consistent: a pattern's Query is retried this long (backing off) before
# the canary counts as not returned. Items written a moment ago show within a second or two.
GSI_WAIT_S = 10.0
_FIRST_PAUSE_S = 0.2
_KEY_CONDITIONS = {"=": "#r = :r", "<=": "#r <= :r", ">=": "#r >= :r",
                   "begins_with": "begins_with(#r, :r)", "between": "#r BETWEEN :r AND :r"}


def data_checks(session: Session, env: Environment, component: Component, source_root: Path,
                now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> list[Check]:
    """The data stage of one deployed component (none for a component that holds no data)."""
    if component.kind == "dynamodb":
        return _table_checks(session, env, component, source_root, now)
    if component.kind == "s3" and component.root == templates.TEMPLATE_ROOT.as_posix():
        return _template_checks(session, env, component, source_root)
    return []


def _check(component: Component, name: str, expected: str, found: str) -> Check:
    return Check(component.name, PREFIX + name, expected, found, found == expected)


def _error(error: ClientError) -> str:
    details = error.response.get("Error", {})
    return f"{details.get('Code', 'error')}: {details.get('Message', '')}".rstrip(": ")


# ---- tables ---------------------------------------------------------------------------------


class _Table:
    """One table's data stage: its definition, patterns, client and the checks so far."""

    def __init__(self, session: Session, env: Environment, component: Component,
                 definition: TableDefinition, now: Callable[[], datetime]) -> None:
        self.component = component
        self.definition = definition
        self.name = definition.table_name
        self.patterns = access_patterns.load(definition.schema)
        self.dynamodb: Client = session.client("dynamodb", region_name=env.region)
        self.writes = env.verify_canary_writes
        self.now = now
        self.checks: list[Check] = []

    def add(self, name: str, expected: str, found: str) -> None:
        self.checks.append(_check(self.component, name, expected, found))


def _table_checks(session: Session, env: Environment, component: Component, source_root: Path,
                  now: Callable[[], datetime]) -> list[Check]:
    table = _Table(session, env, component,
                   load_table_definition(schema_file(component, source_root)), now)
    described = _describe(table)
    if described is None:
        return table.checks
    try:
        item = canary.build(table.definition, table.patterns, uuid.uuid4(), now())
    except CanaryError as error:
        table.add("canary", "an item valid against the schema", str(error))
        return table.checks
    table.add("canary", "an item valid against the schema", "an item valid against the schema")
    _leftovers(table, described)
    if table.writes:
        _with_canary(table, item)
    else:
        _read_only(table, item, described)
    return table.checks


def _describe(table: _Table) -> JsonObject | None:
    """DescribeTable: the table and every index ACTIVE (None, and a failed check, when the
    table is missing: nothing else can be run)."""
    expected = "; ".join([f"table {table.name} ACTIVE"]
                         + [f"{g.name} ACTIVE" for g in table.definition.gsis])
    try:
        described = get_or_none(table.dynamodb.describe_table, TableName=table.name)
    except ClientError as error:
        table.add(f"table {table.name} active", expected, _error(error))
        return None
    if described is None:
        table.add(f"table {table.name} active", expected, f"table {table.name} {MISSING}")
        return None
    deployed: JsonObject = described["Table"]
    indexes = {g["IndexName"]: g for g in deployed.get("GlobalSecondaryIndexes", [])}
    found = "; ".join([f"table {table.name} {deployed.get('TableStatus')}"] + [
        f"{g.name} {indexes[g.name].get('IndexStatus') if g.name in indexes else MISSING}"
        for g in table.definition.gsis])
    table.add(f"table {table.name} active", expected, found)
    return deployed


def _key_query(table: _Table, pattern: AccessPattern, typed: JsonObject) -> JsonObject:
    """The pattern's Query with the canary's key values: the hash key, and the range key under
    the pattern's condition (equality when the application reads the whole partition, so the
    canary is found at once however many items share its hash key), in the pattern's order."""
    names, values = {"#h": pattern.hash_key}, {":h": typed[pattern.hash_key]}
    condition = "#h = :h"
    range_key = pattern.range_key or _index_range_key(table.definition, pattern)
    if range_key:
        names["#r"], values[":r"] = range_key, typed[range_key]
        condition += " AND " + _KEY_CONDITIONS[pattern.range_condition or "="]
    query: JsonObject = {
        "TableName": table.name, "KeyConditionExpression": condition,
        "ExpressionAttributeNames": names, "ExpressionAttributeValues": values,
        "ScanIndexForward": pattern.order != DESCENDING}
    if pattern.index:
        query["IndexName"] = pattern.index
    else:
        query["ConsistentRead"] = True  # the table itself reads its own writes
    return query


def _index_range_key(definition: TableDefinition, pattern: AccessPattern) -> str | None:
    if pattern.index is None:
        return definition.range_key
    return next((g.range_key for g in definition.gsis if g.name == pattern.index), None)


def _leftovers(table: _Table, deployed: JsonObject) -> None:
    """Canaries a killed run left: all sit at the same keys of a pattern whose keys are the
    same for every canary (found by building two), so one Query finds them. Where writes are
    allowed each is deleted; either way it is a failed check (the application could see it).
    A canary younger than canary.STALE_AFTER belongs to a run under way and is left alone."""
    at = datetime(2000, 1, 1, tzinfo=UTC)
    builds = [canary.build(table.definition, table.patterns, uuid.uuid4(), at).typed
              for _ in range(2)]
    # an index that holds the marker, and is deployed (a missing one fails its own pattern)
    index_projects_marker = {None} | {
        g["IndexName"] for g in deployed.get("GlobalSecondaryIndexes", [])
        if g.get("Projection", {}).get("ProjectionType") == "ALL"}
    fixed = [p for p in table.patterns if p.index in index_projects_marker and all(
        builds[0].get(k) == builds[1].get(k)
        for k in (p.hash_key, _index_range_key(table.definition, p)) if k)]
    name, expected = "left-over canaries", "none"
    try:
        if fixed:
            found = _all_pages(table.dynamodb, _key_query(table, fixed[0], builds[0]))
        else:  # no pattern pins every canary: read the whole table for the marker
            found = _all_pages(table.dynamodb, {
                "TableName": table.name, "FilterExpression": "begins_with(#m, :m)",
                "ExpressionAttributeNames": {"#m": canary.MARKER_ATTRIBUTE},
                "ExpressionAttributeValues": {":m": {"S": canary.MARKER}}}, scan=True)
    except ClientError as error:
        table.add(name, expected, _error(error))
        return
    now = table.now()
    stale = [i for i in found if canary.is_canary(i) and canary.is_stale(i, now)]
    if not stale:
        table.add(name, expected, expected)
        return
    keys = ", ".join(str(canary.to_plain(i)[table.definition.hash_key]) for i in stale)
    if not table.writes:
        table.add(name, expected, f"{len(stale)} left by an earlier run, not removed (this env "
                  f"allows no canary writes): {keys}")
        return
    removed = sum(_delete(table, canary.to_plain(i)) == "deleted" for i in stale)
    table.add(name, expected, f"{len(stale)} left by an earlier run, {removed} removed now: "
              f"{keys}")


def _all_pages(dynamodb: Client, request: JsonObject, scan: bool = False) -> list[JsonObject]:
    items: list[JsonObject] = []
    call = dynamodb.scan if scan else dynamodb.query
    while True:
        page = call(**request)
        items += page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return items
        request = {**request, "ExclusiveStartKey": page["LastEvaluatedKey"]}


def _delete(table: _Table, item: JsonObject) -> str:
    """Delete a canary by its key, only while it is one: 'deleted', or what happened."""
    try:
        old = table.dynamodb.delete_item(
            TableName=table.name, Key=canary.table_key(table.definition, item),
            ConditionExpression="begins_with(#m, :m)",
            ExpressionAttributeNames={"#m": canary.MARKER_ATTRIBUTE},
            ExpressionAttributeValues={":m": {"S": canary.MARKER}}, ReturnValues="ALL_OLD")
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return "not there (or no longer a canary)"
        return _error(error)
    return "deleted" if old.get("Attributes") else "not there"


def _with_canary(table: _Table, item: Canary) -> None:
    """Write the canary (only if no item has its key), run every pattern, always delete it."""
    typed = item.typed
    expected = f"{table.definition.hash_key} {item.item[table.definition.hash_key]} written"
    if interrupts.requested():
        return  # stopping before anything was written: nothing to clean up
    try:
        table.dynamodb.put_item(
            TableName=table.name, Item=typed,
            ConditionExpression="attribute_not_exists(#k)",
            ExpressionAttributeNames={"#k": table.definition.hash_key})
    except ClientError as error:
        table.add("canary written", expected, _error(error))
        return  # nothing of this run's is in the table
    except BaseException:
        _delete(table, item.item)  # stopped while writing: the canary may be in
        raise
    table.add("canary written", expected, expected)
    try:
        interrupts.checkpoint("canary")  # the tests stop the run here, the canary written
        for pattern in table.patterns:
            if interrupts.requested():
                break  # stopping: the canary goes now, the patterns are not run
            table.add(pattern.name, _returned(pattern), _find(table, pattern, typed))
    finally:
        table.add("canary deleted", "deleted", _delete(table, item.item))


def _returned(pattern: AccessPattern) -> str:
    return f"{pattern.index_label} returned the canary with {', '.join(pattern.attributes)}"


def _find(table: _Table, pattern: AccessPattern, typed: JsonObject) -> str:
    """Run the pattern's Query until the canary comes back (an index only eventually has it),
    for at most GSI_WAIT_S; then how it came back."""
    key = canary.table_key(table.definition, canary.to_plain(typed))
    request = _key_query(table, pattern, typed)
    deadline, pause = time.monotonic() + GSI_WAIT_S, _FIRST_PAUSE_S
    while True:
        try:
            items = _all_pages(table.dynamodb, request)
        except ClientError as error:
            return f"{pattern.index_label}: {_error(error)}"
        mine = next((i for i in items if all(i.get(k) == v for k, v in key.items())), None)
        if mine is not None:
            break
        if time.monotonic() + pause > deadline or interrupts.requested():
            return f"{pattern.index_label} did not return the canary within {GSI_WAIT_S:g} s"
        time.sleep(pause)
        pause *= 2
    lacking = [a for a in pattern.attributes if a not in mine]
    if lacking:
        return f"{pattern.index_label} returned the canary without {', '.join(lacking)}"
    plain, wanted = canary.to_plain(mine), canary.to_plain(typed)
    differ = [a for a in pattern.attributes if plain[a] != wanted[a]]
    if differ:
        return f"{pattern.index_label} returned the canary with other values of " + ", ".join(
            differ)
    return _returned(pattern)


def _read_only(table: _Table, item: Canary, deployed: JsonObject) -> None:
    """No writes: each pattern's index as deployed (keys, projection) and a Limit=1 COUNT
    Query with the canary's key values, which returns no item data."""
    indexes = {g["IndexName"]: g for g in deployed.get("GlobalSecondaryIndexes", [])}
    for pattern in table.patterns:
        expected = f"{pattern.index_label} answers by {pattern.hash_key} and projects " + (
            ", ".join(pattern.attributes))
        found = _deployed_problem(table, pattern, indexes)
        if found is None:
            try:
                table.dynamodb.query(**_key_query(table, pattern, item.typed), Limit=1,
                                     Select="COUNT")
                found = expected
            except ClientError as error:
                found = f"{pattern.index_label}: {_error(error)}"
        table.add(pattern.name, expected, found)


def _deployed_problem(table: _Table, pattern: AccessPattern,
                      indexes: dict[str, JsonObject]) -> str | None:
    """What keeps the deployed index from serving the pattern (None: nothing)."""
    if pattern.index is None:
        return None
    index = indexes.get(pattern.index)
    if index is None:
        return f"{pattern.index} is {MISSING}"
    keys = {k["KeyType"]: k["AttributeName"] for k in index.get("KeySchema", [])}
    wanted = {"HASH": pattern.hash_key, "RANGE": _index_range_key(table.definition, pattern)}
    if keys.get("HASH") != wanted["HASH"] or keys.get("RANGE") != wanted["RANGE"]:
        return f"{pattern.index} has the keys {', '.join(keys.values())}"
    projection = index.get("Projection", {})
    if projection.get("ProjectionType") == "ALL":
        return None
    table_keys = {table.definition.hash_key, table.definition.range_key} - {None}
    projected = {str(k) for k in table_keys} | set(keys.values()) | set(
        projection.get("NonKeyAttributes", []))
    lacking = [a for a in pattern.attributes if a not in projected]
    return f"{pattern.index} does not project {', '.join(lacking)}" if lacking else None


# ---- the template bucket ------------------------------------------------------------------


def _template_checks(session: Session, env: Environment, component: Component,
                     source_root: Path) -> list[Check]:
    contracts, findings = templates.load_contracts(source_root)
    if contracts is None:
        return [_check(component, "templates", "valid contracts",
                       "; ".join(map(str, findings)))]
    bucket = f"bbws-{component.name}-{env.name}"  # s3/templates/main.tf
    s3 = session.client("s3", region_name=env.region)
    checks = []
    for contract in contracts:
        declared = set(contract["variables"])
        expected = f"renders with all {len(declared)} declared variables filled"
        for key in (contract["key"], contract["text_key"]):
            try:
                got = get_or_none(s3.get_object, Bucket=bucket, Key=key)
                found = MISSING if got is None else _render_problem(
                    got["Body"].read(), contract, declared) or expected
            except ClientError as error:
                found = _error(error)
            checks.append(_check(component, f"template {key}", expected, found))
    return checks


def _render_problem(body: bytes, contract: JsonObject, declared: set[str]) -> str | None:
    """Why the object does not render every declared variable from the sample context."""
    try:
        source = body.decode("utf-8")
    except UnicodeDecodeError:
        return "not UTF-8 text"
    tags, errors = tokenize(source, contract["key"])
    if errors:
        return "Mustache: " + "; ".join(e.message for e in errors)
    used, unknown = resolve(tags, declared)
    if unknown:
        return "undeclared tags that render empty: " + ", ".join(
            sorted({path for _, path in unknown}))
    unused = sorted(declared - set(used))
    if unused:
        return "no tag for " + ", ".join(unused)
    rendered = chevron.render(source, contract["sample_context"])
    if "{{" in rendered or "}}" in rendered:
        return "a tag is left after rendering"
    return None
