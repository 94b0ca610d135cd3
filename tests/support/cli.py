"""The real CLI run as a user runs it, each command forked from a process that imported the code
once (PreloadedCli), and the repository's git status."""

from __future__ import annotations

import atexit
import contextlib
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from bbws_infra.core.paths import REPO_ROOT
from tests.support import fork_client


def invoke(*args: str, env: dict[str, str | None] | None = None, timeout: float = 900
           ) -> subprocess.CompletedProcess:
    """Run the real CLI as a user would, from the repository root, forked from a preloaded
    one (PreloadedCli). A None value in env removes that variable."""
    return _repository_cli.run(args, _environment(env), timeout)


def own_process(*args: str, env: dict[str, str | None] | None = None, timeout: float = 900
                ) -> subprocess.CompletedProcess:
    """invoke(), in a Python process of its own: `python -m invoke <args>` exactly."""
    return _python_m_invoke(REPO_ROOT, args, _environment(env), timeout)


def _python_m_invoke(cwd: Path, args: tuple[str, ...], env: dict[str, str], timeout: float
                     ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "invoke", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def _environment(env: dict[str, str | None] | None) -> dict[str, str]:
    merged = {**os.environ, **(env or {})}
    return {k: v for k, v in merged.items() if v is not None}


def git_status() -> str:
    if not (REPO_ROOT / ".git").exists():
        return ""
    return subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"],
                          cwd=REPO_ROOT, capture_output=True, text=True).stdout


SERVER = Path(__file__).with_name("fork_server.py")
# Every command module of the repository, imported once by a preloaded CLI.
PRELOAD = tuple(f"bbws_infra.commands.{path.stem}"
                for path in sorted((REPO_ROOT / "tools" / "bbws_infra" / "commands").glob("*.py"))
                if not path.stem.startswith("_"))


class PreloadedCli:
    """`python -m invoke <args>` in `cwd`, each run in a process forked from one that imported
    invoke, the task file and `preload` (module names) once (tests/support/fork_server.py),
    rather than paying Python's and the imports' start again for each (half a second each).
    Calls may overlap. A call after the preloaded sources changed gets a process of its own
    (never stale code), and the next call a new server. `socket` is where shell lines reach
    the same server (tests/support/fork_client.py)."""

    def __init__(self, cwd: Path, env: dict[str, str], preload: tuple[str, ...] = ()) -> None:
        self.cwd = cwd
        self._env = {**env, "BBWS_TEST_PRELOAD": ",".join(preload)}
        self._server: subprocess.Popen[bytes] | None = None
        self._folder: Path | None = None
        self._starting = threading.Lock()

    @property
    def socket(self) -> str:
        """The server's socket (started if need be)."""
        with self._starting:
            if self._server is None or self._server.poll() is not None:
                self.close()
                # a private folder: only this user can reach the server
                self._folder = Path(tempfile.mkdtemp(prefix="bbws-cli-"))
                # bound and listening before the server starts: a call made while it still
                # preloads waits in the backlog
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
                    listener.bind(str(self._folder / "cli.sock"))
                    listener.listen(64)
                    self._server = subprocess.Popen(
                        [sys.executable, str(SERVER), str(listener.fileno())], cwd=self.cwd,
                        env=self._env, pass_fds=(listener.fileno(),),
                        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
                shim = self._folder / "bin" / "invoke"
                shim.parent.mkdir()
                shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -S "{fork_client.__file__}" '
                                '"$@"\n')
                shim.chmod(0o700)
            return str(self._folder / "cli.sock")

    def shell_env(self, env: dict[str, str]) -> dict[str, str]:
        """`env` for a shell line whose `invoke` this server runs: a shim first on the PATH,
        and the socket it reaches the server at (tests/support/fork_client.py)."""
        path = self.socket
        return {**env, fork_client.SOCKET_VAR: path,
                "PATH": os.pathsep.join([str(Path(path).with_name("bin")), env["PATH"]])}

    def run(self, args: tuple[str, ...], env: dict[str, str], timeout: float = 900
            ) -> subprocess.CompletedProcess[str]:
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
                open(os.devnull, "rb") as empty:
            code = fork_client.run(self.socket, list(args), env, str(self.cwd),
                                   [empty.fileno(), out.fileno(), err.fileno()],
                                   timeout=max(1, math.ceil(timeout)))
            if code is None:  # the server ran nothing (its sources changed, or it stopped):
                with self._starting:  # a process of its own, a new server next
                    self.close()
                return _python_m_invoke(self.cwd, args, env, timeout)
            out.seek(0)
            err.seek(0)
            return subprocess.CompletedProcess(["invoke", *args], code, out.read().decode(),
                                               err.read().decode())

    def close(self) -> None:
        """Stop the server (commands it started run on to their end)."""
        server, self._server = self._server, None
        folder, self._folder = self._folder, None
        if server is not None:
            assert server.stdin is not None  # a pipe: its end tells the server to stop
            with contextlib.suppress(OSError):
                server.stdin.close()
            try:
                server.wait(timeout=30)
            finally:
                if server.poll() is None:
                    server.kill()
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


_repository_cli = PreloadedCli(REPO_ROOT, dict(os.environ), PRELOAD)
atexit.register(_repository_cli.close)
