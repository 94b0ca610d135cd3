"""`invoke check` and `invoke gate`: a gate that writes into the repository fails the run,
naming what changed, even when every gate passed (CI's check session runs this guard)."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest

from bbws_infra.commands import checks
from bbws_infra.core import git
from bbws_infra.gates import gates
from bbws_infra.gates.results import GateResult


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "main.tf").write_text("# tracked\n")
    (root / "notes.md").write_text("# dirty before the gates\n")
    (root / ".gitignore").write_text("build/\n")
    for args in (("init", "-q"), ("add", "main.tf", ".gitignore"), ("commit", "-q", "-m", "1")):
        git.run(*args, cwd=root, identity=git.TEST_IDENTITY, check=True)
    monkeypatch.setattr(git, "worktree_changes", functools.partial(git.worktree_changes, root))
    return root


def _passing_gates(monkeypatch: pytest.MonkeyPatch, write=lambda: None) -> None:
    def run_check(names=None, root=None) -> list[GateResult]:
        write()
        return [GateResult(name="fmt", ok=True, status="passed", blocking=True, findings=[],
                           seconds=0.1)]

    monkeypatch.setattr(gates, "run_check", run_check)
    monkeypatch.setattr(gates, "run_gate", lambda name, root=None: run_check()[0])


def test_gates_that_leave_the_repository_alone_pass(repo, monkeypatch, capsys):
    _passing_gates(monkeypatch, write=lambda: (repo / "build").mkdir())  # ignored: work dir
    assert checks.check(as_json=True) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True


@pytest.mark.parametrize("written", ["main.tf", "new.txt", "notes.md"])
def test_a_gate_that_writes_into_the_repository_fails_the_run(repo, monkeypatch, capsys,
                                                               written):
    _passing_gates(monkeypatch, write=lambda: (repo / written).write_text("rewritten by a gate"))
    assert checks.check() == 1
    assert checks.gate(name="fmt") == 1
    err = " ".join(capsys.readouterr().err.split())
    assert (f"error: the repository's files changed while the gates ran ({written}): a gate "
            "must write only under the work directory") in err
