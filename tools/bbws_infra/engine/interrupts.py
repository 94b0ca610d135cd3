"""Every way a run is stopped, made reliable: once SIGINT (Ctrl-C), SIGTERM or SIGHUP arrives
the task stops exactly as on Ctrl-C and exits 128 + the signal's number: 130 for SIGINT, 143
for SIGTERM, 129 for SIGHUP, whatever code it was in.

GitHub cancels a job with SIGINT, then SIGTERM a few seconds later, then SIGKILL; some runners
send SIGHUP when their session ends. Only the first signal raises KeyboardInterrupt: a later
one (GitHub's SIGTERM after its SIGINT) is recorded but must not break off the cleanup the
first one started (stopping Terraform so that it releases the state lock).

The handler records the interrupt before raising KeyboardInterrupt, so even if the exception
lands somewhere that swallows it (a library's cleanup, a worker thread's bookkeeping), the
task's wrapper still sees the record and reports the interrupt instead of success. Queued work
checks the record before it starts.

Tests drive the interrupt deterministically: with BBWS_FAULT_INTERRUPT_AT=<stage> the process
sends itself SIGINT (or the signal BBWS_FAULT_SIGNAL names: INT, TERM, HUP or KILL), exactly as a
terminal or a runner would, the moment that stage begins (stages: sandbox, stage, init, plan,
show, apply, next-component, and canary: verify's data stage, its canary just written).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from types import FrameType

FAULT_ENV = "BBWS_FAULT_INTERRUPT_AT"
FAULT_SIGNAL_ENV = "BBWS_FAULT_SIGNAL"
# The signals that stop a run cleanly; SIGKILL cannot be caught (see terraform.TerraformKilled).
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
EXIT_CODE = 128 + signal.SIGINT  # 130: Ctrl-C

_requested = threading.Event()
_first: list[int] = []  # the signal that stopped the run (its exit code is 128 + it)


def requested() -> bool:
    return _requested.is_set()


def exit_code() -> int:
    """128 + the number of the signal that stopped the run: 130 (SIGINT), 143 (SIGTERM),
    129 (SIGHUP); 130 when the interrupt came as a bare KeyboardInterrupt."""
    return 128 + _first[0] if _first else EXIT_CODE


def signal_name() -> str:
    return signal.Signals(_first[0]).name if _first else "SIGINT"


def _handler(signum: int, frame: FrameType | None) -> None:
    if _requested.is_set():  # a second signal: the cleanup of the first goes on
        return
    _first[:] = [signum]
    _requested.set()
    raise KeyboardInterrupt


@contextlib.contextmanager
def handling() -> Iterator[None]:
    """Install the recording handler of SIGINT, SIGTERM and SIGHUP for the duration of a task
    (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _requested.clear()
    _first.clear()
    previous = {sig: signal.signal(sig, _handler) for sig in SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


_fault_lock = threading.Lock()


def _fault_signal() -> signal.Signals:
    name = os.environ.get(FAULT_SIGNAL_ENV, "INT").upper().removeprefix("SIG")
    chosen = getattr(signal, f"SIG{name}", None)
    # KILL: the task dies outright (a runner's last resort), its worker left to finish alone
    if not isinstance(chosen, signal.Signals) or chosen not in (*SIGNALS, signal.SIGKILL):
        raise ValueError(f"{FAULT_SIGNAL_ENV}={name!r}: choose INT, TERM, HUP or KILL")
    return chosen


def checkpoint(stage: str) -> None:
    """Fault injection for tests: deliver a real SIGINT (or BBWS_FAULT_SIGNAL's) to this
    process at `stage`.

    Python runs signal handlers in the main thread only; a worker thread that injects the
    interrupt waits until the handler has recorded it, so the interrupt is handled at this
    point, never a moment later (what the tests rely on to be deterministic)."""
    if os.environ.get(FAULT_ENV) != stage:
        return
    with _fault_lock:  # two threads at the same stage: only one sends the signal
        if os.environ.pop(FAULT_ENV, None) != stage:  # once: the cleanup must not re-fire
            return
        os.kill(os.getpid(), _fault_signal())
        if threading.current_thread() is not threading.main_thread():
            _requested.wait(timeout=10)
