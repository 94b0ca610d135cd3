"""Where things live: the repository (read-only at run time) and the ignored work directory."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def work_dir() -> Path:
    """Run-time data (sandbox record, Terraform data, plans, logs). BBWS_WORK_DIR overrides it."""
    override = os.environ.get("BBWS_WORK_DIR")
    return Path(override).resolve() if override else REPO_ROOT / "build"
