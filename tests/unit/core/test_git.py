"""The working tree's changes as `invoke check` compares them before and after its gates."""

from __future__ import annotations

import os
from pathlib import Path

from bbws_infra.core import git


def _repo(root: Path) -> Path:
    root.mkdir()
    (root / "kept.txt").write_text("one\n")
    (root / "moved.txt").write_text("two\n")
    (root / ".gitignore").write_text("ignored/\n")
    for args in (("init", "-q"), ("add", "-A"), ("commit", "-q", "-m", "first")):
        git.run(*args, cwd=root, identity=git.TEST_IDENTITY, check=True)
    return root


def test_a_clean_tree_has_no_changes_and_no_checkout_has_none(tmp_path: Path):
    repo = _repo(tmp_path / "repo")
    assert git.worktree_changes(repo) == {}
    (tmp_path / "plain").mkdir()
    assert git.worktree_changes(tmp_path / "plain") is None


def test_changes_name_every_path_with_its_status_and_ignored_files_are_left_out(tmp_path):
    repo = _repo(tmp_path / "repo")
    (repo / "kept.txt").write_text("one, edited\n")
    (repo / "new" / "deep").mkdir(parents=True)
    (repo / "new" / "deep" / "file.txt").write_text("new\n")
    (repo / "ignored").mkdir()
    (repo / "ignored" / "cache").write_text("runtime data\n")
    git.run("mv", "moved.txt", "renamed.txt", cwd=repo, check=True)
    changes = git.worktree_changes(repo)
    assert changes is not None
    assert {path: mark[0] for path, mark in changes.items() if mark} == {
        "kept.txt": " M", "new/deep/file.txt": "??", "renamed.txt": "R "}
    (repo / "kept.txt").unlink()
    assert git.worktree_changes(repo)["kept.txt"] is None  # type: ignore[index]


def test_a_second_write_to_a_changed_file_is_a_change(tmp_path: Path):
    repo = _repo(tmp_path / "repo")
    (repo / "kept.txt").write_text("edited\n")
    before = git.worktree_changes(repo)
    assert git.worktree_changes(repo) == before
    (repo / "kept.txt").write_text("edited again, longer\n")
    assert git.worktree_changes(repo) != before
    # same size, a later mtime
    mark = git.worktree_changes(repo)["kept.txt"]  # type: ignore[index]
    assert mark is not None
    os.utime(repo / "kept.txt", ns=(mark[1] + 10**9, mark[1] + 10**9))
    assert git.worktree_changes(repo)["kept.txt"] != mark  # type: ignore[index]
