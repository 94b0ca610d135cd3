"""Every task parameter is a flag (so `--help` after a task name is Invoke's help, never a
value), and a required one left out is named before the task's body runs."""

from __future__ import annotations

import pytest
from invoke import Collection, Context, Exit, Program, task
from invoke.parser import Parser

from bbws_infra.core import cli

ran: list[dict] = []


@task
def plan(c, env, lock_id, target=None, json=False):
    """A task with two required parameters."""
    ran.append({"env": env, "lock_id": lock_id, "target": target, "json": json})


@task(name="up")
def sandbox_up(c, port=None):
    """A task without a required parameter."""
    ran.append({"port": port})


def _tasks() -> Collection:
    return cli.flags_only(Collection(plan, Collection("sandbox", sandbox_up)))


def test_flags_only_may_be_applied_again():
    body = _tasks()["plan"].body
    assert _tasks()["plan"].body is body


def test_required_flags_are_the_parameters_without_a_default():
    ns = _tasks()
    assert cli.required_flags(ns["plan"]) == ["--env", "--lock-id"]
    assert cli.required_flags(ns["sandbox.up"]) == []


def test_help_after_a_task_name_is_the_help_flag_not_a_value():
    parser = Parser(initial=Program().initial_context, contexts=_tasks().to_contexts())
    result = parser.parse_argv(["plan", "--help"])
    assert result[0].flags["--help"].value == "plan"
    assert result[1].args["env"].value is None


def test_a_missing_required_flag_is_refused_by_name_before_the_body_runs():
    ran.clear()
    with pytest.raises(Exit) as refused:
        _tasks()["plan"](Context(), env="dev", lock_id=None)
    assert refused.value.code == 2
    assert refused.value.message == ("error: `invoke plan` needs --lock-id; see invoke plan "
                                     "--help. Nothing was started.")
    assert ran == []
    _tasks()["plan"](Context(), env="dev", lock_id="x")
    assert ran == [{"env": "dev", "lock_id": "x", "target": None, "json": False}]
