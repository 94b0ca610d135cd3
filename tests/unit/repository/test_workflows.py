"""The workflows only call the tasks, every task and flag they call exists, and the safety rules
hold (pinned actions, least-privilege tokens, no cancelled applies, timeouts, as many approval
jobs as the registry asks for and the approvals counted before anything changes). The jobs'
commands run for real on the sandbox in tests/e2e/test_workflows.py."""

from __future__ import annotations

import inspect
import json
import re
import shlex

import pytest

import tasks
from bbws_infra.commands import ci
from bbws_infra.core.registry import PROMOTION_ORDER, REQUIRED_APPROVALS
from bbws_infra.pipeline import approvals, iam_policy
from tests.support.workflow_files import WORKFLOWS as WORKFLOW_DIR
from tests.support.workflow_files import all_workflows, run_lines

WORKFLOWS = all_workflows()
# `environment: {name, url}`: the checks below read the name (the url: test_environment_urls
# in tests/unit/pipeline/test_workflow_cockpit.py)
for _workflow in WORKFLOWS.values():
    for _job in _workflow["jobs"].values():
        if isinstance(_job.get("environment"), dict):
            _job["environment"] = _job["environment"]["name"]
ALLOWED = ("pip", "invoke", "nox")
GATE_ENVIRONMENT = "${{ matrix.gate }}"
CHECK = 'invoke approvals --env "$ENV_NAME"'
BASELINE = 'invoke approvals --env "$ENV_NAME" --baseline'
# The workflows with approval jobs: (file, the job that lists the gates, the job that changes
# the env, the flag that picks whose approvals: the env's own, or its break-glass environment's).
GATED = [("_release.yml", "plan", "apply", ""), ("rollback.yml", "gates", "rollback", ""),
         ("break-glass.yml", "plan", "apply", " --break-glass")]


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
        if "actions" in permissions:  # only to read the run's approvals
            assert permissions["actions"] == "read", where
            lines = [line for j, line in run_lines({"jobs": {job_id: job}})]
            assert {CHECK, CHECK + " --break-glass", BASELINE} & set(lines), where
        if job.get("environment") == GATE_ENVIRONMENT:  # an approval job: no AWS at all
            assert permissions == {"contents": "read"}, where
            assert not any("aws" in str(s.get("uses", "")) for s in job["steps"]), where
        elif job.get("environment"):  # every AWS job: never cancelled midway (a lock)
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
    assert release["apply"]["needs"] == ["plan", "approve"]
    applied = [line for job, line in run_lines(WORKFLOWS["_release.yml"]) if job == "apply"]
    # after approval only saved bundles are applied: no plan, no promotion without --reviewed
    assert all(" plan " not in line for line in applied)
    assert all("--reviewed" in line for line in applied if line.startswith("invoke promote"))
    for name, env in (("deploy-dev.yml", "dev"), ("promote-sit.yml", "sit"),
                      ("promote-prod.yml", "prod")):
        (job,) = WORKFLOWS[name]["jobs"].values()
        assert job["with"]["env"] == env and "workflow_dispatch" in WORKFLOWS[name]["on"]

    # the callers grant what the called jobs need: the role, and reading the run's approvals
    for name in ("deploy-dev.yml", "promote-sit.yml", "promote-prod.yml"):
        (job,) = WORKFLOWS[name]["jobs"].values()
        assert job["permissions"] == {"contents": "read", "id-token": "write",
                                      "actions": "read"}, name


