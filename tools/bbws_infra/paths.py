"""Where things live: the repository (read-only at run time) and the ignored work directory."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def work_dir() -> Path:
    """Run-time data (sandbox record, Terraform data, plans, logs). BBWS_WORK_DIR overrides it."""
    override = os.environ.get("BBWS_WORK_DIR")
    return Path(override).resolve() if override else REPO_ROOT / "build"


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock shared by every process of this work directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
