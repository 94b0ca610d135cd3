"""The package's folders are layered one way (README "How it fits together", docs/architecture.md
"Where each part lives"): every module lives in one of the folders below, and a folder imports
only itself and folders lower in LAYERS. Every import counts: at module level, inside a
function, or under TYPE_CHECKING."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[3] / "tools" / "bbws_infra"

# Lowest first: a folder may import only the folders before it (and itself).
LAYERS = [
    "core",
    "engine",
    "inputs",
    "docs",
    "state",
    "targets",
    "migrations",
    "plans",
    "release",
    "pipeline",
    "gates",
    "report",
    "bench",
    "commands",
]


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _part(path: Path) -> str | None:
    """The folder a module lives in; None for the package's own __init__.py."""
    relative = path.relative_to(PACKAGE)
    return relative.parts[0] if len(relative.parts) > 1 else None


def _imported_parts(path: Path, root: Path = PACKAGE) -> set[tuple[str, int]]:
    """(folder, line) of every bbws_infra import the module makes; a folder the code names
    that is no folder of the package comes back as written, for the test to refuse."""
    relative = path.relative_to(root).with_suffix("")
    package = ["bbws_infra", *relative.parts[:-1]]  # where a relative import starts
    found: set[tuple[str, int]] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name.split(".") for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = [*base, *(node.module.split(".") if node.module else [])]
            else:
                module = (node.module or "").split(".")
            # `from bbws_infra import x` names the folder x itself
            targets = ([[*module, alias.name] for alias in node.names] if len(module) == 1
                       else [module])
        else:
            continue
        for target in targets:
            if target[0] == "bbws_infra":
                found.add((target[1] if len(target) > 1 else "bbws_infra", node.lineno))
    return found


def test_the_layers_are_the_folders():
    folders = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert sorted(folders) == sorted(LAYERS), "every folder has its place in LAYERS"
    assert len(set(LAYERS)) == len(LAYERS)


def test_every_module_lives_in_a_folder():
    loose = [p.name for p in _modules() if _part(p) is None and p.name != "__init__.py"]
    assert loose == [], "a module belongs in the folder of the part it serves"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_only_go_down(path):
    own = _part(path)
    if own is None:  # bbws_infra/__init__.py: imports nothing of the package
        assert _imported_parts(path) == set()
        return
    wrong = []
    for part, line in sorted(_imported_parts(path)):
        if part not in LAYERS:
            wrong.append(f"line {line}: bbws_infra.{part} is no folder of the package")
        elif LAYERS.index(part) > LAYERS.index(own):
            wrong.append(f"line {line}: {own} imports {part}, which stands above it")
    assert wrong == []


def test_the_folders_import_each_other_in_no_circle():
    needs: dict[str, set[str]] = {part: set() for part in LAYERS}
    for path in _modules():
        own = _part(path)
        if own is not None:
            needs[own] |= {p for p, _ in _imported_parts(path) if p in LAYERS and p != own}
    # peel off the folders that need nothing left; whatever stays is a circle
    left = dict(needs)
    while ready := [part for part, wants in left.items() if not wants & left.keys()]:
        for part in ready:
            del left[part]
    assert left == {}


def test_the_check_sees_a_wrong_way_import(tmp_path):
    """The checks above would pass on a package they cannot read: a known upward import, a
    relative one and one under TYPE_CHECKING must each be found."""
    fake = tmp_path / "bbws_infra"
    (fake / "core").mkdir(parents=True)
    (fake / "core" / "__init__.py").write_text("")
    module = fake / "core" / "x.py"
    module.write_text("from typing import TYPE_CHECKING\n"
                      "from bbws_infra.core import errors\n"
                      "from ..plans import runner\n"
                      "if TYPE_CHECKING:\n"
                      "    from bbws_infra import release\n")
    assert _imported_parts(module, fake) == {("core", 2), ("plans", 3), ("release", 5)}
