"""DynamoDB's answers in the sandbox, written as moto writes them, without moto's cost per value.

moto writes every answer by walking botocore's model of the operation's output, and finds each
member of each structure by trying a list of aliases on the Python value. For DynamoDB that walk
reaches every AttributeValue of every item ({"S": ...}, {"N": ...}, {"M": {...}}, ...), a
structure of ten members, so each attribute costs some thirty look-ups: over half of the
server's time in a migration's Scan pages and UpdateItem answers went there.

An AttributeValue that moto's conversion (dynamo_to_dict) produced is a dict with exactly one of
the ten member names, holding a str (S, N), bytes (B), a bool (BOOL, NULL), a list of those
(SS, NS, BS), a dict or a list of AttributeValues (M, L). For those, the member's alias look-ups
find just that key (no alias of another member is one of the ten names), so the walk's result
is the same dict with blobs base64-encoded, which is what is written here directly. Anything
else (another shape, another value, a picker with aliases or transformers of its own) takes
moto's walk, unchanged.
"""

from __future__ import annotations

from collections.abc import Callable

from botocore.model import Shape
from moto.core.serialize import (
    DEFAULT_ALIAS_PROVIDERS,
    BaseJSONSerializer,
    XFormedAttributePicker,
)

from bbws_infra.core.untyped import Json, JsonObject

SHAPE = "AttributeValue"
SERVICE = "dynamodb"
_TEXT = ("S", "N")
_FLAGS = ("BOOL", "NULL")
_TEXT_SETS = ("SS", "NS")

_original_structure = BaseJSONSerializer._serialize_type_structure


def plain(value: Json, base64: Callable[[str | bytes], str]) -> JsonObject | None:
    """The AttributeValue `value` as moto's walk writes it, or None when moto's walk must
    decide (a value of another form)."""
    if type(value) is not dict or len(value) != 1:
        return None
    ((name, inner),) = value.items()
    if name in _TEXT:
        return {name: inner} if type(inner) is str else None
    if name in _FLAGS:
        return {name: inner} if type(inner) is bool else None
    if name == "B":
        return {name: base64(inner)} if type(inner) in (bytes, str) else None
    if name in _TEXT_SETS:
        ok = type(inner) is list and all(type(text) is str for text in inner)
        return {name: list(inner)} if ok else None
    if name == "BS":
        ok = type(inner) is list and all(type(blob) in (bytes, str) for blob in inner)
        return {name: [base64(blob) for blob in inner]} if ok else None
    if name == "M" and type(inner) is dict:
        written: JsonObject = {}
        for key, member in inner.items():
            member_written = plain(member, base64) if type(key) is str else None
            if member_written is None:
                return None
            written[key] = member_written
        return {name: written}
    if name == "L" and type(inner) is list:
        listed = [plain(member, base64) for member in inner]
        return None if any(member is None for member in listed) else {name: listed}
    return None


def _moto_s_picker(serializer: BaseJSONSerializer) -> bool:
    """Whether values are picked as moto picks them for every answer: the default aliases, no
    response transformers."""
    picker = serializer._value_picker
    return (type(picker) is XFormedAttributePicker
            and picker.alias_providers is DEFAULT_ALIAS_PROVIDERS
            and not picker.response_transformers)


def serialize_structure(self: BaseJSONSerializer, serialized: JsonObject, value: Json,
                        shape: Shape, key: str) -> None:
    if (key and shape.name == SHAPE and self.service_model.service_name == SERVICE
            and _moto_s_picker(self)):
        written = plain(value, self._base64)
        if written is not None:
            serialized[self.get_serialized_name(shape, key)] = written
            return
    _original_structure(self, serialized, value, shape, key)


def apply() -> None:
    """Write DynamoDB's AttributeValues directly from now on (idempotent; this process only)."""
    BaseJSONSerializer._serialize_type_structure = serialize_structure  # type: ignore[method-assign,assignment]


def is_applied() -> bool:
    return BaseJSONSerializer._serialize_type_structure is serialize_structure


def remove() -> None:
    """moto's own walk again (the unit tests compare the two in one process)."""
    BaseJSONSerializer._serialize_type_structure = _original_structure  # type: ignore[method-assign]
