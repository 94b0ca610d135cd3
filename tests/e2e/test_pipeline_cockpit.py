"""What the pipeline shows a team, run as the workflows run it on the sandbox (tests/support/
workflow_runs.py): a pull request's plan comment with each component's monthly cost now, after
the apply and the difference, and the data migrations the apply would run, updated in place by
the next push; an apply refused when an approver is not in the approval role's team, nothing
changed; a dev success told to Slack with links to the run, the plan and the ledger record.
GitHub's REST API and the Slack webhook are the local stand-ins of tests/support/github_api.py
and tests/support/slack_webhook.py.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.github_api import TOKEN, GitHubApi
from tests.support.local_http import serving
from tests.support.repo_copies import Copy, make_copy
from tests.support.slack_webhook import SlackWebhook
from tests.support.workflow_files import called_workflow, job_commands, load
from tests.support.workflow_runs import Run, release_context

pytestmark = pytest.mark.e2e

PULL_REQUEST = 42
MARKER = "<!-- bbws-infra plans -->"


@pytest.fixture(scope="module")
def api() -> Iterator[GitHubApi]:
    with serving(GitHubApi()) as server:
        server.member("bbws-lead-devs", "bob")
        server.member("bbws-qa", "mallory")  # in a team, but not dev's
        yield server


@pytest.fixture(scope="module")
def slack() -> Iterator[SlackWebhook]:
    with serving(SlackWebhook()) as server:
        yield server


@pytest.fixture(scope="module")
def copy(work: Path, tmp_path_factory: pytest.TempPathFactory):
    yield from make_copy("cockpit", work, tmp_path_factory)


def _pull_request_run(copy: Copy, api: GitHubApi, planned: list[tuple[str, str]]) -> str:
    """The plan workflow on a pull request, as validate.yml calls it once validation passed:
    the matrix job, the plan job of each (env, component) asked for, GitHub's artifacts, then
    the comment job. The comment job's job summary."""
    workflow = load("plan.yml")
    run = Run(copy, api)
    event = copy.work / f"event-{run.id}.json"
    event.write_text(json.dumps({"pull_request": {"number": PULL_REQUEST}}))
    run.extra["GITHUB_EVENT_PATH"] = str(event)
    context = {"github": {"token": TOKEN, "event_name": "pull_request"}, "needs": {},
               "secrets": {}}
    run.job(job_commands(workflow, "matrix", context), "matrix")
    grid = json.loads(run.outputs["matrix"]["matrix"])
    artifacts = copy.root / "build" / "artifacts"
    shutil.rmtree(artifacts, ignore_errors=True)  # a fresh runner
    for env, component in planned:
        assert env in grid["env"] and component in grid["component"]
        run.job(job_commands(workflow, "plan", {**context, "matrix": {
            "env": env, "component": component}}), "plan")
        # GitHub's part: the job's artifact plan-<env>-<component>, downloaded by the next job
        shutil.copytree(copy.bundle_dir(env, component), artifacts / f"plan-{env}-{component}",
                        ignore=shutil.ignore_patterns("applied", "dry-run", ".*"))
    summary = copy.work / f"summary-{run.id}.md"
    run.extra["GITHUB_STEP_SUMMARY"] = str(summary)
    run.job(job_commands(workflow, "comment", context), "comment")
    return summary.read_text()


def _costs(body: str, env: str) -> dict[str, tuple[str, str, str]]:
    """component -> (now, after apply, difference) from the comment's cost table of env."""
    table = body.split(f"#### Monthly cost in {env} (USD)", 1)[1].split("\n\n", 2)[1]
    return {cells[0]: (cells[1], cells[2], cells[3]) for cells in
            ([c.strip() for c in line.strip("|").split("|")] for line in table.splitlines()[2:])}


def test_plans_run_after_validation_and_comment_cost_and_pending_migrations(copy: Copy,
                                                                           api: GitHubApi):
    validate = load("validate.yml")["jobs"]
    assert validate["plan"]["needs"] == "validate"
    assert validate["plan"]["uses"] == "./.github/workflows/plan.yml"
    assert set(load("plan.yml")["on"]) == {"workflow_call", "workflow_dispatch"}

    summary = _pull_request_run(copy, api, [("dev", "tenants"), ("dev", "templates")])
    (body,) = api.comment_bodies(PULL_REQUEST)
    print(body)
    assert body.startswith(MARKER + "\n## Terraform plans\n")
    costs = _costs(body, "dev")
    # nothing runs yet: everything the plan creates is the difference
    now, after, difference = costs["tenants"]
    assert now == "0.00" and float(after) > 0 and difference == f"+{after}"
    assert costs["templates"][0] == "0.00"
    total = costs["**total**"]
    assert float(total[1].strip("*")) == pytest.approx(
        float(after) + float(costs["templates"][1]), abs=0.011)
    assert "Within the dev review threshold of 100.00 USD a month." in body
    assert ("- dev `tenants`: then runs `0001_backfill_active_partition` over tenants ("
            in body)
    assert "`templates`" not in body.split("#### Data migrations")[1].split("### Plans")[0]
    assert "### Plans" in body and "module.table.aws_dynamodb_table.this" in body
    assert summary.strip() == body.removeprefix(MARKER + "\n").strip()

    # dev runs tenants now (its apply ran the pending migration); the next push's plan comment
    # replaces the first: what runs now is priced, nothing is pending
    copy.ok("apply", "--env", "dev", "--component", "tenants", "--confirm", "deploy-dev")
    _pull_request_run(copy, api, [("dev", "tenants")])
    (body,) = api.comment_bodies(PULL_REQUEST)
    now, after, difference = _costs(body, "dev")["tenants"]
    assert (now, difference) == (after, "±0.00")
    assert "- dev `tenants`: none pending" in body
    assert [r for r in api.requests if r.startswith("PATCH ")], "updated in place"


