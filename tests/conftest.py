"""Shared fixtures: every test session gets its own work directory and sandbox. The helpers
the tests call live in tests/support/."""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.work_dirs import borrow_tool, fresh_work_dir, stop_sandbox

# How long each test file took (seconds, all its tests with their fixtures, one worker):
# files start longest first, so the workers finish together instead of one running a long
# file alone at the end. Refreshed with `pytest --record-file-seconds ...`.
FILE_SECONDS = Path(__file__).parent / "support" / "file_seconds.json"
# A file not measured yet: an end-to-end file is guessed as long as a typical one (it deploys
# on a sandbox of its own), a unit file as short.
UNMEASURED_E2E_SECONDS = 60.0
UNMEASURED_UNIT_SECONDS = 1.0


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--record-file-seconds", action="store_true",
                     help=f"write each file's measured seconds into {FILE_SECONDS.name} "
                          "(files not run keep theirs)")


def pytest_configure(config: pytest.Config) -> None:
    # xdist's loadfile would hand out the files with the most tests first (mostly unit files),
    # leaving the long end-to-end files for the end: keep the order of the collection below
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


def _file(nodeid: str) -> str:
    return nodeid.split("::")[0]


def expected_seconds(path: str, measured: dict[str, float]) -> float:
    if path in measured:
        return measured[path]
    return UNMEASURED_E2E_SECONDS if path.startswith("tests/e2e/") else UNMEASURED_UNIT_SECONDS


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    measured = json.loads(FILE_SECONDS.read_text())
    # a stable sort: each file's tests keep their order, files of equal length theirs
    items.sort(key=lambda item: -expected_seconds(_file(item.nodeid), measured))


_seconds: defaultdict[str, float] = defaultdict(float)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _seconds[_file(report.nodeid)] += report.duration  # setup, call and teardown


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    if not config.getoption("record_file_seconds") or hasattr(config, "workerinput"):
        return  # an xdist worker: the controller sees every worker's reports and writes
    measured = {**json.loads(FILE_SECONDS.read_text()),
                **{path: round(seconds, 1) for path, seconds in _seconds.items()}}
    FILE_SECONDS.write_text(json.dumps(dict(sorted(measured.items())), indent=1) + "\n")


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
