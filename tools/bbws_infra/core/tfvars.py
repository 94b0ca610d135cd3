"""Reading HCL files the task runner needs before Terraform runs: envs/<env>.tfvars (checked
against the variables every root declares) and envs/providers.tf.

A broken file must give its path, a line and one sentence before anything starts, never a
parser traceback and never a Terraform error minutes later.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from pathlib import Path

import hcl2
from lark.exceptions import UnexpectedInput

from bbws_infra.core.errors import InputFileError
from bbws_infra.core.paths import relative_name
from bbws_infra.core.untyped import Json, JsonObject

_SIMPLE_TYPES: dict[str, type | tuple[type, ...]] = {
    "string": str, "number": (int, float), "bool": bool}
_REGEX_RULE = re.compile(r'^\$\{can\(regex\("((?:[^"\\]|\\.)*)", var\.(\w+)\)\)\}$')
_ONE_OF_RULE = re.compile(r'^\$\{contains\(\[(.*)\], var\.(\w+)\)\}$')
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_ASSIGNMENT = re.compile(r"\s*([A-Za-z_][\w-]*)\s*=(?!=)")



# python-hcl2's parser and transformer are shared and not safe to use from two threads at
# once (components run in threads): one parse at a time, or a document comes back mangled.
_parser_lock = threading.Lock()
# Each text parsed once per process (0.05-0.2 s each): the components' roots share most of
# their files (providers.tf, the table module call), and a command reads a root both when it
# stages it and when it runs Terraform in it. Keyed by the text itself, so an edit is a miss.
_parsed: dict[str, JsonObject] = {}


def parse_file(path: Path, repo_root: Path) -> JsonObject:
    """python-hcl2's raw document; a syntax error becomes an InputFileError with its line."""
    rel = relative_name(path, repo_root)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InputFileError(rel, None, f"cannot be read ({error}).") from None
    try:
        with _parser_lock:
            parsed = _parsed.get(text)
            if parsed is None:
                parsed = _parsed[text] = hcl2.loads(text)
            return copy.deepcopy(parsed)  # the caller's to change
    except UnexpectedInput as error:
        lines = text.splitlines()
        source = lines[error.line - 1].strip() if 0 < error.line <= len(lines) else ""
        near = f" near `{source}`" if source else " at the end of the file"
        # The hint fits a tfvars file only: providers.tf and variables.tf hold blocks.
        hint = "; every line must read `name = value`" if path.suffix == ".tfvars" else ""
        raise InputFileError(rel, error.line, f"is not valid HCL{near} (column "
                             f"{error.column}){hint}.") from None
    except Exception as error:  # the parser's other failures are syntax errors too
        raise InputFileError(rel, None, f"is not valid HCL ({error}).") from None


def plain(value: Json) -> Json:
    """python-hcl2 keeps string quotes and marks blocks: undo both."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return json.loads(value)
    if isinstance(value, dict):
        return {k.strip('"'): plain(v) for k, v in value.items() if not k.startswith("__")}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def assignments(path: Path) -> dict[str, list[int]]:
    """The lines of each top-level `name =` in an HCL file (keys inside maps and blocks do
    not count; strings and comments are skipped)."""
    found: dict[str, list[int]] = {}
    depth = 0
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        code = re.split(r"#|//", _STRING.sub('""', line), maxsplit=1)[0]
        match = _ASSIGNMENT.match(code)
        if depth == 0 and match:
            found.setdefault(match.group(1), []).append(number)
        depth += sum(code.count(c) for c in "{[(") - sum(code.count(c) for c in "}])")
    return found


def line_of(path: Path, name: str) -> int | None:
    """The line where `name =` is set (at the top level) in an HCL file."""
    return assignments(path).get(name, [None])[0]


def _unquoted(raw: Json) -> bool:
    """Whether a raw python-hcl2 value holds a bare word or an expression: python-hcl2 keeps
    the quotes of a string literal, so an unquoted string is `region = af-south-1`."""
    if isinstance(raw, str):
        return not raw.startswith('"')
    if isinstance(raw, dict):
        return any(_unquoted(v) for k, v in raw.items() if not k.startswith("__"))
    if isinstance(raw, list):
        return any(_unquoted(v) for v in raw)
    return False


def declared_variables(variables_tf: Path, repo_root: Path) -> dict[str, JsonObject]:
    """name -> {type, required, regex rules} from a variables.tf."""
    declared: dict[str, JsonObject] = {}
    for block in parse_file(variables_tf, repo_root).get("variable", []):
        for raw_name, body in block.items():
            name = raw_name.strip('"')
            rules = []
            for validation in body.get("validation", []):
                condition = str(validation.get("condition", ""))
                message = plain(validation.get("error_message", ""))
                match = _REGEX_RULE.match(condition)
                if match and match.group(2) == name:
                    rules.append(("regex", json.loads(f'"{match.group(1)}"'), message))
                match = _ONE_OF_RULE.match(condition)
                if match and match.group(2) == name:
                    rules.append(("one of", json.loads(f"[{match.group(1)}]"), message))
            declared[name] = {"type": str(body.get("type", "any")), "required":
                              "default" not in body, "rules": rules}
    return declared


def _type_problem(expected: str, value: Json) -> str | None:
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


def load_tfvars(path: Path, variables_tf: Path, repo_root: Path) -> JsonObject:
    """The values of a tfvars file, checked against the declared variables: syntax, names set
    twice, unknown names, unquoted strings, types, the declared regex and contains([...])
    rules, and missing required ones."""
    rel = relative_name(path, repo_root)
    raw = parse_file(path, repo_root)
    values: JsonObject = plain(raw)
    declared = declared_variables(variables_tf, repo_root)
    lines = assignments(path)
    for name, where in lines.items():
        if len(where) > 1:  # python-hcl2 keeps the last one; Terraform refuses the file
            raise InputFileError(rel, where[1], f"sets {name} again; line {where[0]} already "
                                 "sets it. Keep one of them.")
    for name, value in values.items():
        line = lines.get(name, [None])[0]
        if name not in declared:
            declaring = relative_name(variables_tf, repo_root)
            raise InputFileError(rel, line, f"sets {name}, which no root declares in "
                                 f"{declaring}; remove it or declare it.")
        problem = _type_problem(declared[name]["type"], value)
        if _unquoted(raw[name]):
            problem = "must be a literal value (strings in double quotes), not an expression"
        if problem:
            raise InputFileError(rel, line, f"{name} {problem}.")
        for kind, rule, message in declared[name]["rules"]:
            broken = (value not in rule if kind == "one of"
                      else isinstance(value, str) and not re.search(rule, value))
            if broken:
                raise InputFileError(rel, line, message or f"{name} is not valid.")
    missing = [n for n, d in declared.items() if d["required"] and n not in values]
    if missing:
        raise InputFileError(rel, None, f"lacks {', '.join(missing)}, which every environment "
                             "must set.")
    return values
