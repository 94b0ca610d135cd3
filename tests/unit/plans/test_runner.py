"""bbws_infra.plans.runner: one failure never stops the other components; a lost target stops
the rest and is reported once; Ctrl-C (interrupts.requested()) stops queued work. Plain Python
operations stand in for Terraform, so each rule is checked without a sandbox."""

from __future__ import annotations

import io
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from rich.console import Console

from bbws_infra.core.errors import OperationError, UserError
from bbws_infra.engine import interrupts, terraform
from bbws_infra.plans import runner
from bbws_infra.plans.operations import Outcome


@dataclass(frozen=True)
class Item:
    name: str


ITEMS = [Item("a"), Item("b"), Item("c"), Item("d")]


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """No interrupt recorded before or after the test; terraform.stop_all only recorded (no
    Terraform runs here); the calls to it are yielded (their grace_s)."""
    stops: list[float] = []
    monkeypatch.setattr(terraform, "stop_all", lambda grace_s=30.0: stops.append(grace_s))
    monkeypatch.delenv(interrupts.FAULT_ENV, raising=False)
    interrupts._requested.clear()
    interrupts._first.clear()
    yield stops
    interrupts._requested.clear()
    interrupts._first.clear()


def _console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=120, force_terminal=False), out


def _run(operation: Callable[[Item, Callable[[str], None]], Outcome], workers: int,
         monkeypatch: pytest.MonkeyPatch, alive: Callable[[], bool] | None = None
         ) -> tuple[dict[str, runner.Row[Item]], str]:
    monkeypatch.setenv("BBWS_MAX_WORKERS", str(workers))
    console, out = _console()
    rows = runner.run("test", ITEMS, operation, console=console, alive=alive)
    assert [r.item for r in rows] == ITEMS  # rows keep the order of the items
    return {r.item.name: r for r in rows}, out.getvalue()


@pytest.mark.parametrize("workers", [1, 2])
def test_a_failing_component_does_not_stop_the_others(monkeypatch, workers, clean):
    ran: list[str] = []

    def operation(item: Item, report: Callable[[str], None]) -> Outcome:
        report("plan")
        ran.append(item.name)
        if item.name == "b":
            raise UserError("b: broken input")
        return Outcome(note="done")

    rows, printed = _run(operation, workers, monkeypatch, alive=lambda: True)
    assert sorted(ran) == ["a", "b", "c", "d"]
    assert [n for n, r in rows.items() if r.ok] == ["a", "c", "d"]
    assert isinstance(rows["b"].error, UserError) and rows["b"].stage == "plan"
    assert clean == []  # nothing stopped
    # without a terminal, one line per stage and component, then the summary
    assert "[b] plan" in printed and "failed in plan" in printed
    console, out = _console()
    code = runner.report_failures(list(rows.values()), console, lambda item: f"{item.name}.log")
    assert code == UserError.exit_code
    assert out.getvalue().count("b: broken input") == 1
    assert "full log: b.log" in out.getvalue() and "a.log" not in out.getvalue()


def test_a_failure_while_the_target_answers_is_only_that_component_s(monkeypatch, clean):
    def operation(item: Item, report: Callable[[str], None]) -> Outcome:
        if item.name in ("a", "c"):
            raise OperationError(f"{item.name}: provider error")
        return Outcome()

    asked: list[str] = []
    rows, _ = _run(operation, 1, monkeypatch, alive=lambda: asked.append("?") or True)
    assert len(asked) == 2  # alive() is asked once per failure
    assert [n for n, r in rows.items() if not r.ok] == ["a", "c"]
    assert not any(isinstance(r.error, (runner.Stopped, runner.TargetLost))
                   for r in rows.values())
    assert clean == []


def test_when_the_target_dies_the_rest_stop_and_the_loss_is_reported_once(monkeypatch,
                                                                          clean):
    ran: list[str] = []

    def operation(item: Item, report: Callable[[str], None]) -> Outcome:
        ran.append(item.name)
        if item.name == "b":
            raise OperationError("connection refused")
        return Outcome()

    asked: list[str] = []
    rows, printed = _run(operation, 1, monkeypatch,
                         alive=lambda: asked.append("?") or False)
    assert ran == ["a", "b"]  # one worker: c and d were still queued
    assert rows["a"].ok
    assert isinstance(rows["b"].error, runner.TargetLost)
    assert str(rows["b"].error) == "connection refused"
    for name in ("c", "d"):
        assert isinstance(rows[name].error, runner.Stopped) and rows[name].started is None
    assert asked == ["?"] and clean == [5.0]  # running Terraform stopped once, 5 s grace
    assert printed.count("not started") == 2
    # the caller reports the lost target; report_failures adds nothing per component
    console, out = _console()
    code = runner.report_failures(list(rows.values()), console, lambda item: "log")
    assert out.getvalue() == "" and code == OperationError.exit_code


