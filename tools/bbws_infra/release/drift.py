"""Drift report: what changed in AWS outside Terraform, from a refresh-only plan.

The caller runs `terraform plan -refresh-only -detailed-exitcode -lock=false -out=<plan>` and
`terraform show -json <plan>` per component; this module reads that JSON's `resource_drift`
list, sets aside differences accepted in envs/drift-allowlist.yml (each with its reason), and
prints the rest. Exit code 2 means drift nobody has accepted.

Allowlist format (validated before anything is compared; a broken file is an InputFileError
naming the line):

    accepted:
      - component: templates                # a folder under dynamodb/ or s3/
        address: aws_s3_bucket_object.template["welcome.html"]   # as Terraform prints it
        attributes: [etag]                  # optional; left out = any attribute, or deletion
        env: dev                            # optional; default "*" (quoted: YAML reads * as
                                            # an alias), meaning every environment
        reason: Why this difference is accepted.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from bbws_infra.core.errors import InputFileError
from bbws_infra.core.paths import REPO_ROOT
from bbws_infra.core.registry import COMPONENTS, PROMOTION_ORDER
from bbws_infra.core.untyped import Json, JsonObject, JsonPath
from bbws_infra.core.yaml_files import load_yaml

ALLOWLIST_PATH = REPO_ROOT / "envs" / "drift-allowlist.yml"

ANY_ENV = "*"
CHANGED = "changed"
DELETED = "deleted"
ABSENT_TEXT = "(absent)"
SENSITIVE_TEXT = "(sensitive)"
_VALUE_WIDTH = 60

_ENTRY_KEYS = ("component", "address", "attributes", "env", "reason")
_REQUIRED_KEYS = ("component", "address", "reason")

# Attribute paths as drifts() writes them: names joined by ".", list indexes as [0], and map
# keys that are not plain names (tag keys such as "kubernetes.io/x") as ["key"].
_NAME = r"[A-Za-z_][A-Za-z0-9_-]*"
_QUOTED = r'\["(?:[^"\\]|\\.)*"\]'
_PATH = re.compile(rf"(?:{_NAME}|{_QUOTED})(?:\.{_NAME}|\[\d+\]|{_QUOTED})*")
# A managed resource's address: data sources are read, never drift, so data.* is refused.
_KEY = rf'(?:\[\d+\]|{_QUOTED})'
_ADDRESS = re.compile(rf"(?:module\.{_NAME}{_KEY}?\.)*{_NAME}\.{_NAME}{_KEY}?")
_PLAIN_NAME = re.compile(_NAME)

_ABSENT = object()  # a key missing on one side, unlike a key set to null


@dataclass(frozen=True)
class AllowEntry:
    env: str  # an env name or "*"
    component: str
    address: str  # resource address exactly as Terraform prints it
    attributes: tuple[str, ...]  # empty = any attribute of that address
    reason: str
    line: int  # line in the file, for messages

    def covers(self, drift: Drift) -> bool:
        """Whether this entry accepts the whole drift: a deletion only when no attributes are
        named, a change only when every changed path lies under a named attribute."""
        if not self.attributes:
            return True
        if drift.action == DELETED:
            return False
        return all(any(_under(change.path, attr) for attr in self.attributes)
                   for change in drift.changes)


@dataclass(frozen=True)
class AttributeChange:
    path: str  # dotted path, list indexes as [0]: "point_in_time_recovery[0].enabled"
    before: str  # short JSON rendering; "(absent)" if missing, "(sensitive)" if marked so
    after: str
    # sha256 of the whole values (the renderings are cut at 60 characters), for fingerprints;
    # of the renderings only when sensitive: no digest of a secret is ever written anywhere
    values_sha256: str = field(default="", compare=False)


@dataclass(frozen=True)
class Drift:
    component: str
    address: str
    action: str  # "changed" or "deleted" (deleted outside Terraform)
    changes: tuple[AttributeChange, ...]
    allowed_by: AllowEntry | None = None  # set by classify when allowlisted


def _under(path: str, attribute: str) -> bool:
    """path is attribute or lies inside it ("tags" covers "tags.Owner", not "tags_all")."""
    return path == attribute or (path.startswith(attribute)
                                 and path[len(attribute)] in ".[")


# --- Allowlist -------------------------------------------------------------------------------


def load_allowlist(path: Path = ALLOWLIST_PATH) -> list[AllowEntry]:
    """Read and validate the allowlist; a missing file accepts nothing."""
    if not path.exists():
        return []
    data, lines, rel = load_yaml(path)
    if not isinstance(data, dict):
        raise InputFileError(rel, 1, "The file must be a mapping with one key, accepted.")
    for key in data:
        if key != "accepted":
            raise InputFileError(rel, lines.get((key,)),
                                 f"{key} is not an allowlist key; the only key is accepted.")
    if "accepted" not in data:
        raise InputFileError(rel, 1, "accepted is missing; write `accepted: []` for no "
                             "entries.")
    entries = data["accepted"]
    if not isinstance(entries, list):
        # `accepted:` with nothing under it is null: refused so an emptied list is explicit.
        raise InputFileError(rel, lines.get(("accepted",)), "accepted must be a list of "
                             "entries; write `accepted: []` for none.")
    return [_entry(raw, rel, lines, ("accepted", index)) for index, raw in enumerate(entries)]


def _entry(raw: Json, rel: str, lines: dict[JsonPath, int], path: JsonPath) -> AllowEntry:
    line = lines.get(path, 1)
    if not isinstance(raw, dict):
        raise InputFileError(rel, line, "Each accepted entry must be a mapping with "
                             "component, address and reason.")
    for key in raw:
        if key not in _ENTRY_KEYS:
            raise InputFileError(rel, lines.get((*path, key), line),
                                 f"{key} is not an allowlist entry key; use "
                                 f"{', '.join(_ENTRY_KEYS[:-1])} and {_ENTRY_KEYS[-1]}.")
    missing = [key for key in _REQUIRED_KEYS if key not in raw]
    if missing:
        raise InputFileError(rel, line, f"The entry lacks {' and '.join(missing)}.")

    def text(key: str) -> tuple[str, int]:
        value, key_line = raw[key], lines.get((*path, key), line)
        if not isinstance(value, str) or not value.strip():
            raise InputFileError(rel, key_line, f"{key} must be non-empty text, not "
                                 f"{'nothing' if value is None else repr(value)}.")
        return value.strip(), key_line

    component, component_line = text("component")
    if component not in COMPONENTS:
        raise InputFileError(rel, component_line, f"component {component!r} is not a "
                             f"component; use one of {', '.join(COMPONENTS)}.")
    address, address_line = text("address")
    if not _ADDRESS.fullmatch(address):
        raise InputFileError(rel, address_line, f"address {address!r} is not a managed "
                             "resource address such as module.table.aws_dynamodb_table.this.")
    reason = " ".join(text("reason")[0].split())  # one report line, even from a folded block
    env = ANY_ENV
    if "env" in raw:
        env, env_line = text("env")
        if env != ANY_ENV and env not in PROMOTION_ORDER:
            raise InputFileError(rel, env_line, f"env {env!r} is not an environment; use "
                                 f"{', '.join(PROMOTION_ORDER)} or \"*\" for all.")
    return AllowEntry(env, component, address, _attributes(raw, rel, lines, path), reason, line)


def _attributes(raw: JsonObject, rel: str, lines: dict[JsonPath, int], path: JsonPath
                ) -> tuple[str, ...]:
    if "attributes" not in raw:
        return ()
    value, line = raw["attributes"], lines.get((*path, "attributes"))
    # An empty list would read as "no attribute" but act as "any attribute": refused.
    if not isinstance(value, list) or not value:
        raise InputFileError(rel, line, "attributes must be a list of one or more attribute "
                             "paths; leave it out to accept any attribute.")
    found: list[str] = []
    for index, item in enumerate(value):
        item_line = lines.get((*path, "attributes", index), line)
        if not isinstance(item, str) or not _PATH.fullmatch(item):
            raise InputFileError(rel, item_line, f"attribute {item!r} is not an attribute "
                                 "path such as point_in_time_recovery[0].enabled or "
                                 "tags.Owner.")
        found.append(item)
    return tuple(found)


# --- Plan JSON -------------------------------------------------------------------------------


def drifts(component: str, plan_json: JsonObject) -> list[Drift]:
    """The component's resources changed or deleted outside Terraform, by address."""
    found: list[Drift] = []
    for entry in plan_json.get("resource_drift") or []:
        change = entry.get("change") or {}
        before, after = change.get("before"), change.get("after")
        if before == after:
            continue
        if change.get("actions") == ["delete"] or after is None:
            found.append(Drift(component, entry["address"], DELETED, ()))
            continue
        masks = (change.get("before_sensitive"), change.get("after_sensitive"))
        changes = tuple(_differences(before, after, (), masks))
        if changes:  # none left once unset-versus-zero noise is set aside
            found.append(Drift(component, entry["address"], CHANGED, changes))
    return sorted(found, key=lambda drift: drift.address)


