"""Folders in the system's temporary directory that only this user can read (mode 0700), named
after the process that made them, so the folders of processes killed before they could remove
theirs (a signal, a crash) are found and removed by the next process that makes one.

Used for what must not sit where others, or anyone editing the work directory, can reach it:
the copy of a checked plan that Terraform applies, the provider's listening socket.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


def make(prefix: str) -> Path:
    """A new 0700 folder `<prefix><pid>-<random>`, after removing its prefix's litter."""
    sweep(prefix)
    return Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-"))


@contextlib.contextmanager
def private_folder(prefix: str) -> Iterator[Path]:
    """make(prefix), removed with its contents when the block ends."""
    folder = make(prefix)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def sweep(prefix: str) -> None:
    """Remove this user's folders of the prefix whose process is gone."""
    for folder in Path(tempfile.gettempdir()).glob(f"{prefix}*-*"):
        pid = folder.name[len(prefix):].split("-", 1)[0]
        try:
            if not pid.isdigit() or folder.stat().st_uid != os.getuid():
                continue
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            continue  # alive and someone else's, or gone meanwhile
