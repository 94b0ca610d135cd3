"""Run one operation over several components at once, with live progress and a summary.

Terraform output never reaches the terminal while running: each component writes its own log,
and a failure's diagnostics are printed once, after the summary.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

from rich.console import Console
from rich.live import Live
from rich.table import Table

from bbws_infra.core import tables
from bbws_infra.core.errors import OperationError
from bbws_infra.core.paths import file_lock, work_dir
from bbws_infra.core.registry import Named
from bbws_infra.engine import interrupts, terraform
from bbws_infra.plans.operations import Outcome

# What run() works on: components, modules, anything with a name.
N = TypeVar("N", bound=Named)


class TargetLost(OperationError):
    """The target stopped answering mid-run (the sandbox emulator died): every other
    component is stopped too, and the failure is reported once."""


class Stopped(OperationError):
    """Not run, or stopped, because another component lost the target or Ctrl-C came."""


@dataclass
class Row(Generic[N]):
    item: N
    stage: str = "queued"
    started: float | None = None
    finished: float | None = None
    outcome: Outcome | None = None
    error: Exception | None = None
    stages: list[str] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        if self.started is None:
            return 0.0
        return (self.finished or time.monotonic()) - self.started

    @property
    def ok(self) -> bool:
        return self.error is None and self.outcome is not None


def max_workers(count: int, waiting: bool = False, cpu_only: bool = False) -> int:
    """How many of `count` items run at once. Plans are mostly CPU (schema loads, the graph
    walk) with some waiting on AWS between: one more than the cores keeps the cores busy (a dev
    plan of the five components on two cores: 4.4 s with two at once, 3.9 s with three, 4.2 s
    with four). `cpu_only` work (the static gates) runs one per core. Applies mostly wait (AWS
    creating a table, the provider waiting out a key's propagation: 5 s for the alerts
    component even on the sandbox), so with `waiting` all run at once and none queues behind
    another's wait. BBWS_MAX_WORKERS caps all three."""
    cores = os.cpu_count() or 1
    limit = int(os.environ.get("BBWS_MAX_WORKERS", "0")) \
        or (count if waiting else cores if cpu_only else cores + 1)
    return max(1, min(count, limit))


def _durations_file() -> Path:
    return work_dir() / "terraform" / "durations.json"


def _read_durations() -> dict[str, dict[str, float]]:
    try:
        found = json.loads(_durations_file().read_text())
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def start_order(kind: str, rows: list[Row[N]]) -> list[Row[N]]:
    """The rows in the order to start them: longest first, by how long each took the last
    time this kind of run finished it here (never timed: first, as it may be long). With more
    components than workers, the longest one no longer starts last and runs on alone while
    the other workers idle."""
    last = _read_durations().get(kind, {})
    return sorted(rows, key=lambda row: -last.get(row.item.name, float("inf")))


# The longest item's head start ends when it reaches its stage, or after this long at most
# (it may wait on a state lock another run holds).
HEAD_START_MAX_S = 3.0


def head_start_row(kind: str, ordered: list[Row[N]]) -> Row[N] | None:
    """The row that starts ahead of the others in a `head_start` run: the first in start
    order, when its last run of this kind here took longer than every other's (known for
    all of them); None otherwise."""
    last = _read_durations().get(kind, {})
    seconds = [last.get(row.item.name) for row in ordered]
    if len(ordered) < 2 or any(value is None for value in seconds):
        return None
    first, *others = (float(value or 0.0) for value in seconds)
    return ordered[0] if first > max(others) else None


def remember_durations(kind: str, rows: list[Row[N]]) -> None:
    """Keep the seconds of each row that finished well, for start_order."""
    done = {row.item.name: round(row.seconds, 2) for row in rows if row.ok}
    if not done:
        return
    path = _durations_file()
    with contextlib.suppress(OSError), file_lock(path.with_suffix(".lock")):
        found = _read_durations()
        found.setdefault(kind, {}).update(done)
        incoming = path.with_suffix(f".{os.getpid()}.tmp")
        incoming.write_text(json.dumps(found, indent=1, sort_keys=True))
        incoming.replace(path)


def _table(title: str, rows: list[Row[N]]) -> Table:
    table = tables.CopyableTable(title=title, title_justify="left")  # names never split
    for column in ("name", "status", "add", "change", "destroy", "seconds"):
        table.add_column(column, justify="left" if column in ("name", "status") else "right",
                         no_wrap=True)
    for row in rows:
        summary = row.outcome.summary if row.outcome else None
        if isinstance(row.error, Stopped):
            status = "[yellow]stopped[/yellow]" if row.started else "[yellow]not started[/yellow]"
        elif row.error is not None:
            status = f"[red]failed in {row.stage}[/red]"
        elif row.outcome is not None:
            note = row.outcome.note or ("changes" if summary and summary.has_changes
                                        else "no changes")
            status = f"[green]{note}[/green]"
        else:
            status = row.stage
        counts = ([str(summary.add), str(summary.change), str(summary.destroy)] if summary
                  else ["", "", ""])
        table.add_row(row.item.name, status, *counts, f"{row.seconds:.1f}")
    return table


