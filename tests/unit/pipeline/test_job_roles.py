"""The one map of task to role (pipeline/job_roles.py), and the workflows following it: each job
that gets AWS credentials assumes the role its tasks need, no more."""

from __future__ import annotations

import shlex

import pytest

from bbws_infra.core.registry import BREAK_GLASS
from bbws_infra.pipeline.iam_policy import DEPLOY, PLAN
from bbws_infra.pipeline.job_roles import DEPLOY_TASKS, PLAN_TASKS, ROLE_VARIABLES, role_for
from tests.support.workflow_files import all_workflows, run_lines


@pytest.mark.parametrize(("line", "role"), [
    ("plan --env dev", PLAN), ("drift --env prod", PLAN), ("verify --env sit", PLAN),
    ("doctor --env dev", PLAN), ("doctor --env dev --fix-digest", DEPLOY),
    ("promote --to sit --plan-only", PLAN), ("promote --to sit --confirm promote-sit", DEPLOY),
    ("promote --to prod --reviewed --allow-destroy tenants:x --confirm-destroy destroy-prod",
     BREAK_GLASS),
    ("promote --to prod --plan-only --allow-destroy tenants:x", PLAN),
    ("apply --env dev --confirm deploy-dev", DEPLOY), ("rollback --env dev", DEPLOY),
    ("unlock --env dev", DEPLOY), ("status", PLAN), ("history --env dev", PLAN),
    ("alarms --env prod", PLAN),
    ("approvals --env dev", None), ("notify --env dev", None), ("matrix", None),
])
def test_each_task_runs_as_the_role_it_needs(line: str, role: str | None):
    task, *args = line.split()
    assert role_for(task, args) == role


def test_no_task_is_in_both_lists():
    assert not PLAN_TASKS & DEPLOY_TASKS


def _aws_jobs() -> list[tuple[str, str, str, list[list[str]]]]:
    """(workflow, job, role variable it assumes, the invoke command lines it runs)."""
    found = []
    for name, workflow in all_workflows().items():
        for job_id, job in workflow["jobs"].items():
            roles = [step["with"]["role-to-assume"] for step in job.get("steps", [])
                     if "configure-aws-credentials" in str(step.get("uses", ""))]
            if not roles:
                continue
            (variable,) = roles
            lines = [shlex.split(line)[1:] for j, line in run_lines({"jobs": {job_id: job}})
                     if line.startswith("invoke ")]
            found.append((name, job_id, variable, lines))
    return found


def test_the_workflows_assume_the_role_job_roles_names():
    jobs = _aws_jobs()
    assert jobs
    by_variable = {f"${{{{ vars.{v} }}}}": role for role, v in ROLE_VARIABLES.items()}
    for name, job_id, variable, lines in jobs:
        where = f"{name}:{job_id}"
        role = by_variable[variable]
        needed = {role_for(task, args) for task, *args in lines} - {None}
        assert needed, f"{where} assumes a role but runs no task that uses AWS"
        if role == PLAN:
            assert needed == {PLAN}, where
        else:  # the job runs a task that needs its role (and may read, e.g. doctor)
            assert role in needed and needed <= {role, PLAN}, where
    assert {by_variable[v] for _, _, v, _ in jobs} == {PLAN, DEPLOY, BREAK_GLASS}
