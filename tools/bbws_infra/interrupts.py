"""Ctrl-C, made reliable: once SIGINT arrives the task exits 130, whatever code it was in.

The handler records the interrupt before raising KeyboardInterrupt, so even if the exception
lands somewhere that swallows it (a library's cleanup, a worker thread's bookkeeping), the
task's wrapper still sees the record and reports the interrupt instead of success. Queued work
checks the record before it starts.

Tests drive the interrupt deterministically: with BBWS_FAULT_INTERRUPT_AT=<stage> the process
sends itself SIGINT, exactly as a terminal would, the moment that stage begins (stages: sandbox,
stage, init, plan, show, apply, next-component).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from types import FrameType

FAULT_ENV = "BBWS_FAULT_INTERRUPT_AT"
EXIT_CODE = 130

_requested = threading.Event()


def requested() -> bool:
    return _requested.is_set()


def _handler(signum: int, frame: FrameType | None) -> None:
    _requested.set()
    raise KeyboardInterrupt


@contextlib.contextmanager
def handling() -> Iterator[None]:
    """Install the recording SIGINT handler for the duration of a task (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _requested.clear()
    previous = signal.signal(signal.SIGINT, _handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def checkpoint(stage: str) -> None:
    """Fault injection for tests: deliver a real SIGINT to this process at `stage`."""
    if os.environ.get(FAULT_ENV) == stage:
        os.environ.pop(FAULT_ENV)  # once: the cleanup must not interrupt itself again
        os.kill(os.getpid(), signal.SIGINT)