@pytest.mark.parametrize(("name", "source", "change", "flag"), GATED)
def test_approval_jobs_come_from_the_registry(name: str, source: str, change: str, flag: str):
    jobs = WORKFLOWS[name]["jobs"]
    # one job lists the env's approval environments as an output, with the task
    lister = jobs[source]
    assert {k: lister["outputs"][k] for k in ("gates", "baseline")} == {
        "gates": "${{ steps.gates.outputs.gates }}",
        "baseline": "${{ steps.baseline.outputs.baseline }}"}
    (step,) = [s for s in lister["steps"] if s.get("id") == "gates"]
    assert step["run"] == f'invoke approvals --env "$ENV_NAME"{flag} --gates'
    # and the review history before this attempt's approvals, which the check subtracts
    (step,) = [s for s in lister["steps"] if s.get("id") == "baseline"]
    assert step["run"] == BASELINE
    assert step["env"] == {"GITHUB_TOKEN": "${{ github.token }}"}
    assert lister["permissions"]["actions"] == "read"
    assert lister["env"]["ENV_NAME"] == "${{ inputs.env }}"
    # one approval job per listed environment, bound to it; none at all when the list is empty
    gate = jobs["approve"]
    assert gate["needs"] == source
    assert gate["if"] == f"needs.{source}.outputs.gates != '[]'"
    assert gate["strategy"]["matrix"] == {
        "gate": f"${{{{ fromJSON(needs.{source}.outputs.gates) }}}}"}
    assert gate["environment"] == GATE_ENVIRONMENT
    assert [line for j, line in run_lines(WORKFLOWS[name]) if j == "approve"] == [
        "pip install -e '.[dev]'", f'invoke approvals --env "$ENV_NAME"{flag} --gate "$GATE"']
    assert gate["env"] == {"ENV_NAME": "${{ inputs.env }}", "GATE": GATE_ENVIRONMENT}
    # no approval environment or count is written in the workflow itself
    code = [line for line in (WORKFLOW_DIR / name).read_text().splitlines()
            if not line.lstrip().startswith("#")]
    assert not any(re.search(r"approval-\d|approval-<", line) for line in code), name


@pytest.mark.parametrize("env_name", PROMOTION_ORDER)
def test_the_listed_gates_are_one_fewer_than_the_people_needed(env_name: str, capsys,
                                                                monkeypatch):
    monkeypatch.delenv("GITHUB_OUTPUT", raising=False)  # when these tests run in Actions
    assert ci.approvals(env=env_name, show_gates=True) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed == [f"{env_name}-approval-{n}"
                      for n in range(1, REQUIRED_APPROVALS[env_name])]
    # the approval jobs plus the env's own environment: one approval each
    assert len(listed) + 1 == REQUIRED_APPROVALS[env_name]
    assert approvals.counted_environments(env_name) == [*listed, env_name]


@pytest.mark.parametrize(("name", "source", "change", "flag"), GATED)
def test_the_changing_job_counts_the_approvals_before_anything_else(name: str, source: str,
                                                                      change: str, flag: str):
    job = WORKFLOWS[name]["jobs"][change]
    where = f"{name}:{change}"
    # the last approval: the env's own environment, or its break-glass one
    suffix = "-break-glass" if flag else ""
    assert job["environment"] == "${{ inputs.env }}" + suffix, where
    assert job["needs"] == [source, "approve"], where
    # it runs after every approval job approved, or when there are none (dev); never when
    # one was rejected or the run cancelled
    condition = job["if"]
    assert condition.startswith("${{ !cancelled() && "), where
    assert f"needs.{source}.result == 'success'" in condition, where
    assert ("(needs.approve.result == 'success' || needs.approve.result == 'skipped')"
            in condition), where
    assert "always()" not in condition, where
    assert job["permissions"] == {"contents": "read", "id-token": "write",
                                  "actions": "read"}, where
    # the check is the first step after installing, before any artifact, credential or task
    steps = job["steps"]
    runs = [i for i, s in enumerate(steps) if "run" in s]
    first, check = runs[0], runs[1]
    assert steps[first]["run"].startswith("pip install"), where
    assert steps[check]["run"] == CHECK + flag, where
    assert steps[check]["env"] == {
        "GITHUB_TOKEN": "${{ github.token }}",
        "APPROVALS_BASELINE": f"${{{{ needs.{source}.outputs.baseline }}}}",
        "GITHUB_TEAMS_TOKEN": "${{ secrets.APPROVER_TEAMS_TOKEN }}"}, where
    assert "if" not in steps[check], where
    assert all("run" not in s or s["run"].startswith("pip ") for s in steps[:check]), where
    assert all("uses" not in s or s["uses"].startswith(("actions/checkout@",
                                                        "actions/setup-python@"))
               for s in steps[:check]), where
    # the check's exit status stops the job: nothing after it is allowed to ignore failure
    assert not any(s.get("continue-on-error") for s in steps), where