def _differences(before: Json, after: Json, path: JsonPath, masks: tuple[Json, Json]
                 ) -> list[AttributeChange]:
    """Leaf-level differences; a list whose length changed is one change of the whole list
    (its indexes no longer pair up). Unset and the type's zero value are no difference: the
    provider writes null at create and reads back {}, [], 0 or "" on the next refresh."""
    if before == after or _unset_equal(before, after):
        return []
    if isinstance(before, dict) and isinstance(after, dict):
        found: list[AttributeChange] = []
        for key in sorted(before.keys() | after.keys()):
            found += _differences(before.get(key, _ABSENT), after.get(key, _ABSENT),
                                  (*path, key), masks)
        return found
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        found = []
        for index, (old, new) in enumerate(zip(before, after, strict=True)):
            found += _differences(old, new, (*path, index), masks)
        return found
    # Sensitive on either side hides both: a value marked on one side is the same secret.
    hidden = any(_marked(mask, path) for mask in masks)
    shown = (_render(before, hidden), _render(after, hidden))
    whole = shown if hidden else tuple(_full(value) for value in (before, after))
    return [AttributeChange(_path_text(path), *shown, values_sha256=hashlib.sha256(
        json.dumps(whole).encode()).hexdigest())]


def _unset_equal(before: Json, after: Json) -> bool:
    return (before is None and _zero(after)) or (after is None and _zero(before))


