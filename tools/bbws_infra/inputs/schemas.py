"""Item schemas and the table definitions they carry.

Each ``dynamodb/<component>/*.schema.json`` is a JSON Schema 2020-12 of one table item plus,
in the member ``x-dynamodb``, the table definition that Terraform reads with ``jsondecode``, and
in ``x-accessPatterns`` the application's access patterns (inputs/access_patterns.py).
This module loads the definition (deriving DynamoDB attribute types from the item schema),
checks both halves against each other and validates items before they are written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing.exceptions import Unresolvable

from bbws_infra.core.errors import UserError
from bbws_infra.core.findings import Finding
from bbws_infra.core.paths import REPO_ROOT
from bbws_infra.core.registry import Component
from bbws_infra.core.untyped import Json, JsonObject
from bbws_infra.inputs import access_patterns
from bbws_infra.inputs.schema_rules import (
    DRAFT_2020_12,
    FORMAT_CHECKER,
    MAX_PROJECTED_ATTRIBUTES,
    META_VALIDATOR,
    XDYNAMODB_VALIDATOR,
)

# --- table definition ----------------------------------------------------------------------


@dataclass(frozen=True)
class Gsi:
    """One global secondary index of a table."""

    name: str
    hash_key: str
    range_key: str | None
    projection_type: str
    non_key_attributes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class TableDefinition:
    """A table as Terraform creates it.

    `attribute_types` maps every table and GSI key attribute to S, N or B; `schema` is the
    item schema the definition came from (for validate_item).
    """

    table_name: str
    hash_key: str
    range_key: str | None
    attribute_types: dict[str, str]
    gsis: list[Gsi]
    schema: JsonObject = field(default_factory=dict, repr=False, compare=False)


class SchemaFileError(ValueError):
    """A schema file that cannot yield a table definition or an item schema."""

    def __init__(self, findings: list[Finding]) -> None:
        super().__init__("\n".join(map(str, findings)))
        self.findings = findings


SCHEMA_PATTERN = "*.schema.json"


def schema_files(repo_root: Path = REPO_ROOT, component: Component | None = None) -> list[Path]:
    """Every table component's item schema (dynamodb/<component>/*.schema.json), or only those
    of one component (none for a component that is no table: the template bucket's root holds
    contracts.schema.json, which is no item schema). The one place that knows where a schema
    file lives."""
    if component is not None and component.kind != "dynamodb":
        return []
    folder = component.root if component else "dynamodb/*"
    return sorted(repo_root.glob(f"{folder}/{SCHEMA_PATTERN}"))


def schema_file(component: Component, repo_root: Path = REPO_ROOT) -> Path:
    """The item schema a table component's root reads: exactly one *.schema.json
    (one(fileset(...)) in dynamodb/table_main.tf); UserError otherwise."""
    files = schema_files(repo_root, component)
    if len(files) != 1:
        raise UserError(f"{component.root} must hold exactly one {SCHEMA_PATTERN}, found "
                        f"{len(files)}.")
    return files[0]


def load_table_definition(path: Path) -> TableDefinition:
    """Read the table definition of a schema file; raise SchemaFileError if it is unusable."""
    schema = _load_schema(path)
    problems = _table_problems(schema, path, path.as_posix())
    if problems:
        raise SchemaFileError(problems)
    spec, properties = schema["x-dynamodb"], schema["properties"]
    gsis = [
        Gsi(
            name=g["name"],
            hash_key=g["hashKey"],
            range_key=g.get("rangeKey"),
            projection_type=g["projectionType"],
            non_key_attributes=list(g.get("nonKeyAttributes", [])),
        )
        for g in spec["globalSecondaryIndexes"]
    ]
    keys = [spec["hashKey"], spec.get("rangeKey")]
    keys += [key for gsi in gsis for key in (gsi.hash_key, gsi.range_key)]
    # a key attribute whose type cannot be a key was reported above (_key_problems)
    attribute_types = {
        key: kind for key in dict.fromkeys(keys)
        if key and (kind := _attribute_type(schema, properties[key])) is not None
    }
    return TableDefinition(
        table_name=spec["tableName"],
        hash_key=spec["hashKey"],
        range_key=spec.get("rangeKey"),
        attribute_types=attribute_types,
        gsis=gsis,
        schema=schema,
    )


# --- validation ----------------------------------------------------------------------------


def validate_schema_file(path: Path, repo_root: Path = REPO_ROOT) -> list[Finding]:
    """Every problem in one schema file: JSON, meta-schema, x-dynamodb, keys, access
    patterns (x-accessPatterns) and examples."""
    try:
        file = path.resolve().relative_to(repo_root.resolve()).as_posix()
    except ValueError:
        file = path.as_posix()
    try:
        schema = _read_json(path)
    except SchemaFileError as exc:
        return [replace(f, file=file) for f in exc.findings]
    if not isinstance(schema, dict):
        return [Finding.at_path(file, "$", "The schema must be a JSON object.")]
    meta = sorted(_explain(error, file, "$") for error in META_VALIDATOR.iter_errors(schema))
    table = _table_problems(schema, path, file)
    problems = _header_problems(schema, file) + meta + table
    problems += access_patterns.problems(schema, file, _explain, definition_ok=not table)
    if not meta:  # an invalid schema cannot validate its examples
        problems += _example_problems(schema, file)
    return problems


def validate_all(repo_root: Path = REPO_ROOT) -> list[Finding]:
    """Validate every schema file of the repository."""
    files = schema_files(repo_root)
    if not files:
        return [Finding.at_path("dynamodb", "$", "No schema files match dynamodb/*/*.schema.json.")]
    return [finding for path in files for finding in validate_schema_file(path, repo_root)]


def validate_item(
    path_or_definition: Path | str | TableDefinition | Mapping[str, Json], item: Json
) -> list[str]:
    """Problems of one item against a schema (file, loaded definition or schema dict)."""
    if isinstance(path_or_definition, TableDefinition):
        schema: Mapping[str, Json] = path_or_definition.schema
    elif isinstance(path_or_definition, Mapping):
        schema = path_or_definition
    else:
        schema = _load_schema(Path(path_or_definition))
    validator = Draft202012Validator(schema, format_checker=FORMAT_CHECKER)
    # an item is no file: its problems are told by their place in the item alone
    return [f"{problem.where}: {problem.message}"
            for problem in _item_problems(validator, item, "", "$")]


# --- checks: each names the file its findings are in (`file`, as the caller prints it) ------


def _read_json(path: Path) -> Json:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        problem = Finding(path.as_posix(), exc.lineno,
                          f"Invalid JSON: {exc.msg} at column {exc.colno}.")
    except (OSError, UnicodeDecodeError) as exc:
        problem = Finding.at_path(path.as_posix(), "$", f"Cannot read the file: {exc}.")
    raise SchemaFileError([problem])


def _load_schema(path: Path) -> JsonObject:
    schema = _read_json(path)
    if not isinstance(schema, dict):
        raise SchemaFileError([Finding.at_path(path.as_posix(), "$",
                                               "The schema must be a JSON object.")])
    return schema


def _header_problems(schema: JsonObject, file: str) -> list[Finding]:
    problems: list[Finding] = []
    if schema.get("$schema") != DRAFT_2020_12:
        problems.append(Finding.at_path(
            file, "$.$schema", f"$schema must be {DRAFT_2020_12!r} (JSON Schema 2020-12)."))
    if schema.get("additionalProperties") is not False:
        problems.append(Finding.at_path(
            file, "$.additionalProperties",
            "additionalProperties must be false so items carry only declared attributes."))
    return problems


def _table_problems(schema: JsonObject, path: Path, file: str) -> list[Finding]:
    spec = schema.get("x-dynamodb")
    if spec is None:
        return [Finding.at_path(file, "$.x-dynamodb",
                                "The schema lacks the x-dynamodb table definition.")]
    problems = sorted(_explain(error, file, "$.x-dynamodb")
                      for error in XDYNAMODB_VALIDATOR.iter_errors(spec))
    if problems:  # the semantic checks below rely on the shape
        return problems
    properties = schema.get("properties")
    properties = properties if isinstance(properties, dict) else {}
    if path.parent.parent.name == "dynamodb" and spec["tableName"] != path.parent.name:
        problems.append(Finding.at_path(
            file, "$.x-dynamodb.tableName",
            f"Table name {spec['tableName']!r} differs from its component directory "
            f"{path.parent.name!r}."))
    problems += [
        Finding.at_path(file, _jsonpath("$.properties", [name]),
                        "Attribute names must be 1-255 bytes long.")
        for name in properties
        if not 1 <= len(name.encode()) <= 255
    ]
    problems += _key_problems(schema, spec, properties, file)
    problems += _projection_problems(spec["globalSecondaryIndexes"], properties, file)
    problems += _duplicate_problems(spec, file)
    required = schema.get("required", [])
    problems += [
        Finding.at_path(file, "$.required", f"Table key attribute {key!r} must be required.")
        for key in (spec["hashKey"], spec.get("rangeKey"))
        if key and key in properties and key not in required
    ]
    return problems


def _indexes(spec: JsonObject) -> list[tuple[str, str, str, str | None]]:
    """(label, JSON path, hash key, range key) of the table and of each GSI."""
    base = "$.x-dynamodb"
    return [("the table", base, spec["hashKey"], spec.get("rangeKey"))] + [
        (
            f"index {g['name']!r}",
            f"{base}.globalSecondaryIndexes[{i}]",
            g["hashKey"],
            g.get("rangeKey"),
        )
        for i, g in enumerate(spec["globalSecondaryIndexes"])
    ]


def _key_problems(
    schema: JsonObject, spec: JsonObject, properties: JsonObject, file: str
) -> Iterator[Finding]:
    for label, where, *keys in _indexes(spec):
        for role, attribute in zip(("hashKey", "rangeKey"), keys, strict=True):
            problem = attribute and _key_problem(
                schema, properties, attribute, f"{role} of {label}"
            )
            if problem:
                yield Finding.at_path(file, f"{where}.{role}", problem)


def _projection_problems(
    gsis: list[JsonObject], properties: JsonObject, file: str
) -> Iterator[Finding]:
    for i, gsi in enumerate(gsis):
        for j, attribute in enumerate(gsi.get("nonKeyAttributes", [])):
            if attribute not in properties:
                yield Finding.at_path(
                    file, f"$.x-dynamodb.globalSecondaryIndexes[{i}].nonKeyAttributes[{j}]",
                    f"Index {gsi['name']!r} projects {attribute!r}, which is not defined in "
                    "properties.")
    projected = sum(len(gsi.get("nonKeyAttributes", [])) for gsi in gsis)
    if projected > MAX_PROJECTED_ATTRIBUTES:
        yield Finding.at_path(
            file, "$.x-dynamodb.globalSecondaryIndexes",
            f"The indexes project {projected} non-key attributes; DynamoDB allows "
            f"{MAX_PROJECTED_ATTRIBUTES} over all secondary indexes.")


def _duplicate_problems(spec: JsonObject, file: str) -> Iterator[Finding]:
    first_with_name: dict[str, int] = {}
    for i, gsi in enumerate(spec["globalSecondaryIndexes"]):
        first = first_with_name.setdefault(gsi["name"], i)
        if first != i:
            yield Finding.at_path(
                file, f"$.x-dynamodb.globalSecondaryIndexes[{i}].name",
                f"Index name {gsi['name']!r} is already used by globalSecondaryIndexes[{first}]; "
                "index names must be unique.")
    first_with_keys: dict[tuple[str, str | None], tuple[str, str]] = {}
    for label, where, hash_key, range_key in _indexes(spec):
        other, other_where = first_with_keys.setdefault((hash_key, range_key), (label, where))
        if other_where != where:
            keys = f"{hash_key}, {range_key}" if range_key else hash_key
            yield Finding.at_path(
                file, where,
                f"{label[0].upper()}{label[1:]} has the same keys ({keys}) as {other}; "
                "one of them is redundant.")


def _key_problem(
    schema: JsonObject, properties: JsonObject, attribute: str, role: str
) -> str | None:
    if attribute not in properties:
        return f"Key attribute {attribute!r} ({role}) is not defined in properties."
    if _attribute_type(schema, properties[attribute]) is None:
        declared, _ = _declared_type(schema, properties[attribute])
        what = f"has JSON type {declared!r}" if declared else "declares no single JSON type"
        return (
            f"Key attribute {attribute!r} ({role}) {what}; DynamoDB key attributes must be "
            "string (S), number (N) or binary (B)."
        )
    return None


def _example_problems(schema: JsonObject, file: str) -> list[Finding]:
    examples = schema.get("examples")
    if not isinstance(examples, list) or not examples:
        return [Finding.at_path(file, "$.examples",
                                "The schema has no examples; add at least one valid item.")]
    spec: Json = schema.get("x-dynamodb")
    # a broken definition is reported already
    spec = spec if XDYNAMODB_VALIDATOR.is_valid(spec) else {}
    table_keys = [spec[key] for key in ("hashKey", "rangeKey") if key in spec]
    validator = Draft202012Validator(schema, format_checker=FORMAT_CHECKER)
    problems: list[Finding] = []
    for i, item in enumerate(examples):
        prefix = f"$.examples[{i}]"
        missing = [key for key in table_keys if isinstance(item, dict) and key not in item]
        problems += [
            Finding.at_path(file, _jsonpath(prefix, [key]),
                            f"Example lacks the table key attribute {key!r}.")
            for key in missing
        ]
        reported = {_jsonpath(prefix, [key]) for key in missing}
        try:
            problems += [p for p in _item_problems(validator, item, file, prefix)
                         if p.path not in reported]
        except Unresolvable as exc:
            return [*problems,
                    Finding.at_path(file, "$", f"Cannot resolve the reference {exc.ref!r}.")]
    return problems


def _item_problems(
    validator: Draft202012Validator, item: Json, file: str, prefix: str
) -> list[Finding]:
    return sorted(_explain(error, file, prefix) for error in validator.iter_errors(item))


def _explain(error: ValidationError, file: str, prefix: str) -> Finding:
    """A jsonschema error as one sentence at the JSON path of the member concerned."""
    path: list[str | int] = list(error.absolute_path)
    message = error.message
    instance = error.instance if isinstance(error.instance, Mapping) else {}
    # jsonschema types these as "maybe unset"; for the validators below they are always set
    schema: Mapping[str, Json] = error.schema if isinstance(error.schema, Mapping) else {}
    if error.validator == "required" and isinstance(error.validator_value, list):
        path += [name for name in error.validator_value if name not in instance][:1]
    elif error.validator == "additionalProperties":
        declared = schema.get("properties", {})
        patterns = schema.get("patternProperties", {})
        path += [
            name
            for name in instance
            if name not in declared and not any(re.search(p, name) for p in patterns)
        ][:1]
    elif (
        error.validator == "not"
        and isinstance(error.validator_value, Mapping)
        and set(error.validator_value) == {"required"}
    ):
        forbidden = [name for name in error.validator_value["required"] if name in instance]
        path += forbidden[:1]
        message = (
            f"{', '.join(map(repr, forbidden))} must not be present in this item "
            "(forbidden by the schema's if/then/else rule)"
        )
    custom = schema.get("x-error")
    if isinstance(custom, Mapping):
        custom = custom.get(error.validator)
    if custom:
        count = len(error.instance) if isinstance(error.instance, list | dict | str) else 0
        message = custom.format(value=error.instance, count=count)
    return Finding.at_path(file, _jsonpath(prefix, path),
                           message if message.endswith(".") else f"{message}.")


_PLAIN_MEMBER = re.compile(r"[A-Za-z_$][A-Za-z0-9_$-]*")


def _jsonpath(prefix: str, parts: Iterable[str | int]) -> str:
    out = prefix
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_MEMBER.fullmatch(part):
            out += f".{part}"
        else:
            out += "[" + json.dumps(part) + "]"
    return out


def _declared_type(schema: JsonObject, node: Json) -> tuple[Json, Json]:
    """(type, contentEncoding) of a property, following local $refs."""
    for _ in range(16):
        if not isinstance(node, dict):
            return None, None
        ref = node.get("$ref")
        if "type" in node or not isinstance(ref, str) or not ref.startswith("#/"):
            return node.get("type"), node.get("contentEncoding")
        node = schema
        for token in ref[2:].split("/"):
            token = token.replace("~1", "/").replace("~0", "~")
            node = node.get(token) if isinstance(node, dict) else None
    return None, None


def _attribute_type(schema: JsonObject, node: Json) -> str | None:
    """DynamoDB key type (S, N, B) of a property, or None if it cannot be a key."""
    declared, encoding = _declared_type(schema, node)
    if declared == "string":
        return "B" if encoding == "base64" else "S"
    return "N" if declared in ("number", "integer") else None
