"""A throw-away copy of this repository (its own git history of one commit), for the benchmark
and the end-to-end tests that must commit, dirty or extend the tree without touching the real
one. The copy runs its own code: `python -m invoke ...` with cwd=copy and
PYTHONPATH=<copy>/tools, so its REPO_ROOT is the copy."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from bbws_infra.core.git import TEST_IDENTITY, ls_files, run
from bbws_infra.core.paths import REPO_ROOT


def git(copy: Path, *args: str) -> str:
    """Run git in the copy with a fixed identity; its stdout."""
    return run(*args, cwd=copy, identity=TEST_IDENTITY, check=True).stdout


def copy_repository(dest: Path, repo_root: Path = REPO_ROOT) -> Path:
    """Copy the tracked and not-ignored files (links stay links) into dest and commit them."""
    listed = ls_files(repo_root, "-co", "--exclude-standard")
    if listed is None:
        raise subprocess.CalledProcessError(128, ["git", "ls-files"])
    dest.mkdir(parents=True, exist_ok=True)
    for name in sorted(listed):
        source, target = repo_root / name, dest / name
        if not source.exists() and not source.is_symlink():
            continue  # deleted in the working tree but not yet in the index
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.symlink_to(os.readlink(source))
        else:
            shutil.copy2(source, target)
    git(dest, "init", "-q", "-b", "main")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "snapshot")
    return dest


def cli_env(copy: Path, work: Path, extra: dict[str, str | None] | None = None
            ) -> dict[str, str]:
    """Environment that runs the copy's own code with its own work directory."""
    merged = {**os.environ, "PYTHONPATH": str(copy / "tools"), "BBWS_WORK_DIR": str(work),
              **TEST_IDENTITY, **(extra or {})}
    return {k: v for k, v in merged.items() if v is not None}


def run_cli(copy: Path, work: Path, *args: str, extra: dict[str, str | None] | None = None,
            timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """`invoke <args>` exactly as a user in the copy would run it."""
    return subprocess.run([sys.executable, "-m", "invoke", *args], cwd=copy,
                          env=cli_env(copy, work, extra), capture_output=True, text=True,
                          timeout=timeout)
