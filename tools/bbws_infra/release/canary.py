"""The canary item of verify's data stage: one item built from a table's schema, marked so that
nobody can mistake it for a customer's, written, read back through every access pattern and
deleted again within the run.

How a canary is built from the schema's richest active example:
- every uuid attribute gets a value derived from the run's id, in a reserved range (it starts
  CANARY_UUID_PREFIX), so `id`, and with it the key `TENANT#<id>`, is new each run,
  `productId` names no real product, and IAM can tell a canary's key from a customer's
  (LEADING_KEY_PATTERNS: the only items a role may put or delete);
- every email is CANARY_EMAIL, on the reserved domain example.invalid (never deliverable);
- the marker attribute (lastUpdatedBy) is `bbws-verify-canary <written at> <run>`;
- a key attribute that holds a time or a date (dateCreated, fromDate) gets a fixed moment in
  2000, so that every canary ever written sits at the same index keys: one Query finds them all
  (a left-over of a run that was killed), and a list sorted newest first shows it last;
- any other string the table key embeds (a campaign's code) becomes `VERIFY-CANARY-<run>`;
- free text (a name, a description) says it is a canary; other times and dates are now;
  everything else keeps the example's value.
The item is validated against the JSON schema before anything is written.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from bbws_infra.core.untyped import Json, JsonObject
from bbws_infra.inputs.access_patterns import AccessPattern
from bbws_infra.inputs.schemas import TableDefinition, validate_item

MARKER_ATTRIBUTE = "lastUpdatedBy"
MARKER = "bbws-verify-canary"
CANARY_EMAIL = "bbws-verify-canary@example.invalid"
SENTINEL_TIME = "2000-01-01T00:00:00Z"
SENTINEL_DATE = "2000-01-01"
CODE_PREFIX = "VERIFY-CANARY-"
# The first 12 hex digits of every canary uuid: one customer uuid in 2**48 could share them.
CANARY_UUID_PREFIX = "0ca4a27e-ca4a-"
# Every canary's partition key (TENANT#<uuid>, PRODUCT#<uuid>, CAMPAIGN#<code>) matches one of
# these; pipeline/iam_data.py lets the roles put and delete only such items.
LEADING_KEY_PATTERNS = [f"*#{CANARY_UUID_PREFIX}*", f"*#{CODE_PREFIX}*"]
# A canary lives for seconds (the data stage's waits are bounded well below this); one older
# than this was left by a run that was killed, a younger one belongs to a run under way.
STALE_AFTER = timedelta(minutes=5)
TEXT = "BBWS verify canary: written and deleted by invoke verify"
_CONSTRAINED = {"format", "pattern", "enum", "const"}  # text that cannot take TEXT
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_MARKED = re.compile(rf"{re.escape(MARKER)} (\S+) (\S+)")


class CanaryError(ValueError):
    """The schema cannot give a canary (no active example, or the item would be invalid)."""


@dataclass(frozen=True)
class Canary:
    """One run's canary: the item (plain JSON values) and its DynamoDB form."""

    item: JsonObject
    run: str

    @property
    def typed(self) -> JsonObject:
        return to_typed(self.item)


def _resolved(schema: JsonObject, name: str) -> JsonObject:
    """A property's schema merged over the local definition it references."""
    node = (schema.get("properties") or {}).get(name) or {}
    ref = node.get("$ref") if isinstance(node, dict) else None
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        return {**schema.get("$defs", {}).get(ref.removeprefix("#/$defs/"), {}), **node}
    return node if isinstance(node, dict) else {}


def key_attributes(definition: TableDefinition) -> set[str]:
    """Every attribute that is a key of the table or of one of its indexes."""
    keys = {definition.hash_key, definition.range_key}
    keys |= {k for g in definition.gsis for k in (g.hash_key, g.range_key)}
    return {k for k in keys if k}


