"""The preloaded CLI the end-to-end tests run the copies' commands with (tests/support/cli.py):
each command sees exactly its own environment and an empty stdin, exits as Python would, and
never runs code older than the files (a changed source file means a process of its own). A
workflow's shell line reaches the same server through the `invoke` first on its PATH
(tests/support/fork_client.py): with the shell's own stdin, stdout and exit status, signals
forwarded, and the installed invoke when there is no server to serve it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from bbws_infra.core.paths import REPO_ROOT
from tests.support.cli import PRELOAD, PreloadedCli

TASKS = textwrap.dedent("""\
    import os, sys, time
    from invoke import Exit, task
    import helper

    @task
    def show(c):
        print(os.environ.get("ANSWER", "missing"), helper.VERSION, repr(sys.stdin.read()))

    @task
    def fail(c):
        raise Exit("refused", code=3)

    @task
    def where(c):  # helper is imported where the command started: in the server when forked
        print("forked" if helper.PID != os.getpid() else "own", helper.VERSION)

    @task
    def wait(c):
        print("waiting", flush=True)
        time.sleep(60)
    """)
HELPER = "import os\nPID = os.getpid()\nVERSION = '{}'\n"


def _project(tmp_path: Path) -> tuple[PreloadedCli, dict[str, str], Path]:
    """A task file and a helper module in tmp_path, and a CLI that preloads the helper."""
    (tmp_path / "tasks.py").write_text(TASKS)
    helper = tmp_path / "tools" / "helper.py"
    helper.parent.mkdir()
    helper.write_text(HELPER.format("first"))
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(tmp_path / "tools")}
    return PreloadedCli(tmp_path, env, preload=("helper",)), env, helper


def test_each_command_gets_its_environment_stdin_exit_and_current_code(tmp_path: Path) -> None:
    cli, env, helper = _project(tmp_path)
    try:
        shown = cli.run(("show",), {**env, "ANSWER": "42"})
        assert (shown.returncode, shown.stdout) == (0, "42 first ''\n")
        assert cli.run(("show",), env).stdout == "missing first ''\n"  # removed again
        failed = cli.run(("fail",), env)
        assert (failed.returncode, failed.stderr) == (3, "refused\n")
        server = cli._server
        assert server is not None and server.poll() is None  # one server served them all

        time.sleep(0.01)  # a new modification time
        helper.write_text(HELPER.format("second"))
        assert cli.run(("show",), env).stdout == "missing second ''\n"
        assert server.wait(timeout=10) == 0  # the stale server stopped
    finally:
        cli.close()
    assert sys.modules.get("helper") is None  # all of it ran elsewhere


def test_the_repositorys_task_file_is_served_by_one_process(tmp_path: Path) -> None:
    # its command modules load lazily: looking for changed sources must not load them (the
    # server would see "new" sources at every call and never serve one)
    env = {**os.environ, "BBWS_WORK_DIR": str(tmp_path)}
    cli = PreloadedCli(REPO_ROOT, env, preload=PRELOAD)
    try:
        first = cli.run(("plan", "--help"), env)
        server = cli._server
        second = cli.run(("apply", "--help"), env)
        assert first.returncode == second.returncode == 0
        assert server is not None and cli._server is server and server.poll() is None
    finally:
        cli.close()
    assert server.poll() == 0  # closing its stdin stopped it


def test_a_shell_lines_invoke_is_forked_from_the_same_server(tmp_path: Path) -> None:
    cli, env, helper = _project(tmp_path)

    def shell(line: str, environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", "-e", "-c", line], cwd=tmp_path, env=environment,
                              capture_output=True, text=True, timeout=60)

    try:
        shell_env = cli.shell_env({**env, "ANSWER": "7"})
        piped = shell("invoke where; echo in | invoke show | sed 's/^/> /'; "
                      "invoke fail || echo \"exit $?\"", shell_env)
        assert (piped.returncode, piped.stdout, piped.stderr) == (
            0, "forked first\n> 7 first 'in\\n'\nexit 3\n", "refused\n")

        # SIGTERM to the shell line's invoke ends the command it runs, as it would end invoke
        waiting = subprocess.Popen(["bash", "-c", "invoke wait"], cwd=tmp_path, env=shell_env,
                                   stdout=subprocess.PIPE, text=True)
        assert waiting.stdout is not None and waiting.stdout.readline() == "waiting\n"
        waiting.send_signal(signal.SIGTERM)
        assert waiting.wait(timeout=10) == 128 + signal.SIGTERM

        # no server to reach, or sources newer than the server's: the installed invoke runs it
        gone = {**shell_env, "BBWS_TEST_FORK_SOCKET": str(tmp_path / "no-such-socket")}
        own = shell("invoke where", gone)
        assert (own.stdout, own.stderr) == ("own first\n", "")
        time.sleep(0.01)  # a new modification time
        helper.write_text(HELPER.format("second"))
        changed = shell("invoke where", shell_env)
        assert (changed.stdout, changed.stderr) == ("own second\n", "")
    finally:
        cli.close()
