"""The rules a schema file is checked against: the checked string formats, the JSON Schema
meta-schema and the x-dynamodb member's own schema (limits of DynamoDB included).
"""

from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator, FormatChecker

from bbws_infra.core.untyped import JsonObject

DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
MAX_GSIS = 20
MAX_PROJECTED_ATTRIBUTES = 100  # nonKeyAttributes summed over all secondary indexes
CHECKED_FORMATS = ("uuid", "email", "date", "date-time", "uri")


# --- formats -------------------------------------------------------------------------------

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s<>\"{}|\\^`]+")
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


def _is_email(value: object) -> bool:
    return not isinstance(value, str) or bool(_EMAIL.fullmatch(value))


def _is_uri(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _URI.fullmatch(value):
        return False
    parts = urlsplit(value)
    return parts.scheme.lower() not in {"http", "https"} or bool(parts.hostname)


def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    return bool(_DATE_TIME.fullmatch(value)) and bool(datetime.fromisoformat(value.upper()))


def format_checker() -> FormatChecker:
    """jsonschema's checker, with a real email check and fallbacks for optional packages."""
    checker = FormatChecker()
    checker.checks("email")(_is_email)  # jsonschema only looks for an "@"
    if "uri" not in checker.checkers:  # needs rfc3987, which we do not depend on
        checker.checks("uri")(_is_uri)
    if "date-time" not in checker.checkers:  # needs rfc3339-validator
        checker.checks("date-time", raises=ValueError)(_is_date_time)
    return checker


FORMAT_CHECKER = format_checker()


# --- the x-dynamodb member -----------------------------------------------------------------


def _name_schema(what: str) -> JsonObject:
    return {
        "type": "string",
        "pattern": r"^[A-Za-z0-9_.-]{3,255}$",
        "x-error": f"{what} {{value!r}} must be 3-255 characters of letters, digits, '_', '.' "
        "and '-'.",
    }


_ATTRIBUTE_NAME = {
    "type": "string",
    "minLength": 1,
    "maxLength": 255,
    "x-error": "Attribute name {value!r} must be a string of 1-255 characters.",
}

# Shape consumed by Terraform; `x-error` holds the message for a failure of that subschema
# (a string, or a mapping from the failing keyword to a message).
XDYNAMODB_SCHEMA: JsonObject = {
    "$schema": DRAFT_2020_12,
    "type": "object",
    "required": ["tableName", "billingMode", "hashKey", "globalSecondaryIndexes"],
    "additionalProperties": False,
    "x-error": {"type": "x-dynamodb must be an object."},
    "properties": {
        "tableName": _name_schema("Table name"),
        "billingMode": {
            "const": "PAY_PER_REQUEST",
            "x-error": "billingMode must be PAY_PER_REQUEST (on-demand billing); "
            "the definition has no capacity settings.",
        },
        "hashKey": _ATTRIBUTE_NAME,
        "rangeKey": _ATTRIBUTE_NAME,
        "globalSecondaryIndexes": {
            "type": "array",
            "maxItems": MAX_GSIS,
            "x-error": {
                "type": "globalSecondaryIndexes must be a list.",
                "maxItems": f"A table can have at most {MAX_GSIS} global secondary indexes, "
                "this one declares {count}.",
            },
            "items": {
                "type": "object",
                "required": ["name", "hashKey", "projectionType"],
                "additionalProperties": False,
                "x-error": {"type": "Each global secondary index must be an object."},
                "properties": {
                    "name": _name_schema("Index name"),
                    "hashKey": _ATTRIBUTE_NAME,
                    "rangeKey": _ATTRIBUTE_NAME,
                    "projectionType": {
                        "enum": ["ALL", "KEYS_ONLY", "INCLUDE"],
                        "x-error": "Projection type {value!r} must be ALL, KEYS_ONLY or INCLUDE.",
                    },
                    "nonKeyAttributes": {
                        "type": "array",
                        "minItems": 1,
                        "uniqueItems": True,
                        "items": _ATTRIBUTE_NAME,
                        "x-error": "nonKeyAttributes must be a non-empty list of distinct "
                        "attribute names.",
                    },
                },
                "if": {
                    "properties": {"projectionType": {"const": "INCLUDE"}},
                    "required": ["projectionType"],
                },
                "then": {
                    "required": ["nonKeyAttributes"],
                    "x-error": "Projection type INCLUDE needs nonKeyAttributes, the attributes "
                    "copied into the index.",
                },
                "else": {
                    "not": {"required": ["nonKeyAttributes"]},
                    "x-error": "nonKeyAttributes is allowed only with projection type INCLUDE.",
                },
            },
        },
    },
}

META_VALIDATOR = Draft202012Validator(Draft202012Validator.META_SCHEMA)
XDYNAMODB_VALIDATOR = Draft202012Validator(XDYNAMODB_SCHEMA)
