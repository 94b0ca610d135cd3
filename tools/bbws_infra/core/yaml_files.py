"""Reading YAML and JSON input files with the line of every key, so that a broken file is an
InputFileError naming its path, a line where possible and one sentence (the usage files and the
price table of the cost estimate, the drift allowlist)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from bbws_infra.core.errors import InputFileError
from bbws_infra.core.paths import relative_name
from bbws_infra.core.untyped import Json, JsonPath


def _read(path: Path, rel: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InputFileError(rel, None, f"cannot be read ({error}).") from None


def _key_lines(node: yaml.Node, rel: str, path: JsonPath = ()) -> dict[JsonPath, int]:
    """Line of every mapping key by its path (keys as found). A key set twice is an error here
    because YAML loaders silently keep the last value."""
    lines: dict[JsonPath, int] = {path: node.start_mark.line + 1}
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                raise InputFileError(rel, line, "keys must be plain text.")
            key = key_node.value
            if key in seen:
                raise InputFileError(rel, line, f"sets {key} twice (first on line {seen[key]}).")
            seen[key] = line
            lines.update(_key_lines(value_node, rel, (*path, key)))
            lines[(*path, key)] = line
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines.update(_key_lines(item, rel, (*path, index)))
    return lines


def load_yaml(path: Path) -> tuple[Json, dict[JsonPath, int], str]:
    """The document, the line of each key path, and the file's repository-relative name."""
    rel = relative_name(path)
    text = _read(path, rel)
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise InputFileError(rel, None, "is empty.")
        lines = _key_lines(node, rel)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        problem = error.problem or error.context or "syntax error"
        hint = " (check the indentation)" if "block" in problem else ""
        raise InputFileError(rel, mark.line + 1 if mark else None,
                             f"is not valid YAML: {problem}{hint}.") from None
    except yaml.YAMLError as error:
        raise InputFileError(rel, None, f"is not valid YAML ({error}).") from None
    finally:
        loader.dispose()
    return data, lines, rel


def load_json(path: Path) -> tuple[Json, dict[JsonPath, int], str]:
    """Like load_yaml for JSON: values from the json module (exact JSON semantics), key lines
    from composing the same text as YAML (JSON as written here is also YAML)."""
    rel = relative_name(path)
    text = _read(path, rel)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise InputFileError(rel, error.lineno, f"is not valid JSON: {error.msg}.") from None
    try:
        # compose gives None only for an empty text, which json.loads refused above
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        lines = _key_lines(node, rel) if node is not None else {}
    except yaml.YAMLError:
        lines = {}
    return data, lines, rel
