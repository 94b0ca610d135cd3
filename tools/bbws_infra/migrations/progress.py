"""What a run has done so far, and the one progress line that shows it: items seen, changed,
skipped and failed, and an ETA from the table's ItemCount (DynamoDB refreshes that count about
every six hours, so the ETA is an estimate). In a terminal the line redraws itself; in a pipe or
a CI log it is printed every PLAIN_EVERY_S seconds instead."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

PLAIN_EVERY_S = 10.0
COUNTS = ("seen", "changed", "skipped", "failed", "conflicts")


@dataclass
class Counts:
    """Every item seen is exactly one of changed, skipped (nothing to do, or deleted meanwhile)
    or failed; conflicts counts the writes refused because the item had changed since it was
    read (each is read again and retried). Safe to add to from every segment's thread."""

    seen: int = 0
    changed: int = 0
    skipped: int = 0
    failed: int = 0
    conflicts: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **amounts: int) -> None:
        with self._lock:
            for name, amount in amounts.items():
                setattr(self, name, getattr(self, name) + amount)

    def as_dict(self) -> dict[str, int]:
        with self._lock:
            return {name: getattr(self, name) for name in COUNTS}

    def text(self) -> str:
        c = self.as_dict()
        return (f"{c['seen']:,} seen, {c['changed']:,} changed, {c['skipped']:,} skipped, "
                f"{c['failed']:,} failed")


class ProgressLine:
    """Call update() as often as convenient; it redraws at most a few times a second."""

    def __init__(self, console: Console, title: str, estimate: int) -> None:
        self.console, self.title, self.estimate = console, title, estimate
        self._started = time.monotonic()
        self._printed = self._started
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def update(self, counts: Counts) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=counts.seen,
                                  total=max(self.estimate, counts.seen) or None,
                                  counts=counts.text())
        elif time.monotonic() - self._printed >= PLAIN_EVERY_S:
            self._printed = time.monotonic()
            self.console.print(f"{self.title}: {counts.text()}{self.eta(counts)}",
                               markup=False)

    def eta(self, counts: Counts) -> str:
        """'; about N s left' from the pace so far and the estimated item count."""
        elapsed = time.monotonic() - self._started
        left = self.estimate - counts.seen
        if counts.seen <= 0 or left <= 0 or elapsed <= 0:
            return ""
        return f"; about {left / (counts.seen / elapsed):.0f} s left"

    @contextmanager
    def shown(self) -> Iterator[ProgressLine]:
        if not self.console.is_terminal:
            yield self
            return
        with Progress(TextColumn("{task.description}"), BarColumn(),
                      TextColumn("{task.fields[counts]}"), TimeRemainingColumn(),
                      console=self.console, transient=True) as progress:
            self._progress = progress
            self._task = progress.add_task(self.title, total=self.estimate or None,
                                           counts="starting")
            try:
                yield self
            finally:
                self._progress = None


class ReportedProgress(ProgressLine):
    """Progress handed to a callback (a row of the deploy path's table) about once a second,
    instead of a line of its own."""

    def __init__(self, report: Callable[[str], None], title: str, estimate: int) -> None:
        super().__init__(Console(quiet=True), title, estimate)
        self.report = report
        self._printed = 0.0

    def update(self, counts: Counts) -> None:
        if time.monotonic() - self._printed >= 1.0:
            self._printed = time.monotonic()
            self.report(f"{self.title}: {counts.text()}{self.eta(counts)}")

    @contextmanager
    def shown(self) -> Iterator[ProgressLine]:
        yield self
