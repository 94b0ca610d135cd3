"""Where a timed flow's wall time went: the stage lines its processes wrote
(bbws_infra.engine.timings) summed per stage, the provider processes Terraform started and the
provider schema answers it read, per component, the component that finished last, and the CPU
seconds the flow used.

Stages of parallel components overlap, so their sums may exceed the wall time; `unaccounted`
is the wall time no stage covers (the CLI's start-up and imports, the printing, what is not
timed), from the union of the stage intervals. Some stages hold others ("promotion checks"
holds "worktree"; "target set-up" holds "sandbox start").
"""

from __future__ import annotations

import json
import os
import resource
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from bbws_infra.core.untyped import JsonObject
from bbws_infra.engine import timings
from bbws_infra.targets import sandbox

# The order stages are listed in (the order a deploy meets them); others follow by name.
ORDER = ("sandbox start", "target set-up", "promotion checks", "worktree", "stage",
         "deploy checks offline", "deploy checks on target", "pre-deploy backups", "init check",
         "terraform process start", "init", "plan", "show", "bundle", "show before apply",
         "apply guard", "ledger", "apply", "state read", "verification plan",
         "verification plan show", "boto3 checks", "data checks", "migrations")
PROVIDER_MARKER = b"terraform-provider-aws"


@dataclass(frozen=True)
class Span:
    stage: str
    component: str
    start: float
    seconds: float
    count: int | None = None  # a counted event (timings.SCHEMA_READS), not a timed stage


def read_spans(path: Path) -> list[Span]:
    """The stage lines of a timings file (none when it was never written)."""
    if not path.exists():
        return []
    spans = []
    for line in path.read_text().splitlines():
        if line.strip():
            item = json.loads(line)
            spans.append(Span(item["stage"], item.get("component", ""), float(item["start"]),
                              float(item["s"]), item.get("count")))
    return spans


def _timed(spans: Iterable[Span]) -> list[Span]:
    return [span for span in spans if span.count is None]


def counts(spans: Iterable[Span], stage: str) -> dict[str, int]:
    """A counted event's total per component, by component name."""
    totals: dict[str, int] = {}
    for span in spans:
        if span.stage == stage and span.count is not None:
            totals[span.component] = totals.get(span.component, 0) + span.count
    return dict(sorted(totals.items()))


def _order(stage: str) -> tuple[int, str]:
    return (ORDER.index(stage) if stage in ORDER else len(ORDER), stage)


def stage_seconds(spans: Iterable[Span]) -> dict[str, float]:
    """Seconds per stage, summed over components and processes, in ORDER."""
    totals: dict[str, float] = {}
    for span in _timed(spans):
        totals[span.stage] = totals.get(span.stage, 0.0) + span.seconds
    return {stage: round(totals[stage], 2) for stage in sorted(totals, key=_order)}


def covered_seconds(spans: Iterable[Span]) -> float:
    """The length of the union of the spans' intervals."""
    total, end = 0.0, float("-inf")
    for start, stop in sorted((s.start, s.start + s.seconds) for s in _timed(spans)):
        if stop <= end:
            continue
        total += stop - max(start, end)
        end = stop
    return total


def last_component(spans: Iterable[Span]) -> str:
    """The component whose stages ended last: the flow's critical path ran through it."""
    ends: dict[str, float] = {}
    for span in _timed(spans):
        if span.component:
            ends[span.component] = max(ends.get(span.component, 0.0), span.start + span.seconds)
    return max(ends, key=lambda name: ends[name]) if ends else ""


def summary(spans: list[Span], wall_s: float, providers: dict[str, int],
            cpu: dict[str, float] | None = None) -> JsonObject:
    """One flow: wall seconds, seconds per stage, the unaccounted rest, provider starts (per
    component, and the most any component needed), the provider schema answers Terraform read
    per component, the component that finished last with its own stages, and (when measured)
    the CPU seconds of the command's processes and of the emulator."""
    last = last_component(spans)
    return {
        "wall_s": round(wall_s, 2),
        "stages_s": stage_seconds(spans),
        "unaccounted_s": round(max(0.0, wall_s - covered_seconds(spans)), 2),
        "provider_starts": dict(sorted(providers.items())),
        "provider_starts_per_component": max(providers.values(), default=0),
        "schema_reads": counts(spans, timings.SCHEMA_READS),
        "last_component": last,
        "last_component_stages_s": stage_seconds(s for s in spans if s.component == last)
        if last else {},
        "cpu_s": {name: round(seconds, 2) for name, seconds in (cpu or {}).items()},
    }


def process_cpu_s(pid: int) -> float:
    """The CPU seconds (user and system) a live process has used so far; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _emulator_pid(work: Path) -> int | None:
    recorded = sandbox.recorded_server(work)
    return None if recorded is None else recorded[0]


@dataclass
class CpuWatch:
    """The CPU seconds a command used while it ran: its own processes (the command and what it
    waited for: Terraform workers, their providers), and the emulator's, a process of its own
    that outlives commands (read from /proc; all of it when the command started it). On two
    cores, half their sum is the least wall time the same work could take."""

    work: Path
    seconds: dict[str, float] = field(default_factory=dict)
    _children: float = 0.0
    _emulator: tuple[int | None, float] = (None, 0.0)

    def _children_s(self) -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    def __enter__(self) -> CpuWatch:
        self._children = self._children_s()
        pid = _emulator_pid(self.work)
        self._emulator = (pid, process_cpu_s(pid) if pid else 0.0)
        return self

    def __exit__(self, *_: object) -> None:
        pid, before = self._emulator
        now = _emulator_pid(self.work)
        self.seconds = {
            "command": self._children_s() - self._children,
            "emulator": (process_cpu_s(now) - (before if now == pid else 0.0)) if now else 0.0,
        }


@dataclass
class ProviderWatch:
    """Counts the AWS provider processes started under `under` (this benchmark's work
    directory: other users' Terraform runs on the machine are not counted) while it runs, by
    component (the folder Terraform started them in: the component's root). Polls /proc: a
    provider lives for at least its start-up of a few hundred milliseconds, far longer than
    the poll interval."""

    under: Path
    interval_s: float = 0.02
    seen: dict[int, str] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> ProviderWatch:
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _poll(self) -> None:
        proc = Path("/proc")
        while not self._stop.is_set():
            for entry in proc.iterdir():
                if not entry.name.isdigit() or int(entry.name) in self.seen:
                    continue
                try:
                    if PROVIDER_MARKER not in (entry / "cmdline").read_bytes():
                        continue
                    cwd = Path(os.readlink(entry / "cwd"))
                    self.seen[int(entry.name)] = (cwd.name if cwd.is_relative_to(self.under)
                                                  else "")
                except OSError:
                    continue  # gone meanwhile, or not ours to read
            time.sleep(self.interval_s)

    def counts(self) -> dict[str, int]:
        return dict(Counter(name for name in self.seen.values() if name))
