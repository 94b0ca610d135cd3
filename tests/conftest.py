"""Shared fixtures: every test session gets its own work directory and sandbox. The helpers
the tests call live in tests/support/."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.work_dirs import borrow_tool, fresh_work_dir, stop_sandbox


@pytest.fixture(scope="session")
def work(tmp_path_factory: pytest.TempPathFactory):
    """The work directory of this test session (never the repository's build/)."""
    from bbws_infra.targets import sandbox

    path = tmp_path_factory.mktemp("work")
    previous = os.environ.get("BBWS_WORK_DIR")
    os.environ["BBWS_WORK_DIR"] = str(path)
    yield path
    sandbox.down()
    if previous is None:
        os.environ.pop("BBWS_WORK_DIR", None)
    else:
        os.environ["BBWS_WORK_DIR"] = previous


@pytest.fixture(scope="session")
def mermaid_cli(work: Path) -> Path:
    """Mermaid's CLI for this session's work directory (borrowed when current)."""
    from bbws_infra.docs import diagrams

    return borrow_tool(work, "mermaid", ".package.sha256", diagrams._package_digest())


@pytest.fixture
def own_work(work: Path, tmp_path: Path) -> Iterator[Path]:
    """A fresh work directory for one test (its own sandbox, started on demand, and the
    session's warm provider cache); its sandbox is stopped afterwards."""
    path = fresh_work_dir(tmp_path / "own-work", work)
    yield path
    stop_sandbox(path)
