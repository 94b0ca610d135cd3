"""The real CLI run as a user runs it, and the repository's git status."""

from __future__ import annotations

import os
import subprocess
import sys

from bbws_infra.core.paths import REPO_ROOT


def invoke(*args: str, env: dict[str, str | None] | None = None, timeout: float = 900
           ) -> subprocess.CompletedProcess:
    """Run the real CLI as a user would, from the repository root. A None value in env
    removes that variable."""
    merged = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "invoke", *args], cwd=REPO_ROOT,
                          env={k: v for k, v in merged.items() if v is not None},
                          capture_output=True, text=True, timeout=timeout)


def git_status() -> str:
    if not (REPO_ROOT / ".git").exists():
        return ""
    return subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"],
                          cwd=REPO_ROOT, capture_output=True, text=True).stdout
