"""The repository explains itself: no tracked file points to documents a person who clones it
does not have (the design notes and specification it was built from live outside it)."""

from __future__ import annotations

import re
import subprocess

from bbws_infra.core.paths import REPO_ROOT

# Built from parts so this file does not match itself.
OUTSIDE = re.compile("|".join([r"DESIGN" + r"\.md", r"\bseeds?\b", r"\.\./" + "shared"]),
                     re.IGNORECASE)


def test_no_tracked_file_points_outside_the_repository():
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True,
                           check=True).stdout.decode().split("\0")
    hits = []
    for name in filter(None, files):
        path = REPO_ROOT / name
        if not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            if OUTSIDE.search(line):
                hits.append(f"{name}:{number}: {line.strip()[:120]}")
    assert hits == [], "\n".join(hits)
