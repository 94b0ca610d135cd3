"""The workflows as the team's cockpit, read from the files: plans only after validation, every
release run notified, failed jobs keeping Terraform's log and the bundle for a week, each job's
environment URL, prod's deployment window enforced right after the approvals, and
docs/github.md stating the window, the wait timer and the approval teams as the code has them."""

from __future__ import annotations

import re
from datetime import datetime

import pytest

from bbws_infra.commands import ci
from bbws_infra.core.paths import REPO_ROOT
from bbws_infra.pipeline import release_windows
from bbws_infra.pipeline.approval_teams import APPROVER_ROLES, BREAK_GLASS_ROLE
from bbws_infra.pipeline.notify import run_result
from tests.support.workflow_files import all_workflows

WORKFLOWS = all_workflows()
RUN_URL = "${{ github.server_url }}/${{ github.repository }}/actions/runs/${{ github.run_id }}"
DOCS = (REPO_ROOT / "docs" / "github.md").read_text()
WINDOW = 'invoke deployment-window --env "$ENV_NAME"'


def test_every_job_bound_to_an_environment_names_it_and_its_url():
    bound = [(name, job_id, job["environment"]) for name, w in WORKFLOWS.items()
             for job_id, job in w["jobs"].items() if "environment" in job]
    assert len(bound) >= 9
    for name, job_id, environment in bound:
        assert isinstance(environment, dict), (name, job_id)
        assert set(environment) == {"name", "url"} and environment["url"] == RUN_URL


def test_plans_run_only_after_validation_passed_for_the_same_commit():
    validate = WORKFLOWS["validate.yml"]
    assert set(validate["on"]) == {"pull_request", "push"}
    assert validate["on"]["push"] == {"branches": ["main"]}
    assert "concurrency" not in validate  # cancelling moot validations never cancels a plan
    assert validate["jobs"]["validate"]["concurrency"]["cancel-in-progress"] is True
    plan = validate["jobs"]["plan"]
    assert (plan["needs"], plan["uses"]) == ("validate", "./.github/workflows/plan.yml")
    assert plan["permissions"] == {"contents": "read", "id-token": "write",
                                   "pull-requests": "write"}
    # the plan workflow has no trigger of its own but by hand: never beside validation
    assert set(WORKFLOWS["plan.yml"]["on"]) == {"workflow_call", "workflow_dispatch"}
    runs = [s.get("run") for s in WORKFLOWS["plan.yml"]["jobs"]["plan"]["steps"]]
    assert runs.index('invoke plan-review --env "$ENV_NAME" --component "$COMPONENT"') == \
        runs.index('invoke plan --env "$ENV_NAME" --component "$COMPONENT"') + 1


@pytest.mark.parametrize(("name", "job"), [("_release.yml", "apply"),
                                           ("break-glass.yml", "apply")])
def test_the_window_is_checked_right_after_the_approvals(name: str, job: str):
    runs = [s.get("run") for s in WORKFLOWS[name]["jobs"][job]["steps"] if "run" in s]
    check = next(i for i, r in enumerate(runs) if r.startswith("invoke approvals"))
    assert runs[check + 1] == WINDOW
    assert WINDOW not in str(WORKFLOWS["rollback.yml"])  # the way back out is never held


@pytest.mark.parametrize(("name", "jobs"), [
    ("_release.yml", ("plan", "apply")), ("rollback.yml", ("rollback",)),
    ("break-glass.yml", ("apply",)), ("plan.yml", ("plan",))])
def test_failed_or_cancelled_jobs_keep_terraform_s_log_and_the_bundle_for_a_week(name, jobs):
    for job in jobs:
        kept = [s for s in WORKFLOWS[name]["jobs"][job]["steps"]
                if "upload-artifact" in str(s.get("uses")) and s.get("if")]
        (step,) = kept
        assert step["if"] == "cancelled() || failure()"
        assert step["with"]["retention-days"] == 7
        assert "build/logs/" in step["with"]["path"] and "build/plans/aws/" in step["with"]["path"]


@pytest.mark.parametrize("name", ["_release.yml", "rollback.yml", "break-glass.yml"])
def test_every_run_is_notified_with_its_links(name: str):
    notify = WORKFLOWS[name]["jobs"]["notify"]
    assert notify["if"] == "always()"
    (line,) = [s["run"] for s in notify["steps"] if str(s.get("run", "")).startswith(
        "invoke notify")]
    assert '--ledger "$LEDGER"' in line and '--approval-result "$APPROVAL_RESULT"' in line
    changing = "rollback" if name == "rollback.yml" else "apply"
    assert WORKFLOWS[name]["jobs"][changing]["outputs"] == {
        "ledger": "${{ steps.summary.outputs.ledger }}"}


def test_a_run_s_result_names_a_rejection():
    assert run_result("success") == "success"
    assert run_result("skipped", "success", "failure") == "rejected"
    assert run_result("skipped", "failure", "skipped") == "failure"
    assert run_result("skipped", "success", "cancelled") == "cancelled"
    assert run_result("failure", "success", "success") == "failure"


def _docs_row(first_cell: str) -> list[str]:
    (row,) = [line for line in DOCS.splitlines() if line.startswith(f"| {first_cell} |")]
    return [c.strip() for c in row.strip("|").split("|")]


def test_docs_state_prod_s_wait_timer_and_deployment_window_as_the_code_has_them():
    header = _docs_row("environment")
    for env in ("dev", "sit", "prod"):
        row = dict(zip(header, _docs_row(f"`{env}`"), strict=True))
        minutes = release_windows.WAIT_TIMER_MINUTES[env]
        assert row["wait timer"] == (f"{minutes} minutes" if minutes else "none"), env
        window = release_windows.DEPLOYMENT_WINDOWS.get(env)
        assert row["deployment window"] == (window.label if window else "any time"), env
    assert "invoke deployment-window" in DOCS


def test_docs_name_each_approval_role_and_its_team():
    for env, roles in {**APPROVER_ROLES, "prod-break-glass": (BREAK_GLASS_ROLE,)}.items():
        for role in roles:
            assert re.search(rf"\| {re.escape(env)} \| {re.escape(role.title)} \| "
                             rf"`{role.team}` \|", DOCS), (env, role)


@pytest.mark.parametrize(("clock", "inside"), [
    ("2026-12-02T08:00:00+02:00", True),  # Wednesday, the window opens
    ("2026-12-02T13:59:00Z", True),  # 15:59 SAST
    ("2026-12-02T14:00:00Z", False),  # 16:00 SAST: closed
    ("2026-12-05T10:00:00+02:00", False)])  # Saturday
def test_prod_changes_only_within_its_window(clock: str, inside: bool, monkeypatch, capsys):
    monkeypatch.setenv(release_windows.CLOCK_VARIABLE, clock)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    assert ci.deployment_window(env="prod") == (0 if inside else 2)
    said = " ".join(capsys.readouterr().err.split())
    if not inside:
        assert said.startswith("error: prod changes only Monday to Friday, 08:00 to 16:00 SAST")
        assert said.endswith("nothing was changed.")
    assert ci.deployment_window(env="dev") == 0  # no window


def test_a_clock_without_a_zone_is_refused():
    with pytest.raises(Exception, match="names no time zone"):
        release_windows.now({release_windows.CLOCK_VARIABLE: "2026-12-02T10:00:00"})
    assert release_windows.now({}).tzinfo is not None
    assert isinstance(release_windows.now({}), datetime)
