"""The usage file of an environment (envs/<env>.usage.yml, infracost's format): loading and
validating it, and the usage of one resource address.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from bbws_infra.core.errors import InputFileError
from bbws_infra.core.paths import REPO_ROOT
from bbws_infra.core.untyped import Json, JsonPath
from bbws_infra.core.yaml_files import load_yaml
from bbws_infra.gates.cost_table import USAGE_KEYS, _mapping, _number, _resource_type, _top_level

# --- Usage file ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Usage:
    """An environment's usage file: per-type defaults and per-address values, keys flattened."""

    path: str
    defaults: dict[str, dict[str, float]]
    resources: dict[str, dict[str, float]]

    def for_resource(self, address: str, resource_type: str) -> dict[str, float]:
        """The type's defaults overridden key by key by the entry matching the address (exact,
        or with [*] standing for any instance key, as infracost allows)."""
        values = dict(self.defaults.get(resource_type, {}))
        for pattern in self.matching(address):
            values.update(self.resources[pattern])
        return values

    def matching(self, address: str) -> list[str]:
        found = [p for p in self.resources if "[*]" in p and _wildcard(p).fullmatch(address)]
        return found + ([address] if address in self.resources else [])


def _wildcard(pattern: str) -> re.Pattern[str]:
    return re.compile(r'\[[^\]]*\]'.join(re.escape(part) for part in pattern.split("[*]")))


def _usage_values(raw: Json, resource_type: str, rel: str, lines: dict[JsonPath, int],
                  path: JsonPath) -> dict[str, float]:
    # An empty entry is allowed: infracost's --sync-usage-file writes them commented out.
    allowed = USAGE_KEYS[resource_type]
    groups = {key.split(".")[0] for key in allowed if "." in key}
    values: dict[str, float] = {}
    for key, value in _mapping(raw or {}, rel, lines.get(path), f"{path[-1]}").items():
        line = lines.get((*path, key))
        if key in groups:
            for sub, sub_value in _mapping(value or {}, rel, line, f"{key}").items():
                flat = f"{key}.{sub}"
                sub_line = lines.get((*path, key, sub))
                if flat not in allowed:
                    raise InputFileError(rel, sub_line, _unknown(flat, resource_type, allowed))
                values[flat] = _number(sub_value, rel, sub_line, flat)
        elif key in allowed:
            values[key] = _number(value, rel, line, key)
        else:
            raise InputFileError(rel, line, _unknown(str(key), resource_type, allowed))
    return values


def _unknown(key: str, resource_type: str, allowed: frozenset[str]) -> str:
    return (f"{key} is not a usage key the bbws price table knows for {resource_type}; "
            f"use one of {', '.join(sorted(allowed))}.")


def usage_path(env_name: str) -> Path:
    """envs/<env>.usage.yml"""
    return REPO_ROOT / "envs" / f"{env_name}.usage.yml"


def load_usage(path: Path) -> Usage:
    """Read and validate a usage file (infracost's format, version 0.1)."""
    data, lines, rel = load_yaml(path)
    top = _top_level(data, rel, lines, "usage-file",
                     ("version", "resource_type_default_usage", "resource_usage"))
    if str(top.get("version")) not in ("0.1", "v0.1"):
        raise InputFileError(rel, lines.get(("version",), 1),
                             f"version must be 0.1 (infracost's usage-file format), "
                             f"not {top.get('version')!r}.")
    defaults: dict[str, dict[str, float]] = {}
    section = "resource_type_default_usage"
    for rtype, raw in _mapping(top.get(section) or {}, rel, lines.get((section,)),
                               section).items():
        if rtype not in USAGE_KEYS:
            raise InputFileError(rel, lines.get((section, rtype)), _unpriced_type(rtype))
        defaults[rtype] = _usage_values(raw, rtype, rel, lines, (section, rtype))
    resources: dict[str, dict[str, float]] = {}
    section = "resource_usage"
    for address, raw in _mapping(top.get(section) or {}, rel, lines.get((section,)),
                                 section).items():
        rtype = _resource_type(str(address))
        if rtype not in USAGE_KEYS:
            raise InputFileError(rel, lines.get((section, address)), _unpriced_type(rtype or
                                                                                    address))
        resources[str(address)] = _usage_values(raw, rtype, rel, lines, (section, address))
    return Usage(rel, defaults, resources)


def _unpriced_type(rtype: str) -> str:
    return (f"{rtype} has no usage-based price in the bbws price table; usage can be given "
            f"for {', '.join(sorted(USAGE_KEYS))}.")
