"""The command layer stays thin (issue 18): no bbws_infra module is imported under another
name (a command sharing a name with a module is no reason to rename it), every command module
stays under a line budget, and every command takes keyword arguments only."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[3] / "tools" / "bbws_infra"
COMMANDS = PACKAGE / "commands"
LINE_BUDGET = 300


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def _renamed_modules(path: Path) -> list[str]:
    """`import bbws_infra.x as y` and `from bbws_infra.x import module as y`; a renamed
    function or constant (`from bbws_infra.x import NAME as OTHER`) is no module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [f"{node.lineno}: import {a.name} as {a.asname}" for a in node.names
                      if a.asname and a.name.split(".")[0] == "bbws_infra"]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and (
                node.module.split(".")[0] == "bbws_infra"):
            found += [f"{node.lineno}: from {node.module} import {a.name} as {a.asname}"
                      for a in node.names
                      if a.asname and a.asname != a.name
                      and _is_module(f"{node.module}.{a.name}")]
    return found


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")),
                         ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_project_module_is_imported_under_another_name(path: Path):
    assert _renamed_modules(path) == []


def test_a_renamed_module_import_is_found(tmp_path: Path):
    module = tmp_path / "m.py"
    module.write_text("import bbws_infra.release.verify as checking\n"
                      "from bbws_infra.release import drift as drifting\n"
                      "from bbws_infra.state.ledger import PREFIX as LEDGER_PREFIX\n"
                      "from bbws_infra.release import deploy\n")
    assert _renamed_modules(module) == [
        "1: import bbws_infra.release.verify as checking",
        "2: from bbws_infra.release import drift as drifting"]


@pytest.mark.parametrize("path", sorted(COMMANDS.glob("*.py")), ids=lambda p: p.name)
def test_each_command_module_stays_under_its_line_budget(path: Path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= LINE_BUDGET, f"{path.name}: {lines} lines; move logic down a layer"


def _commands() -> list[tuple[str, object]]:
    found = []
    for path in sorted(COMMANDS.glob("*.py")):
        if path.stem in ("__init__", "common"):
            continue
        module = importlib.import_module(f"bbws_infra.commands.{path.stem}")
        found += [(f"{path.stem}.{name}", function)
                  for name, function in vars(module).items()
                  if inspect.isfunction(function) and not name.startswith("_")
                  and getattr(function, "__wrapped__", None) is not None
                  and function.__module__ == module.__name__]
    return found


def test_every_command_takes_keyword_arguments_only():
    commands = _commands()
    assert len(commands) > 30
    positional = [name for name, function in commands
                  for p in inspect.signature(function).parameters.values()
                  if p.kind is not inspect.Parameter.KEYWORD_ONLY]
    assert positional == [], "tasks.py passes every argument by name"


def test_tasks_call_the_command_modules_only():
    """tasks.py is flags and help: it imports every command module (and no common part)."""
    tree = ast.parse((PACKAGE.parents[1] / "tasks.py").read_text(encoding="utf-8"))
    imported = {a.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                and node.module == "bbws_infra.commands" for a in node.names}
    assert imported == {p.stem for p in COMMANDS.glob("*.py")} - {"__init__", "common"}
