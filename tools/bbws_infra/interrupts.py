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


_fault_lock = threading.Lock()


def checkpoint(stage: str) -> None:
    """Fault injection for tests: deliver a real SIGINT to this process at `stage`.

    Python runs signal handlers in the main thread only; a worker thread that injects the
    interrupt waits until the handler has recorded it, so the interrupt is handled at this
    point, never a moment later (what the tests rely on to be deterministic)."""
    if os.environ.get(FAULT_ENV) != stage:
        return
    with _fault_lock:  # two threads at the same stage: only one sends the signal
        if os.environ.pop(FAULT_ENV, None) != stage:  # once: the cleanup must not re-fire
            return
        os.kill(os.getpid(), signal.SIGINT)
        if threading.current_thread() is not threading.main_thread():
            _requested.wait(timeout=10)