def test_a_second_failure_after_the_target_was_lost_is_only_stopped(monkeypatch, clean):
    """Two components running when the emulator dies: the first failure reports the loss, the
    other (failing a moment later, once Terraform was stopped) is only 'stopped'."""
    started = threading.Barrier(2, timeout=10)

    def operation(item: Item, report: Callable[[str], None]) -> Outcome:
        if item.name == "a":
            started.wait()
            raise OperationError("a: connection refused")
        if item.name == "b":
            started.wait()
            deadline = time.monotonic() + 10
            while not clean and time.monotonic() < deadline:  # until stop_all was called
                time.sleep(0.01)
            raise OperationError("b: interrupted")
        return Outcome()

    rows, _ = _run(operation, 2, monkeypatch, alive=lambda: False)
    assert isinstance(rows["a"].error, runner.TargetLost)
    assert isinstance(rows["b"].error, runner.Stopped) and rows["b"].started is not None
    assert all(isinstance(rows[n].error, runner.Stopped) and rows[n].started is None
               for n in ("c", "d"))
    assert clean == [5.0]
    lost = [r for r in rows.values() if isinstance(r.error, runner.TargetLost)]
    assert len(lost) == 1


def test_queued_work_does_not_start_once_an_interrupt_was_requested(monkeypatch, clean):
    ran: list[str] = []

    def operation(item: Item, report: Callable[[str], None]) -> Outcome:
        ran.append(item.name)
        interrupts._requested.set()  # as the handler records Ctrl-C
        raise OperationError("terraform plan failed (exit 1).")

    rows, _ = _run(operation, 1, monkeypatch)
    assert ran == ["a"]
    # the failure a Ctrl-C causes is reported as stopped, not as the component's own
    assert isinstance(rows["a"].error, runner.Stopped) and rows["a"].started is not None
    for name in ("b", "c", "d"):
        assert isinstance(rows[name].error, runner.Stopped) and rows[name].started is None
    console, out = _console()
    runner.report_failures(list(rows.values()), console, lambda item: "log")
    assert out.getvalue() == ""


def test_ctrl_c_stops_queued_work_and_running_terraform(monkeypatch, clean):
    """A real SIGINT under interrupts.handling(): run() re-raises KeyboardInterrupt after it
    cancelled what was queued and stopped running Terraform; nothing queued ever starts."""
    ran: list[str] = []
    release = threading.Event()

    def operation(item: Item, report: Callable[[str], None]) -> Outcome:
        ran.append(item.name)
        if item.name == "a":
            os.kill(os.getpid(), signal.SIGINT)
            interrupts._requested.wait(timeout=10)  # the handler ran in the main thread
            release.wait(timeout=10)  # Terraform still stopping
        return Outcome()

    monkeypatch.setenv("BBWS_MAX_WORKERS", "1")
    monkeypatch.setattr(terraform, "stop_all",
                        lambda grace_s=30.0: (clean.append(grace_s), release.set()))
    console, _ = _console()
    with interrupts.handling(), pytest.raises(KeyboardInterrupt):
        runner.run("test", ITEMS, operation, console=console)
    assert ran == ["a"]
    assert clean and interrupts.requested() and interrupts.exit_code() == 130


def test_plans_run_one_more_than_the_cores_gates_one_per_core_applies_all_at_once(
        monkeypatch):
    monkeypatch.delenv("BBWS_MAX_WORKERS", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert runner.max_workers(5) == 3
    assert runner.max_workers(2) == 2
    assert runner.max_workers(5, cpu_only=True) == 2
    assert runner.max_workers(5, waiting=True) == 5  # none queues behind another's wait
    assert runner.max_workers(1, waiting=True) == 1
    monkeypatch.setenv("BBWS_MAX_WORKERS", "4")  # the cap holds for all three
    assert (runner.max_workers(5), runner.max_workers(5, cpu_only=True),
            runner.max_workers(5, waiting=True)) == (4, 4, 4)

    started: list[float] = []
    gate = threading.Barrier(len(ITEMS), timeout=10)

    def operation(item: Item, report: Callable[[str], None]) -> Outcome:
        started.append(time.monotonic())
        gate.wait()  # returns only once every item runs at the same time
        return Outcome(note="applied")

    monkeypatch.delenv("BBWS_MAX_WORKERS")
    console, _ = _console()
    rows = runner.run("apply", ITEMS, operation, console=console, waiting=True)
    assert all(row.ok for row in rows) and len(started) == len(ITEMS)
