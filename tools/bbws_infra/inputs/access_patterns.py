"""The application's access patterns of a table, as its schema file documents them.

The member ``x-accessPatterns`` of ``dynamodb/<component>/*.schema.json`` lists every way the
application reads the table: a name ("tenant by email"), the index it queries (a global
secondary index of ``x-dynamodb``, or the table itself when ``index`` is absent), the key
attributes it queries by (the hash key, and the range key with the condition and order the
application uses) and the attributes it needs back. Terraform never reads this member.

The offline rules here prove the promise on paper (the index exists, the pattern queries it by
its own keys, the index projects every attribute the pattern needs); `invoke verify`'s data
stage (release/verify_data.py) proves it on the deployed table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from bbws_infra.core.findings import Finding
from bbws_infra.core.untyped import JsonObject

MEMBER = "x-accessPatterns"
WHERE = f"$.{MEMBER}"
TABLE = "the table"  # how a pattern without `index` names what it queries
ASCENDING, DESCENDING = "ascending", "descending"
# Range-key conditions whose operand may be the value the item itself holds (the data stage
# queries with the canary's own value, so each must match an item equal to its operand).
RANGE_CONDITIONS = ("=", "<=", ">=", "begins_with", "between")

_ATTRIBUTE = {"type": "string", "minLength": 1, "maxLength": 255}

PATTERNS_SCHEMA: JsonObject = {
    "type": "array",
    "minItems": 1,
    "x-error": {"type": f"{MEMBER} must be a list.",
                "minItems": f"{MEMBER} must name at least one access pattern."},
    "items": {
        "type": "object",
        "required": ["name", "hashKey", "attributes"],
        "additionalProperties": False,
        "x-error": {"type": "Each access pattern must be an object."},
        "properties": {
            "name": {"type": "string", "minLength": 3, "maxLength": 80,
                     "x-error": "An access pattern's name must be 3-80 characters."},
            "description": {"type": "string", "minLength": 1},
            "index": {"type": "string", "minLength": 1,
                      "x-error": "index must name a global secondary index of x-dynamodb."},
            "hashKey": _ATTRIBUTE,
            "rangeKey": _ATTRIBUTE,
            "rangeCondition": {
                "enum": list(RANGE_CONDITIONS),
                "x-error": "rangeCondition {value!r} must be one of "
                + ", ".join(RANGE_CONDITIONS) + ".",
            },
            "order": {"enum": [ASCENDING, DESCENDING],
                      "x-error": "order {value!r} must be ascending or descending."},
            "attributes": {
                "type": "array", "minItems": 1, "uniqueItems": True, "items": _ATTRIBUTE,
                "x-error": "attributes must be a non-empty list of distinct attribute names "
                "the application needs back.",
            },
        },
    },
}
PATTERNS_VALIDATOR = Draft202012Validator(PATTERNS_SCHEMA)
# How a jsonschema error becomes a Finding at a JSON path (schemas._explain).
Explain = Callable[[ValidationError, str, str], Finding]


@dataclass(frozen=True)
class AccessPattern:
    """One documented access pattern: Query `index` (None: the table) by `hash_key` (and
    `range_key` with `range_condition`, in `order`), needing `attributes` back."""

    name: str
    index: str | None
    hash_key: str
    range_key: str | None
    range_condition: str | None
    order: str
    attributes: tuple[str, ...]

    @property
    def index_label(self) -> str:
        """The index as a message names it: EmailIndex, or `the table`."""
        return self.index or TABLE


def load(schema: JsonObject) -> list[AccessPattern]:
    """The patterns of a schema whose member passed `problems` (nothing else is checked)."""
    return [
        AccessPattern(
            name=p["name"], index=p.get("index"), hash_key=p["hashKey"],
            range_key=p.get("rangeKey"), range_condition=p.get("rangeCondition"),
            order=p.get("order", ASCENDING), attributes=tuple(p["attributes"]))
        for p in schema.get(MEMBER, [])
    ]


@dataclass(frozen=True)
class _Index:
    hash_key: str
    range_key: str | None
    projected: frozenset[str] | None  # None: every attribute (the table, or ALL)


def _indexes(spec: JsonObject) -> dict[str | None, _Index]:
    """What each queryable thing holds, keyed by index name (None: the table). A GSI always
    projects the table's keys and its own; KEYS_ONLY nothing more, INCLUDE its
    nonKeyAttributes, ALL everything."""
    table_keys = {spec["hashKey"], spec.get("rangeKey")} - {None}
    found: dict[str | None, _Index] = {None: _Index(spec["hashKey"], spec.get("rangeKey"), None)}
    for gsi in spec["globalSecondaryIndexes"]:
        keys = table_keys | {gsi["hashKey"], gsi.get("rangeKey")} - {None}
        projected = None if gsi["projectionType"] == "ALL" else frozenset(
            keys | set(gsi.get("nonKeyAttributes", [])))
        found[gsi["name"]] = _Index(gsi["hashKey"], gsi.get("rangeKey"), projected)
    return found


def problems(schema: JsonObject, file: str, explain: Explain,
             definition_ok: bool) -> list[Finding]:
    """Every problem of the member: its shape, then (when the table definition itself is sound,
    definition_ok) each pattern against the index it names. `explain` turns a jsonschema error
    into a Finding (schemas._explain), so messages read like the other schema findings."""
    if MEMBER not in schema:
        return [Finding.at_path(file, WHERE, f"The schema lacks {MEMBER}, the application's "
                                "access patterns (what the data stage of invoke verify proves).")]
    member = schema[MEMBER]
    shape = sorted(explain(error, file, WHERE)
                   for error in PATTERNS_VALIDATOR.iter_errors(member))
    if shape or not definition_ok:
        return shape
    properties = schema.get("properties")
    defined = set(properties) if isinstance(properties, dict) else set()
    return list(_pattern_problems(member, _indexes(schema["x-dynamodb"]), defined, file))


def _pattern_problems(member: list[JsonObject], indexes: dict[str | None, _Index],
                      defined: set[str], file: str) -> Iterator[Finding]:
    seen: dict[str, int] = {}
    for i, pattern in enumerate(member):
        at, name = f"{WHERE}[{i}]", pattern["name"]
        first = seen.setdefault(name, i)
        if first != i:
            yield Finding.at_path(file, f"{at}.name", f"Access pattern name {name!r} is "
                                  f"already used by {MEMBER}[{first}]; names must be unique.")
        label = pattern.get("index", TABLE)
        index = indexes.get(pattern.get("index"))
        if index is None:
            yield Finding.at_path(file, f"{at}.index", f"Access pattern {name!r} queries "
                                  f"index {label!r}, which x-dynamodb does not define.")
            continue
        for role, key in (("hashKey", index.hash_key), ("rangeKey", index.range_key)):
            given = pattern.get(role)
            if given is not None and given != key:
                what = f"is {key!r}" if key else "does not exist"
                yield Finding.at_path(file, f"{at}.{role}", f"Access pattern {name!r} queries "
                                      f"{label} by {given!r}, but its {role} {what}.")
        for extra in ("rangeCondition", "order"):
            if extra in pattern and "rangeKey" not in pattern:
                yield Finding.at_path(file, f"{at}.{extra}", f"Access pattern {name!r} sets "
                                      f"{extra} but names no rangeKey.")
        for j, attribute in enumerate(pattern["attributes"]):
            where = f"{at}.attributes[{j}]"
            if attribute not in defined:
                yield Finding.at_path(file, where, f"Access pattern {name!r} needs "
                                      f"{attribute!r}, which is not defined in properties.")
            elif index.projected is not None and attribute not in index.projected:
                yield Finding.at_path(file, where, f"Access pattern {name!r} needs "
                                      f"{attribute!r}, which {label} does not project.")
