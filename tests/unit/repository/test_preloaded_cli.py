"""The preloaded CLI the end-to-end tests run the copies' commands with (tests/support/cli.py):
each command sees exactly its own environment and an empty stdin, exits as Python would, and
never runs code older than the files (a changed source file means a process of its own)."""

from __future__ import annotations

import os
import sys
import textwrap
import time
from pathlib import Path

from bbws_infra.core.paths import REPO_ROOT
from tests.support.cli import PreloadedCli
from tests.support.repo_copies import PRELOAD

TASKS = textwrap.dedent("""\
    import os, sys
    from invoke import Exit, task
    import helper

    @task
    def show(c):
        print(os.environ.get("ANSWER", "missing"), helper.VERSION, repr(sys.stdin.read()))

    @task
    def fail(c):
        raise Exit("refused", code=3)
    """)


def test_each_command_gets_its_environment_stdin_exit_and_current_code(tmp_path: Path) -> None:
    (tmp_path / "tasks.py").write_text(TASKS)
    helper = tmp_path / "tools" / "helper.py"
    helper.parent.mkdir()
    helper.write_text("VERSION = 'first'\n")
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(tmp_path / "tools")}
    cli = PreloadedCli(tmp_path, env, preload=("helper",))
    try:
        shown = cli.run(("show",), {**env, "ANSWER": "42"})
        assert (shown.returncode, shown.stdout) == (0, "42 first ''\n")
        assert cli.run(("show",), env).stdout == "missing first ''\n"  # removed again
        failed = cli.run(("fail",), env)
        assert (failed.returncode, failed.stderr) == (3, "refused\n")
        server = cli._server
        assert server is not None and server.poll() is None  # one server served them all

        time.sleep(0.01)  # a new modification time
        helper.write_text("VERSION = 'second'\n")
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
