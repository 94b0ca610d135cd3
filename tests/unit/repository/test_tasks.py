"""The CLI surface: every task and flag documented, `--help` anywhere prints a task's help;
bad input refused before anything runs."""

import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import tasks
from tests.support.cli import invoke, own_process


def _all_tasks(collection):
    yield from collection.tasks.values()
    for sub in collection.collections.values():
        yield from _all_tasks(sub)


def test_every_task_and_flag_has_help():
    for task in _all_tasks(tasks.ns):
        assert task.__doc__, f"{task.name} has no docstring"
        undocumented = [a.name for a in task.get_arguments() if not a.help]
        assert not undocumented, f"{task.name}: flags without help: {undocumented}"


def _task_names() -> list[str]:
    return sorted(tasks.ns.task_names)


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    # a work directory of its own: a task that ran by mistake would start its sandbox here
    return invoke(*args, env=_cli_env(tmp_path), timeout=60)


def _cli_env(tmp_path: Path) -> dict[str, str | None]:
    return {"BBWS_WORK_DIR": str(tmp_path), "COLUMNS": "100"}


def test_the_preloaded_cli_answers_as_the_cli_itself(tmp_path: Path):
    """invoke() (one import, a fork per command line) gives each line's exit status, stdout
    and stderr exactly as `python -m invoke` in a process of its own does: help, a refusal,
    an unknown task, the task list and a failing run."""
    lines = [["plan", "--help"], ["--help", "sandbox.up"], ["plan", "--component", "x"],
             ["no-such-task"], ["--list"], ["unlock", "--env", "dev"], ["--version"]]
    with ThreadPoolExecutor(max_workers=2) as pool:
        own = list(pool.map(lambda line: own_process(*line, env=_cli_env(tmp_path),
                                                     timeout=60), lines))
    forked = [_cli(tmp_path, *line) for line in lines]
    assert [(r.returncode, r.stdout, r.stderr) for r in forked] == [
        (r.returncode, r.stdout, r.stderr) for r in own]
    assert {r.returncode for r in own} >= {0, 1, 2} and list(tmp_path.iterdir()) == []


def test_help_after_or_before_any_task_name_prints_its_help_and_runs_nothing(tmp_path: Path):
    asked = [(name, form) for name in _task_names()
             for form in ([name, "--help"], [name, "-h"], ["--help", name])]
    assert len(asked) > 60  # every task, also the namespaced ones (sandbox.up, docs.check)
    # each line as `python -m invoke` runs it, forked from one import (see the test above)
    results = [_cli(tmp_path, *form) for _, form in asked]
    wrong = [f"invoke {' '.join(form)}: exit {r.returncode}: {r.stdout[:200]}{r.stderr[:300]}"
             for (name, form), r in zip(asked, results, strict=True)
             if r.returncode or r.stderr
             or not r.stdout.startswith(f"Usage: inv[oke] [--core-opts] {name} ")]
    assert not wrong, "\n".join(wrong)
    assert not (tmp_path / "sandbox").exists()
    assert list(tmp_path.iterdir()) == []


def test_a_missing_required_flag_is_named_and_nothing_runs(tmp_path: Path):
    result = _cli(tmp_path, "plan", "--component", "tenants")
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.strip() == ("error: `invoke plan` needs --env; see invoke plan --help. "
                                     "Nothing was started.")
    result = _cli(tmp_path, "unlock", "--env", "dev")
    assert result.returncode == 2
    assert "`invoke unlock` needs --component, --lock-id;" in result.stderr
    assert list(tmp_path.iterdir()) == []
