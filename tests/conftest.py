"""Shared fixtures: every test session gets its own work directory and sandbox. The helpers
the tests call live in tests/support/."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.work_dirs import borrow_tool, fresh_work_dir, stop_sandbox

# The longest test files (minutes each in CI), started first so the two workers finish
# together instead of one running them alone at the end; every other file keeps its order.
SLOWEST_FIRST = ("tests/e2e/test_iam_flows.py", "tests/e2e/test_migrations.py",
                 "tests/e2e/test_release.py", "tests/e2e/test_rollback.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {path: position for position, path in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))


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
