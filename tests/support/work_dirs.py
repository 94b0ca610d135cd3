"""Work directories for tests: a fresh one with its own sandbox, tools borrowed from build/,
pointing this process at another one, and stopping its sandbox."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from bbws_infra.core.paths import REPO_ROOT


def fresh_work_dir(base: Path, shared: Path) -> Path:
    """A separate work directory (own sandbox) that borrows the warm provider cache."""
    base.mkdir(parents=True, exist_ok=True)
    cache = shared / "terraform" / "plugin-cache"
    cache.mkdir(parents=True, exist_ok=True)
    (base / "terraform").mkdir(exist_ok=True)
    (base / "terraform" / "plugin-cache").symlink_to(cache)
    return base


def borrow_tool(work: Path, name: str, marker: str, digest: str) -> Path:
    """Link <work>/tools/<name> to the copy `invoke check` built under build/tools/ when that one
    is current (CI runs the check first); otherwise the test builds its own on first use, as a
    fresh machine does."""
    shared = REPO_ROOT / "build" / "tools" / name
    target = work / "tools" / name
    current = shared / marker
    if not target.exists() and current.exists() and current.read_text().strip() == digest:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(shared)
    return target


@contextlib.contextmanager
def using_work_dir(path: Path) -> Iterator[Path]:
    """Point this process's bbws_infra at another work directory for a while."""
    previous = os.environ.get("BBWS_WORK_DIR")
    os.environ["BBWS_WORK_DIR"] = str(path)
    try:
        yield path
    finally:
        if previous is None:
            os.environ.pop("BBWS_WORK_DIR", None)
        else:
            os.environ["BBWS_WORK_DIR"] = previous


def stop_sandbox(work_dir: Path) -> None:
    from bbws_infra.targets import sandbox

    with using_work_dir(work_dir):
        sandbox.down()
