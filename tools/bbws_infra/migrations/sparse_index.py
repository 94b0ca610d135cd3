"""The one change behind every table's 0001_backfill_active_partition: make each item carry a
sparse index's key exactly when the schema says it must, read from the schema itself.

A table schema states the invariant as

    "if":   {"properties": {"active": {"const": true}}, "required": ["active"]},
    "then": {"required": ["activePartition"]},
    "else": {"not": {"required": ["activePartition"]}}

with activePartition a `const` ("ACTIVE") and the hash key of an index. So, exactly as the
schema validates: an item whose `active` is the boolean true gets activePartition = the
constant; every other item (active false, absent, or not a boolean: the `if` fails) must not
carry it. Items already right are left alone (no write), and the change is idempotent.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bbws_infra.core.errors import UserError
from bbws_infra.core.paths import REPO_ROOT
from bbws_infra.core.registry import COMPONENTS
from bbws_infra.core.untyped import Json, JsonObject
from bbws_infra.inputs import schemas
from bbws_infra.migrations.catalog import Item, ScanFilter


@dataclass(frozen=True)
class SparseKey:
    """attribute = value while flag == flag_value, absent otherwise; the key of `index`."""

    index: str
    attribute: str
    value: Json
    flag: str
    flag_value: Json

    @property
    def description(self) -> str:
        return (f"Every item carries {self.attribute} = {self.value!r} exactly while "
                f"{self.flag} is {_literal(self.flag_value)}, so {self.index} holds every such "
                "item and no other.")

    def change(self, item: Item) -> Item | None:
        """The item with the key put right, or None when it already is."""
        wanted = _same(item.get(self.flag), self.flag_value)
        has = self.attribute in item
        if wanted and has and _same(item[self.attribute], self.value):
            return None
        if not wanted and not has:
            return None
        new = dict(item)
        if wanted:
            new[self.attribute] = self.value
        else:
            del new[self.attribute]
        return new

    @property
    def scan_filter(self) -> ScanFilter:
        """Only the items change() would change (the scan still reads every item)."""
        return ScanFilter(
            "(#flag = :flag AND (attribute_not_exists(#key) OR #key <> :value)) OR "
            "(NOT #flag = :flag AND attribute_exists(#key))",
            {"#flag": self.flag, "#key": self.attribute},
            {":flag": self.flag_value, ":value": self.value})


def _same(a: Json, b: Json) -> bool:
    """JSON Schema's const equality: a boolean never equals a number (True == 1 in Python)."""
    return type(a) is type(b) and a == b


def _literal(value: Json) -> str:
    return "true" if value is True else "false" if value is False else repr(value)


def _resolve(schema: JsonObject, node: Json) -> Json:
    """Follow local $refs (#/$defs/...)."""
    while isinstance(node, dict) and isinstance(node.get("$ref"), str) \
            and node["$ref"].startswith("#/"):
        target: Json = schema
        for part in node["$ref"][2:].split("/"):
            target = target[part]
        node = target
    return node


def sparse_key(component: str, repo_root: Path = REPO_ROOT) -> SparseKey:
    """The sparse index key the component's schema defines by its if/then/else; UserError
    when the schema states none."""
    path = schemas.schema_file(COMPONENTS[component], repo_root)
    definition = schemas.load_table_definition(path)
    schema = definition.schema
    rel = path.relative_to(repo_root).as_posix()
    condition = schema.get("if") or {}
    flags = {name: spec["const"] for name, spec in (condition.get("properties") or {}).items()
             if isinstance(spec, dict) and "const" in spec
             and name in condition.get("required", [])}
    then = set((schema.get("then") or {}).get("required", []))
    otherwise = set(((schema.get("else") or {}).get("not") or {}).get("required", []))
    keys = {g.hash_key: g.name for g in definition.gsis}
    found = [(flag, attribute) for flag in flags for attribute in sorted(then & otherwise)
             if attribute in keys]
    if len(found) != 1:
        raise UserError(f"{rel}: no single sparse index key defined by if/then/else (an "
                        "attribute required when a flag holds, absent otherwise, and the hash "
                        "key of an index).")
    flag, attribute = found[0]
    value = _resolve(schema, schema["properties"][attribute])
    if not isinstance(value, dict) or "const" not in value:
        raise UserError(f"{rel}: {attribute} has no const value to fill in.")
    return SparseKey(index=keys[attribute], attribute=attribute, value=value["const"],
                     flag=flag, flag_value=flags[flag])
