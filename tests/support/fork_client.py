"""The caller's side of the fork server (tests/support/fork_server.py), standard library only.

PreloadedCli (tests/support/cli.py) calls run(). Run as a script, this file is the `invoke` a
workflow's shell lines find first on their PATH (a copy's shell environment,
tests/support/repo_copies.py): `python -S fork_client.py <args>` runs `invoke <args>` through
the server named by BBWS_TEST_FORK_SOCKET with this process's own stdin, stdout and stderr,
forwards SIGINT and SIGTERM to the command, and exits as it did (128 + the signal that ended
it, as a shell reports it). With no server to run it (none named, gone, or its sources
changed) it runs the installed invoke itself, so a line behaves the same either way.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
from collections.abc import Callable

SOCKET_VAR = "BBWS_TEST_FORK_SOCKET"


def run(path: str, args: list[str], env: dict[str, str], cwd: str, fds: list[int],
        timeout: float = 0, argv0: str | None = None,
        started: Callable[[int], None] | None = None) -> int | None:
    """Run `invoke <args>` through the server listening at `path`, with fds as its stdin,
    stdout and stderr. Its exit status (negative: the signal that ended it), or None when the
    server ran nothing (not there, stopped, or its sources changed). started(pid): as soon as
    the command runs."""
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with connection:
        try:
            connection.connect(path)
        except OSError:
            return None
        request = json.dumps({"args": args, "env": env, "cwd": cwd, "timeout": timeout,
                              "argv0": argv0}).encode() + b"\n"
        try:
            sent = socket.send_fds(connection, [request], fds)
            if sent < len(request):
                connection.sendall(request[sent:])
        except (BrokenPipeError, ConnectionResetError):
            # the server closed the connection before it took the request (it stopped
            # meanwhile): it ran nothing
            return None
        answers = connection.makefile("rb")
        first = answers.readline()
        answer = json.loads(first) if first else None  # none: the server stopped first
        if answer is None or answer.get("changed"):
            return None
        if started is not None:
            started(answer["pid"])
        last = answers.readline()
        if not last:
            raise RuntimeError(f"the fork server's waiter for `invoke {' '.join(args)}` died")
        status: int = json.loads(last)["exit"]
        return status


def main() -> None:
    args = sys.argv[1:]
    installed = os.path.join(os.path.dirname(sys.executable), "invoke")  # the console script
    running: list[int] = []

    def forward(signum: int, _frame: object) -> None:
        for pid in running:
            os.kill(pid, signum)

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, forward)
    path = os.environ.get(SOCKET_VAR)
    status = run(path, args, dict(os.environ), os.getcwd(), [0, 1, 2], argv0=installed,
                 started=running.append) if path else None
    if status is None:
        os.execv(installed, [installed, *args])
    sys.exit(status if status >= 0 else 128 - status)


if __name__ == "__main__":
    main()
