"""Shared fixtures: every test session gets its own work directory and sandbox."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bbws_infra.paths import REPO_ROOT


@pytest.fixture(scope="session")
def work(tmp_path_factory: pytest.TempPathFactory):
    """The work directory of this test session (never the repository's build/)."""
    from bbws_infra import sandbox

    path = tmp_path_factory.mktemp("work")
    previous = os.environ.get("BBWS_WORK_DIR")
    os.environ["BBWS_WORK_DIR"] = str(path)
    yield path
    sandbox.down()
    if previous is None:
        os.environ.pop("BBWS_WORK_DIR", None)
    else:
        os.environ["BBWS_WORK_DIR"] = previous


def invoke(*args: str, env: dict[str, str | None] | None = None, timeout: float = 900
           ) -> subprocess.CompletedProcess:
    """Run the real CLI as a user would, from the repository root. A None value in env
    removes that variable."""
    merged = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "invoke", *args], cwd=REPO_ROOT,
                          env={k: v for k, v in merged.items() if v is not None},
                          capture_output=True, text=True, timeout=timeout)


def fresh_work_dir(base: Path, shared: Path) -> Path:
    """A separate work directory (own sandbox) that borrows the warm provider cache."""
    base.mkdir(parents=True, exist_ok=True)
    cache = shared / "terraform" / "plugin-cache"
    cache.mkdir(parents=True, exist_ok=True)
    (base / "terraform").mkdir(exist_ok=True)
    (base / "terraform" / "plugin-cache").symlink_to(cache)
    return base


def git_status() -> str:
    if not (REPO_ROOT / ".git").exists():
        return ""
    return subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"],
                          cwd=REPO_ROOT, capture_output=True, text=True).stdout