# --- cancelled and concurrent runs --------------------------------------------------------

_CHANGES_STATE = re.compile(r"invoke (apply|promote|rollback)\b")
_TAKES_THE_LOCK = re.compile(r"invoke (plan|apply|promote|rollback|unlock)\b")
_ENVIRONMENT = re.compile(r"(\$\{\{ [\w.]+ \}\})(-plan|-break-glass)?")
DOCTOR = re.compile(r'invoke doctor --env "\$ENV_NAME"( --component "\$COMPONENT")?')


def _env_jobs() -> list[tuple[str, dict, str, list[str]]]:
    """(where, job, the env expression, its run lines) of every job bound to an env's own
    environment or its -plan one (approval jobs are bound to `${{ matrix.gate }}`)."""
    found = []
    for name, workflow in WORKFLOWS.items():
        for job_id, job in workflow["jobs"].items():
            match = _ENVIRONMENT.fullmatch(str(job.get("environment", "")))
            if match and job["environment"] != GATE_ENVIRONMENT:
                lines = [line for _, line in run_lines({"jobs": {job_id: job}})]
                found.append((f"{name}:{job_id}", job, match.group(1), lines))
    return found


def _changes_state(job: dict, environment: str, lines: list[str]) -> bool:
    return job["environment"] in (environment, f"{environment}-break-glass") and any(
        _CHANGES_STATE.match(line) and "--plan-only" not in line for line in lines)


def test_every_job_that_changes_an_env_runs_doctor_when_cancelled_or_failed():
    """Its last step: `invoke doctor` when the job was cancelled or failed (it writes its
    findings to the job summary), never hiding the failure."""
    changing = [(where, job) for where, job, env, lines in _env_jobs()
                if _changes_state(job, env, lines)]
    assert {where for where, _ in changing} == {"_release.yml:apply", "rollback.yml:rollback",
                                                "break-glass.yml:apply"}
    for where, job in changing:
        last = job["steps"][-1]
        assert last.get("if") == "cancelled() || failure()", where
        assert DOCTOR.fullmatch(last.get("run", "")), where
        assert not any(s.get("continue-on-error") for s in job["steps"]), where


def test_every_job_that_writes_an_env_or_takes_its_lock_is_in_the_env_s_one_group():
    """`terraform-<env>` whatever the component, so an apply of all components and one of
    `tenants` never run together; never cancelled in progress, and every waiter kept."""
    checked = []
    for where, job, env, lines in _env_jobs():
        deploy_role = job["environment"] != f"{env}-plan" and any(
            "configure-aws-credentials" in str(s.get("uses", "")) for s in job["steps"])
        if not deploy_role and not any(_TAKES_THE_LOCK.match(line) for line in lines):
            continue
        checked.append(where)
        assert job["concurrency"] == {"group": f"terraform-{env}",
                                      "cancel-in-progress": False, "queue": "max"}, where
    assert {"_release.yml:plan", "_release.yml:apply", "rollback.yml:rollback",
            "plan.yml:plan", "break-glass.yml:plan", "break-glass.yml:apply"} <= set(checked)


PLAN_ROLE, DEPLOY_ROLE = "${{ vars.AWS_PLAN_ROLE_ARN }}", "${{ vars.AWS_DEPLOY_ROLE_ARN }}"
BREAK_GLASS_ROLE = "${{ vars.AWS_BREAK_GLASS_ROLE_ARN }}"
BREAK_GLASS_ENVIRONMENT = "${{ inputs.env }}-break-glass"
# The environments reviewers gate (`<env>`, through inputs or the matrix) and the plan ones.
GATED_ENVIRONMENTS = ("${{ inputs.env }}",)
PLAN_ENVIRONMENT = re.compile(r"\$\{\{ (inputs|matrix)\.env \}\}-plan")


