"""The test session's order (tests/conftest.py): files start longest first by their measured
seconds (tests/support/file_seconds.json), each file's tests in their own order, and
`--record-file-seconds` writes what a run measured."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests import conftest


@dataclass
class FakeItem:
    nodeid: str


def test_the_measured_seconds_name_test_files_of_this_repository():
    measured = json.loads(conftest.FILE_SECONDS.read_text())
    assert measured and all(isinstance(s, float) and s >= 0 for s in measured.values())
    root = conftest.FILE_SECONDS.parents[2]
    assert all(p.startswith("tests/") and p.endswith(".py") for p in measured)
    # the longest files are measured (a file that is gone only costs its line)
    assert sum((root / p).exists() for p in measured) >= len(measured) * 0.9


def test_files_start_longest_first_and_keep_their_tests_order(monkeypatch, tmp_path: Path):
    seconds = tmp_path / "seconds.json"
    seconds.write_text(json.dumps({"tests/e2e/test_b.py": 300.0, "tests/unit/x/test_c.py": 5.0,
                                   "tests/e2e/test_a.py": 20.0}))
    monkeypatch.setattr(conftest, "FILE_SECONDS", seconds)
    items = [FakeItem(n) for n in (
        "tests/unit/x/test_c.py::one", "tests/e2e/test_a.py::one", "tests/e2e/test_a.py::two",
        "tests/unit/x/test_new.py::one", "tests/e2e/test_new.py::one", "tests/e2e/test_b.py::one",
        "tests/e2e/test_b.py::two[1]", "tests/e2e/test_b.py::two[0]")]
    conftest.pytest_collection_modifyitems(items)  # type: ignore[arg-type]
    assert [i.nodeid for i in items] == [
        "tests/e2e/test_b.py::one", "tests/e2e/test_b.py::two[1]", "tests/e2e/test_b.py::two[0]",
        # not measured yet: an end-to-end file is guessed as a typical one, a unit file short
        "tests/e2e/test_new.py::one",
        "tests/e2e/test_a.py::one", "tests/e2e/test_a.py::two",
        "tests/unit/x/test_c.py::one", "tests/unit/x/test_new.py::one"]


def test_xdist_keeps_the_order():
    config = SimpleNamespace(option=SimpleNamespace(loadscopereorder=True))
    conftest.pytest_configure(config)  # type: ignore[arg-type]
    assert config.option.loadscopereorder is False


def _session(record: bool, worker: bool = False) -> SimpleNamespace:
    config = SimpleNamespace(getoption=lambda name: record and name == "record_file_seconds")
    if worker:
        config.workerinput = {}
    return SimpleNamespace(config=config)


def test_record_file_seconds_writes_each_file_s_total_and_keeps_the_others(monkeypatch,
                                                                          tmp_path: Path):
    seconds = tmp_path / "seconds.json"
    seconds.write_text(json.dumps({"tests/e2e/test_a.py": 20.0, "tests/e2e/test_old.py": 9.0}))
    monkeypatch.setattr(conftest, "FILE_SECONDS", seconds)
    monkeypatch.setattr(conftest, "_seconds", type(conftest._seconds)(float))
    for nodeid, duration in (("tests/e2e/test_a.py::one", 30.04), ("tests/e2e/test_a.py::one", 1.0),
                             ("tests/e2e/test_a.py::two", 4.0), ("tests/unit/test_u.py::x", 0.25)):
        conftest.pytest_runtest_logreport(SimpleNamespace(  # type: ignore[arg-type]
            nodeid=nodeid, duration=duration))
    before = seconds.read_text()
    conftest.pytest_sessionfinish(_session(record=False))  # type: ignore[arg-type]
    conftest.pytest_sessionfinish(_session(record=True, worker=True))  # type: ignore[arg-type]
    assert seconds.read_text() == before  # not asked for, or an xdist worker: nothing written
    conftest.pytest_sessionfinish(_session(record=True))  # type: ignore[arg-type]
    assert json.loads(seconds.read_text()) == {
        "tests/e2e/test_a.py": 35.0, "tests/e2e/test_old.py": 9.0, "tests/unit/test_u.py": 0.2}


@pytest.mark.parametrize(("path", "expected"), [
    ("tests/e2e/test_a.py", 20.0), ("tests/e2e/test_unknown.py", conftest.UNMEASURED_E2E_SECONDS),
    ("tests/unit/core/test_unknown.py", conftest.UNMEASURED_UNIT_SECONDS)])
def test_expected_seconds(path: str, expected: float):
    assert conftest.expected_seconds(path, {"tests/e2e/test_a.py": 20.0}) == expected
