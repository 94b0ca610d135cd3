"""runner.run with timed_as: components start longest first by their last run of that kind in
this work directory (never timed ones first), the rows keep the items' order, only runs that
finished well are remembered, and with head_start the longest one reaches its stage before
the others start."""

from __future__ import annotations

import io
import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from rich.console import Console

from bbws_infra.core.errors import OperationError
from bbws_infra.plans import runner
from bbws_infra.plans.operations import Outcome


@dataclass(frozen=True)
class Item:
    name: str


ITEMS = [Item("a"), Item("b"), Item("c"), Item("d")]


@pytest.fixture(autouse=True)
def own_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("BBWS_WORK_DIR", str(tmp_path))
    monkeypatch.setenv("BBWS_MAX_WORKERS", "1")  # one worker: the start order is the run order
    return tmp_path


def _run(timed_as: str | None, seconds: dict[str, float] | None = None,
         failing: str = "") -> tuple[list[str], list[runner.Row[Item]]]:
    started: list[str] = []
    lock = threading.Lock()

    def operation(item: Item, report: object) -> Outcome:
        with lock:
            started.append(item.name)
        if item.name == failing:
            raise OperationError("failed")
        return Outcome()

    console = Console(file=io.StringIO(), force_terminal=False)
    rows = runner.run("plan dev (sandbox)", ITEMS, operation, console, timed_as=timed_as)
    assert [r.item for r in rows] == ITEMS  # rows keep the order of the items
    if seconds:
        for row in rows:  # stand-in durations for the next run's order
            row.started, row.finished = 0.0, seconds[row.item.name]
        runner.remember_durations(timed_as or "", rows)
    return started, rows


def test_never_timed_items_start_in_their_own_order() -> None:
    assert _run("plan")[0] == ["a", "b", "c", "d"]


def test_the_longest_last_time_starts_first(own_work: Path) -> None:
    _run("plan", {"a": 1.0, "b": 4.0, "c": 2.0, "d": 3.0})
    assert _run("plan")[0] == ["b", "d", "c", "a"]
    assert _run("deploy")[0] == ["a", "b", "c", "d"]  # each kind of run has its own times
    assert (own_work / "terraform" / "durations.json").exists()


def test_an_item_never_timed_starts_before_the_timed_ones() -> None:
    _run("plan", {"a": 1.0, "b": 4.0, "c": 2.0, "d": 3.0})
    rows = [runner.Row(Item(name)) for name in ("a", "e", "b")]
    assert [r.item.name for r in runner.start_order("plan", rows)] == ["e", "b", "a"]


def test_a_failed_item_is_not_remembered(own_work: Path) -> None:
    _, rows = _run("plan", failing="b")
    assert not rows[1].ok
    found = json.loads((own_work / "terraform" / "durations.json").read_text())
    assert set(found["plan"]) == {"a", "c", "d"}


def test_without_timed_as_nothing_is_reordered_or_written(own_work: Path) -> None:
    (own_work / "terraform").mkdir()
    (own_work / "terraform" / "durations.json").write_text('{"plan": {"d": 9}}')
    assert _run(None)[0] == ["a", "b", "c", "d"]
    assert (own_work / "terraform" / "durations.json").read_text() == '{"plan": {"d": 9}}'


def test_an_unreadable_durations_file_means_no_order() -> None:
    runner._durations_file().parent.mkdir(parents=True, exist_ok=True)
    runner._durations_file().write_text("not json")
    assert _run("plan")[0] == ["a", "b", "c", "d"]


def _remember(kind: str, seconds: dict[str, float]) -> None:
    rows = [runner.Row(Item(name), started=0.0, finished=value, outcome=Outcome())
            for name, value in seconds.items()]
    runner.remember_durations(kind, rows)


def test_only_an_item_longer_than_every_other_last_time_gets_a_head_start() -> None:
    rows = [runner.Row(item) for item in ITEMS]
    assert runner.head_start_row("deploy", rows) is None  # never timed
    _remember("deploy", {"a": 1.0, "b": 6.0, "c": 2.0})
    # d never timed: it starts first and may be the longest
    assert runner.head_start_row("deploy", runner.start_order("deploy", rows)) is None
    _remember("deploy", {"d": 2.0})
    ordered = runner.start_order("deploy", rows)
    assert runner.head_start_row("deploy", ordered) is ordered[0]
    assert ordered[0].item.name == "b"
    _remember("deploy", {"a": 6.0})  # a tie: nobody is the critical path
    assert runner.head_start_row("deploy", runner.start_order("deploy", rows)) is None
    assert runner.head_start_row("deploy", rows[:1]) is None


def _head_start_run(monkeypatch: pytest.MonkeyPatch, head: str, behaviour: str
                    ) -> dict[str, float]:
    """Applies all at once with b the longest last time; b reports "apply" after 0.3 s
    ("reaches"), fails before it ("fails"), or never reports it ("hangs", 1 s). When each
    item started, from the run's start."""
    monkeypatch.delenv("BBWS_MAX_WORKERS", raising=False)
    monkeypatch.setattr(runner, "HEAD_START_MAX_S", 0.5)
    _remember("deploy", {"a": 1.0, "b": 6.0, "c": 2.0, "d": 2.0})
    began: dict[str, float] = {}
    origin = time.monotonic()

    def operation(item: Item, report) -> Outcome:
        began[item.name] = time.monotonic() - origin
        if item.name == head:
            report("show")
            time.sleep(0.3)
            if behaviour == "fails":
                raise OperationError("refused before its apply")
            if behaviour == "reaches":
                report("apply")
            time.sleep(1.0 if behaviour == "hangs" else 0.3)
        return Outcome(note="applied")

    console = Console(file=io.StringIO(), force_terminal=False)
    rows = runner.run("apply dev (sandbox)", ITEMS, operation, console, timed_as="deploy",
                      waiting=True, head_start="apply")
    assert all(row.ok for row in rows if row.item.name != head or behaviour != "fails")
    return began


def test_the_longest_item_reaches_its_stage_before_the_others_start(
        monkeypatch: pytest.MonkeyPatch) -> None:
    began = _head_start_run(monkeypatch, "b", "reaches")
    assert began["b"] < 0.1
    assert all(0.3 <= began[name] < 0.5 for name in "acd"), began


def test_a_head_start_ends_when_the_item_fails_or_takes_too_long(
        monkeypatch: pytest.MonkeyPatch) -> None:
    began = _head_start_run(monkeypatch, "b", "fails")
    assert all(0.3 <= began[name] < 0.5 for name in "acd"), began
    began = _head_start_run(monkeypatch, "b", "hangs")
    assert all(0.5 <= began[name] < 0.7 for name in "acd"), began


def test_without_head_start_every_apply_starts_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BBWS_MAX_WORKERS")
    _remember("deploy", {"a": 1.0, "b": 6.0, "c": 2.0, "d": 2.0})
    began: dict[str, float] = {}
    origin = time.monotonic()

    def operation(item: Item, report) -> Outcome:
        began[item.name] = time.monotonic() - origin
        time.sleep(0.2)
        return Outcome(note="applied")

    runner.run("apply", ITEMS, operation, Console(file=io.StringIO()), timed_as="deploy",
               waiting=True)
    assert max(began.values()) < 0.15, began
