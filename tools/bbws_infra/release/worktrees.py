"""Commits other than the working tree's: resolving them, ordering them, and checking one out
into a clean worktree under the work directory. Promotion and verification plan or read exactly
what a commit says, and the user's own working tree is never touched."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from bbws_infra.core import git
from bbws_infra.core.errors import OperationError, UserError
from bbws_infra.core.paths import REPO_ROOT, file_lock, work_dir


def _git(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return git.run(*args, cwd=cwd or REPO_ROOT)


def resolve(ref: str) -> str:
    """The full sha of a commit this clone has; a UserError naming what to fetch otherwise."""
    found = git.resolve(ref, cwd=REPO_ROOT)
    if found is None:
        raise UserError(f"Commit {ref} is not in this clone; fetch it first (git fetch origin), "
                        "then run the command again; nothing was changed.")
    return found


def is_ancestor(older: str, newer: str) -> bool:
    """Whether `older` is `newer` or one of its ancestors (both must be in this clone)."""
    return git.is_ancestor(older, newer, cwd=REPO_ROOT)


def subject(commit: str) -> str:
    """The commit's one-line message, for tables; empty if unknown here."""
    shown = _git("log", "-1", "--format=%s", commit)
    return shown.stdout.strip() if shown.returncode == 0 else ""


def checkout(commit: str) -> Path:
    """A clean, detached worktree of `commit` under <work>/worktrees/<sha>; reused only while
    it holds exactly the commit (no change, no untracked and no ignored file: anyone who can
    write the work directory could otherwise slip an ignored override into a promotion),
    rebuilt otherwise."""
    sha = resolve(commit)
    path = work_dir() / "worktrees" / sha
    with file_lock(work_dir() / "worktrees" / ".lock"):
        if path.exists():
            head = _git("rev-parse", "HEAD", cwd=path)
            status = _git("status", "--porcelain", "--ignored", "--untracked-files=all",
                          cwd=path)
            if head.returncode == 0 and head.stdout.strip() == sha and status.returncode == 0 \
                    and not status.stdout.strip():
                return path
            shutil.rmtree(path)
        _git("worktree", "prune")  # forget worktrees whose work directory was deleted
        added = _git("worktree", "add", "--detach", "--force", str(path), sha)
        if added.returncode != 0:
            raise OperationError(f"Could not check out {sha[:12]} into {path}.",
                                 details=added.stderr.strip())
    return path
