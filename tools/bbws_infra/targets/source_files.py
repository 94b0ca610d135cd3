"""What of a source tree may reach an environment: the files git tracks, never an ignored one.

The clean-tree check (`git status`) does not see ignored files (`.gitignore`,
`.git/info/exclude`, a global excludes file), so anything staged or fingerprinted must come
from the same listing git vouches for: the tracked files, plus, in the first environment only,
untracked files that are not ignored (which make the tree dirty, and the bundle says so). A
symbolic link is followed only to a file that is itself on that list, so nothing outside the
repository (or ignored inside it) can ride in through a link. A tree that is no git checkout
has nothing to vouch for it: every file counts, and it is always dirty.
"""

from __future__ import annotations

import os
from pathlib import Path

from bbws_infra.core import git
from bbws_infra.core.errors import UserError


def listed(source: Path, with_untracked: bool) -> set[str] | None:
    """Repository-relative paths git lists (tracked; with_untracked: also untracked files that
    are not ignored); None when source is no git checkout."""
    options = ["--cached", *(["--others", "--exclude-standard"] if with_untracked else [])]
    return git.ls_files(source, *options)


def files(source: Path, folders: tuple[str, ...], with_untracked: bool) -> dict[str, Path]:
    """Relative path -> the real file whose bytes it holds, for every listed file under
    `folders`; a UserError for a link that leads outside what is listed."""
    names = listed(source, with_untracked)
    if names is None:  # no git: every file, links followed as they are
        return {p.relative_to(source).as_posix(): p for folder in folders
                for p in sorted((source / folder).rglob("*"))
                if p.is_file() and "__pycache__" not in p.parts}
    chosen = {}
    for name in sorted(names):
        if name.split("/", 1)[0] not in folders:
            continue
        path = source / name
        if not os.path.lexists(path):
            continue  # deleted in the working tree, not yet in the index
        chosen[name] = _followed(source, name, names) if path.is_symlink() else path
    return chosen


def _followed(source: Path, name: str, names: set[str]) -> Path:
    """Where a listed link leads, when that is itself a listed file."""
    root = source.resolve()
    target = (source / name).resolve()
    try:
        relative = target.relative_to(root).as_posix()
    except ValueError:
        relative = None
    if relative is None or relative not in names or not target.is_file():
        where = "outside the repository" if relative is None else \
            f"to {relative}, which git does not track"
        raise UserError(f"{name} is a link {where} ({os.readlink(source / name)}); only "
                        "files the repository holds reach an environment; nothing was "
                        "started.")
    return target
