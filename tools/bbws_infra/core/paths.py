"""Where things live: the repository (read-only at run time) and the ignored work directory."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]


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


def install_once(target: Path, marker_name: str, digest: str, ready: Path, message: str,
                 build: Callable[[], None]) -> None:
    """A tool installed into `target` under the work directory on first use, and again when the
    digest of what it is built from changes (the marker file holds it). Concurrent callers wait
    for the first and reuse its work; a link to a shared copy is replaced, never built through.
    When build() raises, nothing is left behind, so the next run starts over."""
    marker = target / marker_name

    def current() -> bool:
        return marker.exists() and marker.read_text().strip() == digest and ready.exists()

    if current():
        return
    with file_lock(target.parent / f"{target.name}.lock"):
        if current():
            return
        print(message, file=sys.stderr, flush=True)
        if target.is_symlink():
            target.unlink()
        shutil.rmtree(target, ignore_errors=True)
        try:
            build()
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)
            raise
        marker.write_text(digest + "\n")


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
