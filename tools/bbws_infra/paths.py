"""Where things live: the repository (read-only at run time) and the ignored work directory."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from collections.abc import Iterable, Iterator
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


def relative_name(path: Path, root: Path = REPO_ROOT) -> str:
    """How messages name a file: relative to root when it lies inside (also through links),
    otherwise as given."""
    for candidate, base in ((path, root), (path.resolve(), root.resolve())):
        with contextlib.suppress(ValueError):
            return candidate.relative_to(base).as_posix()
    return path.as_posix()


def files_digest(files: Iterable[Path], base: Path, *extra: bytes) -> str:
    """sha256 over `extra`, then each file's path (relative to base) and bytes: the
    fingerprints that decide whether init, validate or a reviewed plan is still current."""
    digest = hashlib.sha256()
    for part in extra:
        digest.update(part + b"\0")
    for path in files:
        digest.update(path.relative_to(base).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()
