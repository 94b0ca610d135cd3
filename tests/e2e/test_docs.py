"""The docs stay true, with the real tools: Mermaid (its CLI driving the machine's Chromium)
rejects a broken diagram at its file and line, `invoke docs.render` writes stamped SVGs, and
every documented read-only command runs on the sandbox after a dev deploy. That Mermaid parses
every diagram of the repository's docs is the diagrams gate's pass in `invoke check` (nox's
check session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bbws_infra.core.errors import UserError
from bbws_infra.docs import diagrams, doc_commands
from tests.support.repo_copies import Copy, make_copy

pytestmark = pytest.mark.e2e

GOOD = "sequenceDiagram\n    participant A\n    A->>B: plan\n"
# An ER attribute may not be called PK (a key marker): a real mistake Mermaid rejects.
BROKEN = 'erDiagram\n    TENANT {\n        string PK "TENANT#id"\n    }\n'


def _write(root: Path, third: str) -> Path:
    doc = root / "docs" / "guide.md"
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text("# Guide\n\n<!-- diagram: first -->\n```mermaid\n" + GOOD + "```\n\n"
                   "<!-- diagram: second -->\n```mermaid\nflowchart LR\n    a --> b\n```\n\n"
                   "<!-- diagram: third -->\n```mermaid\n" + third + "```\n")
    return doc


def test_a_broken_diagram_is_rejected_at_its_line_and_nothing_is_rendered(
        tmp_path: Path, mermaid_cli: Path):
    root = tmp_path / "tree"
    _write(root, BROKEN)
    problems = diagrams.check(root)
    # The block opens on line 17; Mermaid's line 3 of it is the file's line 20.
    assert [(p.file, p.line) for p in problems] == [("docs/guide.md", 17)]
    assert problems[0].message.startswith("Mermaid rejects diagram third: Parse error on line "
                                          "20: Expecting 'ATTRIBUTE_WORD'")
    with pytest.raises(UserError, match="Nothing was rendered"):
        diagrams.render_docs(root)
    assert not (root / "docs" / "diagrams").exists()

    _write(root, BROKEN.replace("string PK", "string tenantPK PK"))
    written = diagrams.render_docs(root)
    assert sorted(p.name for p in written) == ["first.svg", "second.svg", "third.svg"]
    for svg in written:
        first_line, rest = svg.read_text().split("\n", 1)
        assert first_line.startswith(f'<!-- diagram "{svg.stem}" of docs/guide.md, source sha256')
        assert rest.startswith("<svg") and "</svg>" in rest
    assert diagrams.problems(root) == []
    assert diagrams.render_docs(root) == []  # current SVGs are left alone


@pytest.fixture(scope="module")
def copy(work: Path, tmp_path_factory: pytest.TempPathFactory):
    yield from make_copy("docs", work, tmp_path_factory)


def test_every_documented_read_only_command_runs_on_the_sandbox(copy: Copy):
    runnable = {}
    for command in doc_commands.commands(copy.root):
        if command.runnable:
            runnable.setdefault(command.words, command)
    assert len(runnable) >= 10, "the docs show fewer runnable examples than expected"
    copy.ok("plan", "--env", "dev")
    copy.ok("apply", "--env", "dev", "--confirm", "deploy-dev")
    failures = []
    for words, command in runnable.items():
        result = copy.invoke(*words)
        if result.returncode != 0:
            failures.append(f"{command.file}:{command.line}: {command.text} exited "
                            f"{result.returncode}: {(result.stderr or result.stdout)[-600:]}")
    assert failures == [], "\n".join(failures)


def test_a_browser_that_cannot_start_is_an_error_of_the_gate_not_a_diagram(
        tmp_path: Path, mermaid_cli: Path, monkeypatch: pytest.MonkeyPatch):
    from bbws_infra.gates import gates

    broken = tmp_path / "chromium"
    broken.write_text("#!/bin/sh\nexit 1\n")
    broken.chmod(0o755)
    monkeypatch.setenv(diagrams.BROWSER_VARIABLE, str(broken))
    result = gates.run_gate("diagrams")
    assert (result.status, result.findings) == ("error", [])
    assert result.note.startswith(f"Mermaid's CLI could not drive the browser {broken}")
    assert gates.exit_code([result]) == 1
