"""The workflows only call the tasks, every task and flag they call exists, and the safety rules
hold (pinned actions, least-privilege tokens, no cancelled applies, timeouts). The jobs'
commands run for real on the sandbox in tests/e2e/test_workflows.py."""

from __future__ import annotations

import inspect
import re
import shlex

import pytest

import tasks
from tests.workflow_files import all_workflows, run_lines

WORKFLOWS = all_workflows()
ALLOWED = ("pip", "invoke", "nox")


def _task_arguments(name: str) -> set[str]:
    # From the task's signature: invoke's get_arguments() consumes the help texts it reads.
    parameters = list(inspect.signature(tasks.ns[name].body).parameters)[1:]  # after `c`
    return {f"--{p.replace('_', '-')}" for p in parameters}


@pytest.mark.parametrize("name", sorted(WORKFLOWS))
def test_every_run_step_only_calls_pip_invoke_or_nox(name):
    lines = list(run_lines(WORKFLOWS[name]))
    for job, line in lines:
        assert shlex.split(line)[0] in ALLOWED, (name, job, line)


@pytest.mark.parametrize("name", sorted(WORKFLOWS))
def test_every_task_and_flag_called_exists(name):
    for job, line in run_lines(WORKFLOWS[name]):
        words = shlex.split(line)
        if words[0] != "invoke":
            continue
        task, *args = words[1:]
        assert task in tasks.ns.task_names, (name, job, task)
        known = _task_arguments(task)
        for word in args:
            if word.startswith("--"):
                assert word.split("=")[0] in known, (name, job, task, word)


@pytest.mark.parametrize("name", sorted(WORKFLOWS))
def test_actions_are_pinned_and_tokens_minimal(name):
    workflow = WORKFLOWS[name]
    assert workflow["permissions"] == {"contents": "read"}, name
    for job_id, job in workflow["jobs"].items():
        where = f"{name}:{job_id}"
        if "uses" in job:  # a reusable workflow of this repository
            assert job["uses"].startswith("./.github/workflows/"), where
            continue
        assert job.get("timeout-minutes"), where
        permissions = job.get("permissions") or {}
        if permissions.get("id-token") == "write":  # only jobs that assume the AWS role
            assert any("configure-aws-credentials" in str(s.get("uses", ""))
                       for s in job["steps"]), where
        if job.get("environment"):  # every AWS job: never cancelled midway (a lock)
            assert job["concurrency"]["cancel-in-progress"] is False, where
        for step in job["steps"]:
            uses = step.get("uses")
            if not uses:
                continue
            assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", uses), (where, uses)
            if uses.startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False, where


def test_the_release_workflows_bind_apply_to_the_gated_environment():
    release = WORKFLOWS["_release.yml"]["jobs"]
    assert release["plan"]["environment"] == "${{ inputs.env }}-plan"
    assert release["apply"]["environment"] == "${{ inputs.env }}"
    assert release["apply"]["needs"] == "plan"
    applied = [line for job, line in run_lines(WORKFLOWS["_release.yml"]) if job == "apply"]
    # after approval only saved bundles are applied: no plan, no promotion without --reviewed
    assert all(" plan " not in line for line in applied)
    assert all("--reviewed" in line for line in applied if line.startswith("invoke promote"))
    for name, env in (("deploy-dev.yml", "dev"), ("promote-sit.yml", "sit"),
                      ("promote-prod.yml", "prod")):
        (job,) = WORKFLOWS[name]["jobs"].values()
        assert job["with"]["env"] == env and "workflow_dispatch" in WORKFLOWS[name]["on"]
