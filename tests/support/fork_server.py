"""The fork server of PreloadedCli (tests/support/cli.py), run as a script in the repository (or
copy) whose CLI it serves: `python fork_server.py <listening socket's fd>`.

It imports invoke, everything the task file imports and the modules named in
BBWS_TEST_PRELOAD once, loads what every command loads first, then serves each connection on
the unix socket it was handed: a request (command line, environment, working directory,
timeout) with the caller's stdin, stdout and stderr passed as descriptors. Each command runs
in a child forked from that state, exactly as `python -m invoke` runs it (invoke's own
program, sys.argv as that would set it, the request's environment, the caller's descriptors),
so its output goes where the caller's would and it exits as Python would make it. A waiter
process between the two sends the caller the command's pid (to forward signals to) and then
its exit status (negative: the signal that ended it). Before each fork the server checks that
no preloaded source file changed since it loaded it; if one did it answers so and stops (the
caller then runs the command in a process of its own: never stale code). It also stops when
its stdin ends: the caller closed it, or died.

Only the standard library and the served tree's own code are imported here.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import select
import signal
import socket
import sys
import threading
import traceback
from pathlib import Path

MAX_REQUEST = 4 << 20  # bytes: a command line and an environment


def _preload() -> None:
    import invoke.main  # noqa: F401

    import tasks  # noqa: F401  (its imports once; invoke's loader runs the file in each child)

    for name in filter(None, os.environ.get("BBWS_TEST_PRELOAD", "").split(",")):
        importlib.import_module(name)
    if "bbws_infra" not in sys.modules:
        return
    # what each command pays first in a fresh process, paid once here for every child: the AWS
    # models and endpoints of the sandbox's shared boto3 session (clients are still made per
    # command, with its own keys) and python-hcl2's parser, about 0.35 s of CPU a command; and
    # the hash of the AWS provider package the lock files are checked against, 0.2 s more for
    # each one that runs Terraform (a child still checks the binary's inode, size and change
    # time)
    import hcl2

    from bbws_infra.engine import provider_process, terraform
    from bbws_infra.targets import sandbox
    sandbox.warm_clients("http://127.0.0.1:9")
    hcl2.loads("warm = 1\n")
    provider_process.prehash(terraform.plugin_cache_dir(create=False))
    # and the HCL files every command reads (the environments' and the component roots'), about
    # 0.1 s of CPU a command: tfvars.parse_file keeps each text it parsed, keyed by the text
    # itself, so a child parses only a file that changed since
    from bbws_infra.core import registry, tfvars
    from bbws_infra.core.errors import InputFileError

    root = Path.cwd()
    roots = [root / registry.SHARED_DIR, *(root / c.root for c in registry.COMPONENTS.values())]
    for path in sorted(p for folder in roots for p in folder.glob("*.tf*")):
        with contextlib.suppress(InputFileError):  # a test's broken file: its command says so
            tfvars.parse_file(path, root)


def _sources() -> dict[str, int]:
    """The served tree's modules loaded so far, with their modification times."""
    # read from each module's own dictionary: an attribute of a lazily loaded module (the task
    # file's command modules) would load it, and the next look would differ
    files = [object.__getattribute__(m, "__dict__").get("__file__")
             for m in list(sys.modules.values())]
    tools = os.path.join(os.getcwd(), "tools", "")
    return {f: os.stat(f).st_mtime_ns for f in files
            if isinstance(f, str) and f.startswith(tools)}


def _receive(connection: socket.socket) -> tuple[dict, list[int]]:
    data, fds, _flags, _address = socket.recv_fds(connection, MAX_REQUEST, 3)
    while not data.endswith(b"\n"):
        more = connection.recv(MAX_REQUEST)
        if not more:
            break
        data += more
    return json.loads(data), fds


def _send(connection: socket.socket, answer: dict) -> None:
    with contextlib.suppress(OSError):  # the caller went away: the command still runs out
        connection.sendall(json.dumps(answer).encode() + b"\n")


def _command(request: dict, fds: list[int]) -> None:
    """In the forked child: become `python -m invoke <args>` and run; never returns."""
    import invoke.main

    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    for fd in fds:
        if fd > 2:
            os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    signal.alarm(int(request["timeout"]))
    # as `python -m invoke` sets it, unless the caller ran invoke's own script
    sys.argv = [request.get("argv0") or os.path.join(os.path.dirname(invoke.__file__),
                                                     "__main__.py"), *request["args"]]
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
    with contextlib.suppress(OSError, ValueError):
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)


def _wait_for(request: dict, fds: list[int], connection: socket.socket) -> None:
    """In the waiter: fork the command, tell the caller its pid, then its exit status."""
    pid = os.fork()
    if pid == 0:
        connection.close()
        _command(request, fds)
    for fd in fds:
        os.close(fd)
    _send(connection, {"pid": pid})
    status = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    _send(connection, {"exit": status})
    os._exit(0)


def serve(listener: socket.socket) -> None:
    """Serve until stdin ends (the caller closed it, or died) or the sources changed."""
    loaded = _sources()
    while True:
        with contextlib.suppress(ChildProcessError):  # reap the waiters that are done
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        readable, _, _ = select.select([listener, sys.stdin], [], [])
        if sys.stdin in readable and not sys.stdin.buffer.read1(1):
            return
        if listener not in readable:
            continue
        connection, _ = listener.accept()
        try:
            request, fds = _receive(connection)
        except (OSError, ValueError):
            connection.close()
            continue
        if _sources() != loaded:
            for fd in fds:
                os.close(fd)
            _send(connection, {"changed": True})
            connection.close()
            return
        sys.stdout.flush()
        sys.stderr.flush()
        if os.fork() == 0:
            listener.close()
            _wait_for(request, fds, connection)
        for fd in fds:
            os.close(fd)
        connection.close()


def main() -> None:
    listener = socket.socket(fileno=int(sys.argv[1]))
    # as `python -m invoke` has it: the working directory first on the path, not this folder
    sys.path[0] = os.getcwd()
    _preload()
    assert threading.active_count() == 1, "a preloaded module started a thread: forks are unsafe"
    serve(listener)


if __name__ == "__main__":
    main()
