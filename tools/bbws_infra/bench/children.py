"""The benchmark's child processes: commands run in the throw-away copy with its own work
directory, stopped cleanly (their Terraform runs and emulator with them) on Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path

from bbws_infra.bench import repo_copy

# How long an interrupted child gets to stop its Terraform runs and its emulator.
STOP_GRACE_S = 60.0


def run_child(argv: list[str], copy: Path, work: Path, logs: Path, name: str,
              extra: dict[str, str | None] | None = None) -> tuple[int, str, str, float]:
    """Run argv in the copy, as its own process group: on Ctrl-C it is asked to stop (SIGINT)
    and given time to stop its Terraform runs and emulator, instead of being killed at once as
    subprocess.run would. (exit code, stdout, stderr, seconds)."""
    out, err = logs / f"{name}.out", logs / f"{name}.err"
    with out.open("w") as stdout, err.open("w") as stderr:
        started = time.monotonic()
        process = subprocess.Popen(argv, cwd=copy, env=repo_copy.cli_env(copy, work, extra),
                                   stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
                                   start_new_session=True)
        try:
            code = process.wait()
        except BaseException:
            stop(process)
            raise
        seconds = time.monotonic() - started
    return code, out.read_text(errors="replace"), err.read_text(errors="replace"), seconds


def stop(process: subprocess.Popen[bytes]) -> None:
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=STOP_GRACE_S)
    except (subprocess.TimeoutExpired, KeyboardInterrupt):  # a second Ctrl-C: no more waiting
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else "no output"


def invoke(*args: str) -> list[str]:
    return [sys.executable, "-m", "invoke", *args]
