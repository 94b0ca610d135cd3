"""The real CLI run as a user runs it, and the repository's git status."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

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


# The fork server of preloaded_cli: imports invoke and everything the task module imports
# once, then runs each command line it reads in a child forked from that state, exactly as
# `python -m invoke` runs it (invoke's own program, sys.argv as that would set it), its
# stdout and stderr in files of their own and its exit status as Python would make it.
_FORK_SERVER = r"""
import json, os, sys, tempfile, traceback
import invoke
import invoke.main
import tasks  # its imports, once; invoke's loader runs the file itself again in each child

argv0 = os.path.join(os.path.dirname(invoke.__file__), "__main__.py")  # as -m invoke sets it
for line in sys.stdin:
    args = json.loads(line)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            os.dup2(out.fileno(), 1)
            os.dup2(err.fileno(), 2)
            sys.argv = [argv0, *args]
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


@contextlib.contextmanager
def preloaded_cli(env: dict[str, str | None] | None = None, timeout: float = 600
                  ) -> Iterator[Callable[..., subprocess.CompletedProcess]]:
    """`invoke(*args)` for many short command lines (help, refusals): each runs as
    `python -m invoke` does, from the repository root with `env`, in a process forked from
    one that imported invoke and the tasks' modules once, rather than paying Python's and
    the imports' start again for each (half a second each)."""
    merged = {**os.environ, **(env or {})}
    server = subprocess.Popen([sys.executable, "-c", _FORK_SERVER], cwd=REPO_ROOT,
                              env={k: v for k, v in merged.items() if v is not None},
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert server.stdin is not None and server.stdout is not None
    deadline = time.monotonic() + timeout

    def run(*args: str) -> subprocess.CompletedProcess:
        assert server.stdin is not None and server.stdout is not None
        assert time.monotonic() < deadline, f"preloaded_cli took over {timeout} s"
        server.stdin.write(json.dumps(args) + "\n")
        server.stdin.flush()
        line = server.stdout.readline()
        assert line, f"the fork server stopped (exit {server.poll()})"
        code, stdout, stderr = json.loads(line)
        return subprocess.CompletedProcess(["invoke", *args], code, stdout, stderr)

    try:
        yield run
    finally:
        server.stdin.close()
        try:
            server.wait(timeout=30)
        finally:
            if server.poll() is None:
                server.kill()