def _zero(value: Json) -> bool:
    return value in ({}, [], "", 0) and not isinstance(value, bool)


def _marked(mask: Json, path: JsonPath) -> bool:
    """Whether before_/after_sensitive marks the value at path or anything inside it."""
    for part in path:
        if mask is True:
            return True
        if isinstance(mask, dict):
            mask = mask.get(part)
        elif isinstance(mask, list) and isinstance(part, int) and part < len(mask):
            mask = mask[part]
        else:
            return False
    return _any_true(mask)


def _any_true(mask: Json) -> bool:
    if isinstance(mask, dict):
        return any(_any_true(value) for value in mask.values())
    if isinstance(mask, list):
        return any(_any_true(value) for value in mask)
    return mask is True


def _path_text(path: JsonPath) -> str:
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _PLAIN_NAME.fullmatch(part):
            text += f".{part}" if text else part
        else:
            text += f"[{json.dumps(part)}]"
    return text


def _full(value: Json) -> str:
    return ABSENT_TEXT if value is _ABSENT else json.dumps(value, sort_keys=True,
                                                           ensure_ascii=False)


def _render(value: Json, hidden: bool) -> str:
    if value is _ABSENT:
        return ABSENT_TEXT
    if hidden:
        return SENSITIVE_TEXT
    text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    return text if len(text) <= _VALUE_WIDTH else text[:_VALUE_WIDTH - 3] + "..."


# --- Report ----------------------------------------------------------------------------------


def classify(found: list[Drift], allowlist: list[AllowEntry], env_name: str) -> list[Drift]:
    """Copies of the drifts, each with allowed_by set to the first entry (in file order) that
    accepts it whole, or None. One entry must cover every changed path of an address."""
    result: list[Drift] = []
    for drift in found:
        match = next((entry for entry in allowlist
                      if entry.env in (ANY_ENV, env_name)
                      and entry.component == drift.component
                      and entry.address == drift.address
                      and entry.covers(drift)), None)
        result.append(replace(drift, allowed_by=match))
    return result


def report_text(env_name: str, found: list[Drift]) -> str:
    """One line per drifted address, its changed attributes under it, then a total."""
    if not found:
        return f"no drift in {env_name}\n"
    lines: list[str] = []
    for drift in sorted(found, key=lambda d: (d.component, d.address)):
        accepted = f"  [allowlisted: {drift.allowed_by.reason}]" if drift.allowed_by else ""
        lines.append(f"{drift.component}  {drift.address}  {drift.action}{accepted}")
        lines += [f"    {c.path}: {c.before} -> {c.after}" for c in drift.changes]
    allowed = sum(drift.allowed_by is not None for drift in found)
    lines.append(f"{len(found)} drifted address(es) in {env_name}, {allowed} allowlisted")
    return "\n".join(lines) + "\n"


def exit_code(found: list[Drift]) -> int:
    """0 when nothing drifted or every drift is allowlisted, 2 otherwise (as terraform plan
    -detailed-exitcode reports changes)."""
    return 2 if any(drift.allowed_by is None for drift in found) else 0