def table_key(definition: TableDefinition, item: JsonObject) -> JsonObject:
    """The item's primary key, in DynamoDB form."""
    names = [definition.hash_key] + ([definition.range_key] if definition.range_key else [])
    return {name: to_typed({name: item[name]})[name] for name in names}


def build(definition: TableDefinition, patterns: Iterable[AccessPattern],
          run: uuid.UUID, now: datetime) -> Canary:
    """This run's canary of the table (CanaryError when the schema cannot give a valid one)."""
    schema = definition.schema
    examples = [e for e in schema.get("examples", [])
                if isinstance(e, dict) and e.get("active", True) is not False]
    if not examples:
        raise CanaryError("the schema has no example of an active item to build a canary from")
    base = max(examples, key=len)
    keys = key_attributes(definition)
    table_key_text = str(base.get(definition.hash_key, ""))
    written = now.astimezone(UTC)
    item: JsonObject = {}
    renamed: dict[str, Json] = {}
    for name, value in base.items():
        prop = _resolved(schema, name)
        form = prop.get("format")
        new: Json = value
        if name == MARKER_ATTRIBUTE:
            new = f"{MARKER} {written.strftime(_TIME_FORMAT)} {run.hex[:12]}"
        elif form == "uuid":
            new = CANARY_UUID_PREFIX + str(uuid.uuid5(run, name))[len(CANARY_UUID_PREFIX):]
        elif form == "email":
            new = CANARY_EMAIL
        elif form == "date-time":
            new = SENTINEL_TIME if name in keys else written.strftime(_TIME_FORMAT)
        elif form == "date":
            new = SENTINEL_DATE if name in keys else written.date().isoformat()
        elif (isinstance(value, str) and name != definition.hash_key and value
              and value in table_key_text and "const" not in prop and "enum" not in prop):
            new = CODE_PREFIX + run.hex[:12].upper()
        elif isinstance(value, str) and name not in keys and not _CONSTRAINED & set(prop):
            new = TEXT
        item[name] = new
        if isinstance(value, str) and new != value:
            renamed[value] = new
    for name, value in item.items():  # what embeds a renamed value: the key TENANT#<id>
        if isinstance(value, str) and value == base[name]:
            for before, after in renamed.items():
                value = value.replace(before, str(after))
            item[name] = value
    needed = sorted({a for p in patterns for a in p.attributes} - set(item))
    if needed:
        raise CanaryError(f"the richest active example lacks {', '.join(needed)}, which the "
                          "access patterns need back; add an example that has them")
    problems = validate_item(definition, item)
    if problems:
        raise CanaryError("the canary built from the schema is invalid against it: "
                          + "; ".join(problems))
    return Canary(item, run.hex[:12])


def to_typed(item: JsonObject) -> JsonObject:
    """Plain JSON values as DynamoDB attribute values (numbers as Decimal first)."""
    exact = json.loads(json.dumps(item), parse_float=Decimal)
    serializer = TypeSerializer()
    return {name: serializer.serialize(value) for name, value in exact.items()}


def to_plain(typed: JsonObject) -> JsonObject:
    deserializer = TypeDeserializer()
    return {name: deserializer.deserialize(value) for name, value in typed.items()}


def written_at(typed: JsonObject) -> datetime | None:
    """When a canary was written, from its marker; None for an item that is no canary (or
    whose marker cannot be read)."""
    marker = typed.get(MARKER_ATTRIBUTE, {}).get("S", "")
    found = _MARKED.fullmatch(marker)
    if not found:
        return None
    try:
        return datetime.strptime(found.group(1), _TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


def is_canary(typed: JsonObject) -> bool:
    return str(typed.get(MARKER_ATTRIBUTE, {}).get("S", "")).startswith(MARKER)


def is_stale(typed: JsonObject, now: datetime) -> bool:
    """A canary a killed run left: older than STALE_AFTER (or with an unreadable time)."""
    written = written_at(typed)
    return written is None or now - written > STALE_AFTER