def test_an_approver_outside_the_role_s_team_is_refused_and_nothing_changes(copy: Copy,
                                                                           api: GitHubApi):
    called, passed = called_workflow(load("deploy-dev.yml"),
                                     {"confirm": "deploy-dev", "component": "templates"})
    context = release_context(passed)
    run = Run(copy, api)
    run.lister(called, context, "plan")
    run.approve(called, context, "plan", "dev", ["mallory"])  # a QA, not a Lead Dev
    before = (copy.snapshot("dev"), copy.deployments("dev"))
    refused = run.job(job_commands(called, "apply", context), "apply", expect=2)
    assert refused is not None and refused.args[-1] == 'invoke approvals --env "$ENV_NAME"'
    assert " ".join(refused.stderr.split()) == (
        "error: dev needs approvals from a Lead Dev (team bbws-lead-devs); of this run's "
        "approvers (mallory) none can stand as a Lead Dev (team bbws-lead-devs) (an active "
        "member of its team not already counted for another role), so nothing was changed.")
    assert (copy.snapshot("dev"), copy.deployments("dev")) == before
    assert "/orgs/acme/teams/bbws-lead-devs/memberships/mallory" in api.requests


def test_a_dev_success_is_told_with_links_to_the_run_the_plan_and_the_ledger(
        copy: Copy, api: GitHubApi, slack: SlackWebhook):
    called, passed = called_workflow(load("deploy-dev.yml"),
                                     {"confirm": "deploy-dev", "component": "templates"})
    context = release_context(passed)
    run = Run(copy, api)
    run.extra["SLACK_WEBHOOK_URL"] = slack.url
    summary = copy.work / f"apply-summary-{run.id}.md"
    run.lister(called, context, "plan")
    run.approve(called, context, "plan", "dev", ["bob"])
    run.extra["GITHUB_STEP_SUMMARY"] = str(summary)
    run.job(job_commands(called, "apply", context), "apply")
    run.extra["GITHUB_STEP_SUMMARY"] = None
    # the apply job's summary: commit, state serial before and after, the ledger record
    text = summary.read_text()
    print(text)
    (row,) = [line for line in text.splitlines() if line.startswith("| templates |")]
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == f"`{copy.head()}`"
    assert int(cells[3]) > int(cells[2]) >= 0
    assert cells[4] == "applied, verification passed"
    ledger = json.loads(run.outputs["apply"]["ledger"])
    assert re.fullmatch(r"https://af-south-1\.console\.aws\.amazon\.com/s3/object/"
                        r"bbws-terraform-state-dev\?region=af-south-1&prefix=ledger/templates/"
                        r"\S+\.json", ledger["templates"])

    context["needs"]["apply"]["outputs"] = run.outputs["apply"]
    context["needs"]["plan"]["outputs"]["bundles_url"] = (
        f"https://github.com/acme/bbws-infra/actions/runs/{run.id}/artifacts/123")
    run.job(job_commands(called, "notify", context), "notify")
    message = slack.messages[-1]
    print(message["text"])
    assert message["text"].startswith("dev: deploy succeeded (templates) at ")
    run_url = f"https://github.com/acme/bbws-infra/actions/runs/{run.id}"
    links = message["blocks"][-1]["elements"]
    assert [e["text"] for e in links] == [
        f"<{run_url}|Workflow run>",
        f"<{run_url}/artifacts/123|Plan summary and bundles>",
        f"<{ledger['templates'].replace('&', '&amp;')}|Ledger record: templates>"]

    # a rejection is told too (the approval job failed: a reviewer rejected)
    context["needs"]["apply"] = {"result": "skipped", "outputs": {}}
    context["needs"]["approve"] = {"result": "failure"}
    run.job(job_commands(called, "notify", context), "notify")
    assert slack.texts()[-1].startswith("dev: deploy rejected (templates)")
