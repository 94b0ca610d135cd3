"""Where a task's time goes: with BBWS_TIMINGS naming a file, every timed stage (sandbox start,
stage, each Terraform command, the checks, the ledger) appends one JSON line to it:
{"stage", "component", "start" (epoch seconds), "s" (seconds), "pid"}; a counted event (the
provider schema answers a Terraform command read) has a "count" and no duration. `invoke bench`
sets it for the flows it times and sums the lines per stage. Unset (always, outside the
benchmark), a timed stage costs one environment lookup.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

ENV_VAR = "BBWS_TIMINGS"
# A counted event: the provider schema answers one Terraform command read (engine.provider_relay).
SCHEMA_READS = "provider schema reads"


def enabled() -> bool:
    return bool(os.environ.get(ENV_VAR))


def record(stage: str, start: float, seconds: float, component: str = "",
           count: int | None = None) -> None:
    """Append one stage that began at `start` (epoch seconds) and took `seconds` (or, with
    `count`, an event counted that many times)."""
    path = os.environ.get(ENV_VAR)
    if not path:
        return
    item = {"stage": stage, "component": component, "start": round(start, 4),
            "s": round(seconds, 4), "pid": os.getpid()}
    if count is not None:
        item["count"] = count
    line = json.dumps(item) + "\n"
    # One write of a short line in append mode: lines of parallel threads and processes
    # never interleave. A file that cannot be written loses the line, never the run.
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)


@contextmanager
def timed(stage: str, component: str = "") -> Iterator[None]:
    """Record the time the block takes (also when it raises)."""
    if not enabled():
        yield
        return
    start, started = time.time(), time.monotonic()
    try:
        yield
    finally:
        record(stage, start, time.monotonic() - started, component)
