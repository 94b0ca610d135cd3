"""Reading HCL files the task runner needs before Terraform runs: envs/<env>.tfvars (checked
against the variables every root declares) and envs/providers.tf.

A broken file must give its path, a line and one sentence before anything starts, never a
parser traceback and never a Terraform error minutes later.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import hcl2
from lark.exceptions import UnexpectedInput

from bbws_infra.errors import InputFileError

_SIMPLE_TYPES = {"string": str, "number": (int, float), "bool": bool}
_REGEX_RULE = re.compile(r'^\$\{can\(regex\("((?:[^"\\]|\\.)*)", var\.(\w+)\)\)\}$')


def _rel(path: Path, repo_root: Path) -> str:
    try:
        return path.relative_to(repo_root).as_posix()
    except ValueError:
        return path.as_posix()


def parse_file(path: Path, repo_root: Path) -> dict[str, Any]:
    """python-hcl2's raw document; a syntax error becomes an InputFileError with its line."""
    rel = _rel(path, repo_root)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InputFileError(rel, None, f"cannot be read ({error}).") from None
    try:
        return hcl2.loads(text)
    except UnexpectedInput as error:
        lines = text.splitlines()
        source = lines[error.line - 1].strip() if 0 < error.line <= len(lines) else ""
        near = f" near `{source}`" if source else " at the end of the file"
        raise InputFileError(rel, error.line, f"is not valid HCL{near} (column "
                             f"{error.column}); every line must read `name = value`.") from None
    except Exception as error:  # the parser's other failures are syntax errors too
        raise InputFileError(rel, None, f"is not valid HCL ({error}).") from None


def plain(value: Any) -> Any:
    """python-hcl2 keeps string quotes and marks blocks: undo both."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return json.loads(value)
    if isinstance(value, dict):
        return {k.strip('"'): plain(v) for k, v in value.items() if not k.startswith("__")}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def line_of(path: Path, name: str) -> int | None:
    """The line where `name =` is set in an HCL file."""
    pattern = re.compile(rf"^\s*{re.escape(name)}\s*=")
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if pattern.match(line):
            return number
    return None


def declared_variables(variables_tf: Path, repo_root: Path) -> dict[str, dict[str, Any]]:
    """name -> {type, required, regex rules} from a variables.tf."""
    declared: dict[str, dict[str, Any]] = {}
    for block in parse_file(variables_tf, repo_root).get("variable", []):
        for raw_name, body in block.items():
            name = raw_name.strip('"')
            rules = []
            for validation in body.get("validation", []):
                match = _REGEX_RULE.match(str(validation.get("condition", "")))
                if match and match.group(2) == name:
                    rules.append((json.loads(f'"{match.group(1)}"'),
                                  plain(validation.get("error_message", ""))))
            declared[name] = {"type": str(body.get("type", "any")), "required":
                              "default" not in body, "rules": rules}
    return declared


def _type_problem(expected: str, value: Any) -> str | None:
    if isinstance(value, str) and value.startswith("${"):
        return "must be a literal value (strings in double quotes), not an expression"
    kind = expected.removeprefix("${").removesuffix("}")
    if kind in _SIMPLE_TYPES:
        # bool is an int in Python; a number variable must not accept true.
        wrong_bool = isinstance(value, bool) and kind != "bool"
        if wrong_bool or not isinstance(value, _SIMPLE_TYPES[kind]):
            return f"must be a {kind}"
    is_string_map = isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
    if kind == "map(string)" and not is_string_map:
        return "must be a map of strings, e.g. { Owner = \"Tebogo\" }"
    return None


def load_tfvars(path: Path, variables_tf: Path, repo_root: Path) -> dict[str, Any]:
    """The values of a tfvars file, checked against the declared variables: syntax, unknown
    names, missing required ones, types and the declared regex rules."""
    rel = _rel(path, repo_root)
    values = plain(parse_file(path, repo_root))
    declared = declared_variables(variables_tf, repo_root)
    for name, value in values.items():
        line = line_of(path, name)
        if name not in declared:
            raise InputFileError(rel, line, f"sets {name}, which no root declares in "
                                 f"{_rel(variables_tf, repo_root)}; remove it or declare it.")
        problem = _type_problem(declared[name]["type"], value)
        if problem:
            raise InputFileError(rel, line, f"{name} {problem}.")
        for pattern, message in declared[name]["rules"]:
            if isinstance(value, str) and not re.search(pattern, value):
                raise InputFileError(rel, line, message or f"{name} is not valid.")
    missing = [n for n, d in declared.items() if d["required"] and n not in values]
    if missing:
        raise InputFileError(rel, None, f"lacks {', '.join(missing)}; every environment sets "
                             "them.")
    return values
