"""Diagram bookkeeping without a browser: every Mermaid block is named once, its SVG exists and
was made from its current source, and the tables diagram shows exactly the schemas' indexes.
(Mermaid itself parses and renders them in tests/e2e/test_docs.py and the diagrams gate.)"""

from __future__ import annotations

import json
import re
from pathlib import Path

from bbws_infra.core.paths import REPO_ROOT
from bbws_infra.docs import diagrams

FLOW = "flowchart LR\n    a --> b\n"


def _doc(root: Path, *blocks: tuple[str | None, str]) -> Path:
    parts = ["# Doc\n"]
    for name, source in blocks:
        if name:
            parts.append(f"<!-- diagram: {name} -->")
        parts.append(f"```mermaid\n{source}```\n")
    path = root / "docs" / "doc.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts))
    return path


def _render_fake(root: Path) -> None:
    """What `invoke docs.render` writes, with a stand-in body (no browser here)."""
    for diagram in diagrams.diagrams(root):
        svg = diagram.svg(root)
        svg.parent.mkdir(parents=True, exist_ok=True)
        svg.write_text(diagram.stamp() + "<svg/>")


def test_blocks_are_found_with_their_names_and_lines(tmp_path: Path):
    _doc(tmp_path, ("first", FLOW), (None, FLOW))
    found = [(d.name, d.file, d.line) for d in diagrams.diagrams(tmp_path)]
    assert found == [("first", "docs/doc.md", 4), (None, "docs/doc.md", 9)]


def test_naming_problems_are_found(tmp_path: Path):
    _doc(tmp_path, (None, FLOW), ("Bad_Name", FLOW), ("twice", FLOW), ("twice", "graph TD\n"))
    messages = [(p.line, p.message) for p in diagrams.problems(tmp_path)]
    assert messages[0] == (3, "a Mermaid block needs its name on the line above it: "
                              "<!-- diagram: some-name -->.")
    assert messages[1][1].startswith("diagram name 'Bad_Name' must be lower-case")
    assert messages[2][1] == "docs/diagrams/twice.svg is missing; run: invoke docs.render"
    assert messages[3][1] == "diagram name 'twice' is already used at docs/doc.md:15."


def test_a_changed_block_makes_its_svg_stale_and_a_removed_one_leaves_an_orphan(tmp_path: Path):
    _doc(tmp_path, ("one", FLOW), ("two", FLOW))
    _render_fake(tmp_path)
    assert diagrams.problems(tmp_path) == []
    _doc(tmp_path, ("one", FLOW.replace("b", "c")))
    messages = [(p.file, p.message) for p in diagrams.problems(tmp_path)]
    assert messages == [
        ("docs/doc.md", "docs/diagrams/one.svg was made from another version of this block; "
                        "run: invoke docs.render"),
        ("docs/diagrams/two.svg", "no Mermaid block of this name is left in the docs; run: "
                                  "invoke docs.render"),
    ]


def test_render_refuses_unnamed_blocks_before_starting_any_tool(tmp_path: Path, monkeypatch):
    _doc(tmp_path, (None, FLOW))
    monkeypatch.setattr(diagrams, "render", lambda *a: (_ for _ in ()).throw(AssertionError))
    try:
        diagrams.render_docs(tmp_path)
    except diagrams.UserError as error:
        assert "Nothing was rendered: docs/doc.md:3: a Mermaid block needs its name" in str(error)
    else:
        raise AssertionError("render_docs accepted an unnamed block")
    assert not (tmp_path / "docs" / "diagrams").exists()


def test_render_leaves_current_svgs_alone(tmp_path: Path, monkeypatch):
    _doc(tmp_path, ("one", FLOW), ("two", FLOW))
    _render_fake(tmp_path)
    _doc(tmp_path, ("one", FLOW), ("two", "graph TD\n    x --> y\n"))
    rendered = []

    def fake_render(items, out_dir):
        rendered.extend(d.name for d in items)
        out_dir.mkdir(parents=True, exist_ok=True)
        paths = []
        for index, _ in enumerate(items):
            paths.append(out_dir / f"{index}.svg")
            paths[-1].write_text("<svg>new</svg>")
        return paths, []

    monkeypatch.setattr(diagrams, "render", fake_render)
    monkeypatch.setenv("BBWS_WORK_DIR", str(tmp_path / "work"))
    written = diagrams.render_docs(tmp_path)
    assert rendered == ["two"] and [p.name for p in written] == ["two.svg"]
    assert diagrams.problems(tmp_path) == []


def test_the_repository_diagrams_are_named_and_their_svgs_current():
    problems = diagrams.problems(REPO_ROOT)
    assert problems == [], "\n".join(map(str, problems))
    names = {d.name for d in diagrams.diagrams(REPO_ROOT)}
    assert {"tables", "template-bucket", "pipeline", "promotion", "rollback",
            "deployment-sequence"} <= names


def test_the_tables_diagram_shows_exactly_the_schemas_indexes():
    indexes = set()
    for schema in REPO_ROOT.glob("dynamodb/*/*.schema.json"):
        definition = json.loads(schema.read_text())["x-dynamodb"]
        indexes |= {i["name"] for i in definition.get("globalSecondaryIndexes", [])}
    (tables,) = [d for d in diagrams.diagrams(REPO_ROOT) if d.name == "tables"]
    assert set(re.findall(r"\b(\w+Index)\b", tables.source)) == indexes