def run(title: str, items: list[N], operation: Callable[[N, Callable[[str], None]], Outcome],
        console: Console | None = None, alive: Callable[[], bool] | None = None,
        timed_as: str | None = None, waiting: bool = False,
        head_start: str | None = None) -> list[Row[N]]:
    """Run operation(item, report) for each item (components, modules). One failure never stops
    the others, except when alive() says the target itself is gone: then the rest stop. With
    timed_as (the kind of run: plan, deploy...), items start longest first by their last run
    of that kind here (start_order), and this run's seconds are kept for the next. `waiting`:
    the operation mostly waits on AWS (max_workers). `head_start` (a stage): the item that took
    longest last time (head_start_row) starts alone, the others once it reports that stage,
    ends or has run HEAD_START_MAX_S, so its own start-up does not share the cores with
    theirs: its wait is the run's critical path."""
    console = console or Console()
    rows = [Row(item) for item in items]
    lock = threading.Lock()
    live_display = console.is_terminal
    abort = threading.Event()
    ordered = start_order(timed_as, rows) if timed_as else rows
    head = head_start_row(timed_as, ordered) if head_start and timed_as else None
    head_reached = threading.Event()

    def held_back(row: Row[N]) -> bool:
        """Wait for the head row's head start to end; whether this row must not start."""
        if head is not None and row is not head:
            deadline = time.monotonic() + HEAD_START_MAX_S
            while not head_reached.wait(0.05) and time.monotonic() < deadline:
                if abort.is_set() or interrupts.requested():
                    break
        return abort.is_set() or interrupts.requested()

    def work(row: Row[N]) -> None:
        def report(stage: str) -> None:
            with lock:
                row.stage = stage
                row.stages.append(stage)
            if row is head and stage == head_start:
                head_reached.set()
            if not live_display:
                console.print(f"[{row.item.name}] {stage}", highlight=False, markup=False)

        interrupts.checkpoint("next-component")
        if held_back(row):
            row.error = Stopped("not started")
            return
        row.started = time.monotonic()
        try:
            row.outcome = operation(row.item, report)
        except Exception as error:  # reported per component; the others go on
            row.error = error
            if alive is not None and not abort.is_set() and not alive():
                abort.set()
                row.error = TargetLost(str(error))
                terraform.stop_all(grace_s=5.0)
            elif abort.is_set() or interrupts.requested():
                row.error = Stopped(str(error))
        finally:
            row.finished = time.monotonic()
            if row is head:
                head_reached.set()

    executor = ThreadPoolExecutor(max_workers=max_workers(len(rows), waiting))
    futures: list[Future[None]] = []
    try:
        # Ctrl-C may come while submitting: keep what was submitted
        for row in ordered:
            futures.append(executor.submit(work, row))
        # Poll, never block: a SIGINT the kernel hands to a worker thread only raises
        # KeyboardInterrupt once the main thread runs Python again, and a plain wait on the
        # futures would not return until every component had finished.
        with (Live(_table(title, rows), console=console, refresh_per_second=8,
                   transient=True) if live_display else contextlib.nullcontext()) as live:
            while wait(futures, timeout=0.1).not_done:
                if live is not None:
                    live.update(_table(title, rows))
        for future in futures:
            future.result()
    except KeyboardInterrupt:
        # Stop queued work, then interrupt running Terraform so it releases its locks. Keep
        # at it until every worker is done: one may have been starting Terraform just as
        # Ctrl-C came, after the first stop_all looked. stop_all waits for what it signals,
        # so no Terraform gets a second SIGINT (which makes it abort without cleanup). Poll
        # Future.done(): wait() never counts a cancelled queued future as done.
        executor.shutdown(wait=False, cancel_futures=True)
        terraform.stop_all()
        while not all(future.done() for future in futures):
            time.sleep(0.1)
            terraform.stop_all()
        raise
    finally:
        executor.shutdown(wait=True)
    if timed_as:
        remember_durations(timed_as, rows)
    console.print(_table(title, rows))
    return rows


def report_failures(rows: list[Row[N]], console: Console, log_hint: Callable[[N], str]
                    ) -> int:
    """Print each failure once (message, Terraform's diagnostics, log path); exit code.
    Components that were only stopped because of another's failure print nothing more."""
    failed = [row for row in rows if not row.ok]
    for row in failed:
        if isinstance(row.error, (Stopped, TargetLost)):
            continue
        error = row.error
        console.rule(f"[red]{row.item.name}: failed in {row.stage}")
        console.print(str(error), highlight=False, markup=False)
        details = getattr(error, "details", "")
        if details:
            console.print(details, highlight=False, markup=False)
        console.print(f"full log: {log_hint(row.item)}", highlight=False)
    if not failed:
        return 0
    return max(getattr(row.error, "exit_code", OperationError.exit_code) for row in failed)
