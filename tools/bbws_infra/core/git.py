"""Every git call of the task runner: one runner (optional cwd and fixed identity) and the few
queries the layers above ask (head and dirty flag, who, resolve, is_ancestor, ls-files, the
working tree's changes)."""

from __future__ import annotations

import getpass
import os
import re
import subprocess
from pathlib import Path

from bbws_infra.core.paths import REPO_ROOT

TEST_IDENTITY = {"GIT_AUTHOR_NAME": "bbws-test", "GIT_AUTHOR_EMAIL": "bbws-test@example.invalid",
                 "GIT_COMMITTER_NAME": "bbws-test",
                 "GIT_COMMITTER_EMAIL": "bbws-test@example.invalid"}


def run(*args: str, cwd: Path | None = None, identity: dict[str, str] | None = None,
        check: bool = False) -> subprocess.CompletedProcess[str]:
    """git with these arguments in cwd (default: the repository), text output captured; with
    identity, those GIT_AUTHOR_*/GIT_COMMITTER_* variables set; with check, raise
    CalledProcessError on a non-zero exit. OSError when git is missing."""
    env = {**os.environ, **identity} if identity else None
    return subprocess.run(["git", *args], cwd=cwd or REPO_ROOT, env=env, check=check,
                          capture_output=True, text=True)


def head_and_dirty(repo_root: Path = REPO_ROOT) -> tuple[str, bool]:
    """(HEAD commit, whether the working tree has uncommitted changes); ("", True) outside a
    git checkout."""
    try:
        commit = run("rev-parse", "HEAD", cwd=repo_root, check=True).stdout.strip()
        status = run("status", "--porcelain", "--untracked-files=normal", cwd=repo_root,
                     check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "", True
    return commit, bool(status.strip())


def who() -> str:
    """The GitHub actor in a workflow, otherwise the git identity, otherwise the OS user."""
    actor = os.environ.get("GITHUB_ACTOR")
    if actor:
        return f"{actor} (GitHub Actions)"
    try:
        ident = run("var", "GIT_AUTHOR_IDENT").stdout
    except OSError:
        ident = ""
    person = re.match(r"(.*?>)", ident)  # "Name <email> 1700000000 +0000"
    return person.group(1) if person else getpass.getuser()


def resolve(ref: str, cwd: Path | None = None) -> str | None:
    """The full sha of a commit this clone has, None when it has none by that name."""
    found = run("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", cwd=cwd)
    return found.stdout.strip() if found.returncode == 0 else None


def is_ancestor(older: str, newer: str, cwd: Path | None = None) -> bool:
    """Whether `older` is `newer` or one of its ancestors (both must be in this clone)."""
    return run("merge-base", "--is-ancestor", older, newer, cwd=cwd).returncode == 0


def ls_files(source: Path, *options: str) -> set[str] | None:
    """Repository-relative paths `git ls-files -z <options>` lists in source; None when source
    is no git checkout."""
    try:
        found = subprocess.run(["git", "ls-files", "-z", *options], cwd=source, check=True,
                               capture_output=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return {name for name in found.decode().split("\0") if name}


FileMark = tuple[str, int, int] | None  # git's status letters, mtime (ns) and size; None: gone


def worktree_changes(repo_root: Path = REPO_ROOT) -> dict[str, FileMark] | None:
    """Each path git reports changed or untracked (ignored files are not), with its status and
    its file's mtime and size, so a second write to an already changed file shows too; None
    outside a git checkout."""
    try:
        listed = run("status", "--porcelain=v1", "-z", "--untracked-files=all", cwd=repo_root,
                     check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    changes: dict[str, FileMark] = {}
    entries = iter(listed.split("\0"))
    for entry in entries:
        if not entry:
            continue
        status, path = entry[:2], entry[3:]
        if "R" in status or "C" in status:
            next(entries, None)  # a rename's or copy's source path follows it
        try:
            stat = (repo_root / path).stat()
        except OSError:
            changes[path] = None
            continue
        changes[path] = (status, stat.st_mtime_ns, stat.st_size)
    return changes
