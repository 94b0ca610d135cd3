"""One item's way through a migration, as pure functions: DynamoDB's typed form to Python and
back, and the conditional UpdateItem that turns the item read into the item change() made.

The condition is that the item is still exactly what was read: every attribute the scan
returned equals the value read (the key attributes among them, so a deleted item fails too),
and every attribute the change adds is still absent. The tables' schemas allow no version
attribute, so comparing every attribute is the item's version check: it is what a hash of the
item would vouch for, checked by DynamoDB itself. An attribute the application added since the
read is not compared, but it is not overwritten either: the update touches only the attributes
the change sets or removes.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from bbws_infra.core.untyped import Json, JsonObject
from bbws_infra.migrations.catalog import Item

# DynamoDB's limit on one expression's length.
MAX_EXPRESSION = 4096

_deserializer = TypeDeserializer()
_serializer = TypeSerializer()


class ChangeError(ValueError):
    """change() returned something that cannot be written (a key altered, a float, a string
    over the expression limit): the migration's bug, reported for that item."""


def to_python(raw: JsonObject) -> Item:
    """A scanned item (typed form) as Python values (numbers as Decimal)."""
    return {name: _deserializer.deserialize(value) for name, value in raw.items()}


def to_wire(value: Json) -> JsonObject:
    try:
        typed: JsonObject = _serializer.serialize(value)
    except TypeError as error:  # floats, unknown types
        raise ChangeError(str(error)) from None
    return typed


@dataclass(frozen=True)
class Write:
    """The UpdateItem parameters (without TableName)."""

    key: JsonObject
    update: str
    condition: str
    names: dict[str, str]
    values: JsonObject

    def request(self, table: str) -> JsonObject:
        request: JsonObject = {
            "TableName": table, "Key": self.key, "UpdateExpression": self.update,
            "ConditionExpression": self.condition, "ExpressionAttributeNames": self.names}
        if self.values:
            request["ExpressionAttributeValues"] = self.values
        return request


def plan_write(raw: JsonObject, old: Item, new: Item, key_names: list[str]) -> Write:
    """The conditional update from `old` (read as `raw`) to `new`; ChangeError when the change
    alters a key attribute or cannot be expressed."""
    for name in key_names:
        if name not in new or new[name] != old.get(name):
            raise ChangeError(f"the change alters key attribute {name}")
    names: dict[str, str] = {}
    values: JsonObject = {}

    def name_of(attribute: str) -> str:
        if attribute not in names.values():
            names[f"#a{len(names)}"] = attribute
        return next(k for k, v in names.items() if v == attribute)

    sets = [a for a in sorted(new) if a not in old or new[a] != old[a]]
    removes = [a for a in sorted(old) if a not in new]
    parts = []
    if sets:
        assignments = []
        for index, attribute in enumerate(sets):
            values[f":s{index}"] = to_wire(new[attribute])
            assignments.append(f"{name_of(attribute)} = :s{index}")
        parts.append("SET " + ", ".join(assignments))
    if removes:
        parts.append("REMOVE " + ", ".join(name_of(a) for a in removes))
    conditions = []
    for index, attribute in enumerate(sorted(raw)):
        values[f":c{index}"] = raw[attribute]
        conditions.append(f"{name_of(attribute)} = :c{index}")
    conditions += [f"attribute_not_exists({name_of(a)})" for a in sets if a not in raw]
    write = Write(key={name: raw[name] for name in key_names}, update=" ".join(parts),
                  condition=" AND ".join(conditions), names=names, values=values)
    if max(len(write.update), len(write.condition)) > MAX_EXPRESSION:
        raise ChangeError(f"the item has too many attributes for one condition expression "
                          f"({len(write.condition)} characters, DynamoDB allows "
                          f"{MAX_EXPRESSION})")
    return write


def key_text(key: JsonObject) -> str:
    """A key as one short readable text (for reports): PK=TENANT#..., SK=METADATA."""
    return ", ".join(f"{name}={to_python({name: value})[name]}" for name, value in
                     sorted(key.items()))


def to_json_key(key: JsonObject) -> JsonObject:
    """A LastEvaluatedKey in a form JSON can hold (binary values base64-encoded)."""
    return {name: ({"B64": base64.b64encode(value["B"]).decode()} if "B" in value else value)
            for name, value in key.items()}


def from_json_key(key: JsonObject) -> JsonObject:
    return {name: ({"B": base64.b64decode(value["B64"])} if "B64" in value else value)
            for name, value in key.items()}
