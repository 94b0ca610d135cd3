"""The real CLI run as a user runs it, and the repository's git status."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from bbws_infra.core.paths import REPO_ROOT


def invoke(*args: str, env: dict[str, str | None] | None = None, timeout: float = 900
           ) -> subprocess.CompletedProcess:
    """Run the real CLI as a user would, from the repository root. A None value in env
    removes that variable."""
    merged = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "invoke", *args], cwd=REPO_ROOT,
                          env={k: v for k, v in merged.items() if v is not None},
                          capture_output=True, text=True, timeout=timeout)


def git_status() -> str:
    if not (REPO_ROOT / ".git").exists():
        return ""
    return subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"],
                          cwd=REPO_ROOT, capture_output=True, text=True).stdout


# The fork server of PreloadedCli: imports invoke, everything the task module imports and the
# modules named in BBWS_TEST_PRELOAD once, loads what every command loads first, then runs
# each request it reads (command line, environment, timeout) in a child forked from that
# state, exactly as `python -m invoke` runs it (invoke's own program, sys.argv as that would
# set it, the request's environment, stdin empty), its stdout and stderr in files of their
# own and its exit status as Python would make it. Before each fork it checks that no
# preloaded source file changed since it loaded it.
_FORK_SERVER = r"""
import importlib, json, os, signal, sys, tempfile, threading, traceback
import invoke
import invoke.main
import tasks  # its imports, once; invoke's loader runs the file itself again in each child

for name in filter(None, os.environ.get("BBWS_TEST_PRELOAD", "").split(",")):
    importlib.import_module(name)
# what each command pays first in a fresh process, paid once here for every child: the AWS
# models and endpoints of the sandbox's shared boto3 session (clients are still made per
# command, with its own keys) and python-hcl2's parser, about 0.35 s of CPU a command; and the
# hash of the AWS provider package the lock files are checked against, 0.2 s more for each one
# that runs Terraform (a child still checks the binary's inode, size and change time)
import hcl2
from bbws_infra.engine import provider_process, terraform
from bbws_infra.targets import sandbox
sandbox.warm_clients("http://127.0.0.1:9")
hcl2.loads("warm = 1\n")
provider_process.prehash(terraform.plugin_cache_dir(create=False))
assert threading.active_count() == 1, "a preloaded module started a thread: forks are unsafe"

def sources():  # the tools' modules loaded so far
    # read from each module's own dictionary: an attribute of a lazily loaded module (the
    # task file's command modules) would load it, and the next look would differ
    files = [object.__getattribute__(m, "__dict__").get("__file__")
             for m in list(sys.modules.values())]
    tools = os.path.join(os.getcwd(), "tools", "")
    return {f: os.stat(f).st_mtime_ns for f in files
            if isinstance(f, str) and f.startswith(tools)}

loaded = sources()
argv0 = os.path.join(os.path.dirname(invoke.__file__), "__main__.py")  # as -m invoke sets it
for line in sys.stdin:
    request = json.loads(line)
    if sources() != loaded:
        sys.stdout.write(json.dumps([None, "", "a preloaded source file changed"]) + "\n")
        sys.stdout.flush()
        break
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
            os.dup2(out.fileno(), 1)
            os.dup2(err.fileno(), 2)
            os.environ.clear()
            os.environ.update(request["env"])
            signal.alarm(int(request["timeout"]))
            sys.argv = [argv0, *request["args"]]
            try:
                invoke.main.program.run()
                code = 0
            except SystemExit as exit:
                code = exit.code
                if code is None:
                    code = 0
                elif not isinstance(code, int):
                    print(code, file=sys.stderr)
                    code = 1
            except BaseException:
                traceback.print_exc()
                code = 1
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
        status = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        out.seek(0)
        err.seek(0)
        sys.stdout.write(json.dumps([status, out.read().decode(), err.read().decode()]) + "\n")
        sys.stdout.flush()
"""


class PreloadedCli:
    """`python -m invoke <args>` in `cwd`, each run in a process forked from one that imported
    invoke, the task file and `preload` (module names) once, rather than paying Python's and
    the imports' start again for each (half a second each). Runs one command at a time: a
    call made while another runs gets a process of its own, as does one after the preloaded
    sources changed (never stale code)."""

    def __init__(self, cwd: Path, env: dict[str, str], preload: tuple[str, ...] = ()) -> None:
        self.cwd = cwd
        self._env = {**env, "BBWS_TEST_PRELOAD": ",".join(preload)}
        self._server: subprocess.Popen[str] | None = None
        self._busy = threading.Lock()

    def _start(self) -> subprocess.Popen[str]:
        if self._server is None or self._server.poll() is not None:
            self._server = subprocess.Popen([sys.executable, "-c", _FORK_SERVER], cwd=self.cwd,
                                            env=self._env, stdin=subprocess.PIPE,
                                            stdout=subprocess.PIPE, text=True)
        return self._server

    def run(self, args: tuple[str, ...], env: dict[str, str], timeout: float = 900
            ) -> subprocess.CompletedProcess[str]:
        if not self._busy.acquire(blocking=False):
            return self._own_process(args, env, timeout)
        try:
            server = self._start()
            assert server.stdin is not None and server.stdout is not None  # pipes
            server.stdin.write(json.dumps({"args": args, "env": env, "timeout": timeout})
                               + "\n")
            server.stdin.flush()
            line = server.stdout.readline()
            assert line, f"the fork server stopped (exit {server.poll()})"
            code, stdout, stderr = json.loads(line)
            if code is None:  # the sources changed: this and later calls in a new process
                self.close()
                return self._own_process(args, env, timeout)
            return subprocess.CompletedProcess(["invoke", *args], code, stdout, stderr)
        finally:
            self._busy.release()

    def _own_process(self, args: tuple[str, ...], env: dict[str, str], timeout: float
                     ) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "invoke", *args], cwd=self.cwd, env=env,
                              capture_output=True, text=True, timeout=timeout)

    def close(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        assert server.stdin is not None  # a pipe
        server.stdin.close()
        try:
            server.wait(timeout=30)
        finally:
            if server.poll() is None:
                server.kill()


@contextlib.contextmanager
def preloaded_cli(env: dict[str, str | None] | None = None, timeout: float = 600
                  ) -> Iterator[Callable[..., subprocess.CompletedProcess]]:
    """`invoke(*args)` for many short command lines (help, refusals), from the repository root
    with `env`, each in a process forked from one preloaded process (PreloadedCli)."""
    merged = {**os.environ, **(env or {})}
    environment = {k: v for k, v in merged.items() if v is not None}
    cli = PreloadedCli(REPO_ROOT, environment)
    deadline = time.monotonic() + timeout

    def run(*args: str) -> subprocess.CompletedProcess:
        assert time.monotonic() < deadline, f"preloaded_cli took over {timeout} s"
        return cli.run(args, environment, timeout=max(1.0, deadline - time.monotonic()))

    try:
        yield run
    finally:
        cli.close()