def _aws_jobs() -> list[tuple[str, str, dict, str]]:
    """(workflow, job id, job, role-to-assume) of every job that gets AWS credentials."""
    found = []
    for name, workflow in WORKFLOWS.items():
        for job_id, job in workflow["jobs"].items():
            for step in job.get("steps", []):
                if "configure-aws-credentials" in str(step.get("uses", "")):
                    found.append((name, job_id, job, step["with"]["role-to-assume"]))
    return found


def test_plan_jobs_assume_the_plan_role_and_only_gated_jobs_the_deploy_role():
    """A job bound to `<env>-plan` (no reviewers; plan.yml runs a pull request's own code)
    gets the plan role, which can change nothing; only the jobs bound to the reviewed `<env>`
    get the deploy role. Distinct variables, so a mix-up shows in the workflow; the roles'
    trust policies refuse it anyway (tests/unit/pipeline/test_iam_policy.py)."""
    jobs = _aws_jobs()
    assert {(n, j) for n, j, _, _ in jobs} == {
        ("plan.yml", "plan"), ("drift.yml", "drift"), ("verify.yml", "verify"),
        ("_release.yml", "plan"),
        ("_release.yml", "apply"), ("rollback.yml", "rollback"), ("break-glass.yml", "plan"),
        ("break-glass.yml", "apply")}
    for name, job_id, job, role in jobs:
        where = f"{name}:{job_id}"
        environment = job["environment"]
        if PLAN_ENVIRONMENT.fullmatch(environment):
            assert role == PLAN_ROLE, where
            # and it runs only tasks that change nothing in AWS
            assert not any(re.search(r"invoke (apply|rollback|unlock|bootstrap)\b|--reviewed|"
                                     r"--fix-digest", line)
                           for j, line in run_lines({"jobs": {job_id: job}})), where
        elif environment == BREAK_GLASS_ENVIRONMENT:
            # the only job that may delete protected resources, after the most approvals
            assert (name, role) == ("break-glass.yml", BREAK_GLASS_ROLE), where
            lines = [line for _, line in run_lines({"jobs": {job_id: job}})]
            assert CHECK + " --break-glass" in lines, where
        else:
            assert environment in GATED_ENVIRONMENTS, where
            assert role == DEPLOY_ROLE, where
            assert CHECK in [line for _, line in run_lines({"jobs": {job_id: job}})], where
    for path in WORKFLOW_DIR.glob("*.yml"):  # the old shared variable is gone everywhere
        assert "AWS_ROLE_ARN" not in path.read_text().replace("_PLAN_ROLE_ARN", "").replace(
            "_DEPLOY_ROLE_ARN", "").replace("_BREAK_GLASS_ROLE_ARN", ""), path.name
    # the break-glass role is used nowhere else
    for path in WORKFLOW_DIR.glob("*.yml"):
        if path.name != "break-glass.yml":
            assert "BREAK_GLASS" not in path.read_text(), path.name


def test_an_apply_job_s_credentials_last_as_long_as_the_job_and_its_role_allows_it():
    """A job that may wait hours (a GSI backfill) holds its session for its whole timeout,
    within the MaxSessionDuration `invoke iam-policy` gives the role it assumes; the plan jobs
    keep STS's default hour."""
    roles = {DEPLOY_ROLE: iam_policy.DEPLOY, BREAK_GLASS_ROLE: iam_policy.BREAK_GLASS,
             PLAN_ROLE: iam_policy.PLAN}
    for name, job_id, job, role in _aws_jobs():
        (step,) = [s for s in job["steps"]
                   if "configure-aws-credentials" in str(s.get("uses", ""))]
        duration = int(step["with"].get("role-duration-seconds", 3600))
        assert duration <= iam_policy.max_session_duration(roles[role]), (name, job_id)
        if roles[role] != iam_policy.PLAN:
            assert duration >= job["timeout-minutes"] * 60, (name, job_id)
