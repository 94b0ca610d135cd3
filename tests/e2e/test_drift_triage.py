"""The scheduled drift and verify workflows' jobs, run for real on the sandbox: their `run:`
commands executed by bash exactly as written, with the job's env evaluated as GitHub would (the
target switched from aws to the sandbox). GitHub's issues API and the Slack webhook are local
stand-ins on 127.0.0.1 (tests/support/github_issues_api.py, tests/support/slack_webhook.py).

Drift that appears, stays, changes and goes away is one issue, opened, left alone, edited and
closed, and one Slack message per change; the drift is put back through a reviewed revert
bundle and `invoke apply`, and accepting it prints allowlist entries without touching the
tracked file. The scheduled verify reports a component whose last apply failed as unknown.
"""

from __future__ import annotations

import itertools
import json
import subprocess
from collections.abc import Iterator

import pytest

from bbws_infra.bench import repo_copy
from tests.support.github_issues_api import IssuesApi
from tests.support.local_http import PROXIES, serving
from tests.support.repo_copies import Copy, make_copy
from tests.support.slack_webhook import SlackWebhook
from tests.support.workflow_files import job_commands, load

pytestmark = pytest.mark.e2e

REPOSITORY = "acme/bbws-infra"
TOKEN = "ghs_scheduledrunstoken"
TABLE = "module.table.aws_dynamodb_table.this"
MARKER = "<!-- bbws-health drift dev tenants -->"
_RUN_IDS = itertools.count(8100000001)


@pytest.fixture(scope="module")
def copy(work, tmp_path_factory) -> Iterator[Copy]:
    yield from make_copy("drift-triage", work, tmp_path_factory)


@pytest.fixture(scope="module")
def deployed(copy: Copy) -> str:
    """tenants and templates applied and verified in dev (the others never applied)."""
    copy.ok("plan", "--env", "dev", "--component", "tenants,templates")
    copy.ok("apply", "--env", "dev", "--confirm", "deploy-dev")
    return copy.head()


@pytest.fixture
def github() -> Iterator[IssuesApi]:
    with serving(IssuesApi(REPOSITORY, TOKEN)) as server:
        yield server


@pytest.fixture
def slack() -> Iterator[SlackWebhook]:
    with serving(SlackWebhook()) as server:
        yield server


class Scheduled:
    """One scheduled run: the last command's result, the job summary, the run's page."""

    def __init__(self, result: subprocess.CompletedProcess[str], summary: str, run_id: str
                 ) -> None:
        self.result, self.summary = result, summary
        self.url = f"https://github.com/{REPOSITORY}/actions/runs/{run_id}"

    @property
    def returncode(self) -> int:
        return self.result.returncode

    @property
    def output(self) -> str:
        return self.result.stdout + self.result.stderr


def _scheduled(copy: Copy, github: IssuesApi, slack: SlackWebhook, workflow: str, job: str,
               env: str = "dev") -> Scheduled:
    """One scheduled run of the job for env: its commands in order (pip is the runner's
    part); the result is the job's own task's (the status page it publishes after must be
    written whatever that task found)."""
    run_id = str(next(_RUN_IDS))
    summary = copy.work / f"summary-{run_id}.md"
    context = {"matrix": {"env": env}, "secrets": {"SLACK_WEBHOOK_URL": slack.url},
               "github": {"token": TOKEN, "run_id": run_id}}
    results: dict[str, subprocess.CompletedProcess[str]] = {}
    for command in job_commands(load(workflow), job, context):
        if command.line.startswith("pip "):
            continue
        environment = copy.shell_env({
            **command.env, "BBWS_TARGET": "sandbox", "GITHUB_API_URL": github.url,
            "GITHUB_REPOSITORY": REPOSITORY, "GITHUB_RUN_ID": run_id,
            "GITHUB_SERVER_URL": "https://github.com", "GITHUB_ACTOR": "scheduler",
            "GITHUB_STEP_SUMMARY": str(summary), **dict.fromkeys(PROXIES)})
        result = subprocess.run(["bash", "-e", "-c", command.line], cwd=copy.root,
                                env=environment, capture_output=True, text=True, timeout=900)
        assert "Traceback" not in result.stderr, result.stderr
        results[command.line.split()[1]] = result
    page = results["report"]
    assert page.returncode == 0, page.stdout + page.stderr
    assert (copy.work / "report" / "report.png").stat().st_size > 10_000
    return Scheduled(results[job], summary.read_text() if summary.exists() else "", run_id)


def test_components_never_applied_have_nothing_to_compare(copy: Copy):
    """Before any apply: no refresh-only plan runs (one of a root without state can fail on
    data sources it never read), every component is clean."""
    result = copy.invoke("drift", "--env", "dev")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("not deployed: nothing to compare") == 5
    assert _result(copy, "drift", "templates")["status"] == "clean"


def _result(copy: Copy, kind: str, component: str, env: str = "dev") -> dict:
    return json.loads((copy.work / kind / env / f"{component}.json").read_text())


def test_drift_is_one_issue_opened_edited_and_closed_and_slack_hears_each_change_once(
        copy: Copy, deployed: str, github: IssuesApi, slack: SlackWebhook):
    # nothing drifted: no issue, no message; every component's result is written
    run = _scheduled(copy, github, slack, "drift.yml", "drift")
    assert run.returncode == 0, run.output
    assert github.issues == {} and slack.messages == []
    clean = _result(copy, "drift", "tenants")
    assert (clean["status"], clean["commit"], clean["env"]) == ("allowlisted", deployed, "dev")
    assert {f["allowed_by"] is not None for f in clean["findings"]} == {True}  # role noise
    assert _result(copy, "drift", "templates")["status"] == "clean"

    # drift appears: one issue, one message
    dynamodb = copy.session("dev").client("dynamodb")
    dynamodb.update_continuous_backups(
        TableName="tenants", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False})
    run = _scheduled(copy, github, slack, "drift.yml", "drift")
    assert run.returncode == 2, run.output
    (issue,) = github.with_label("drift", "open")
    assert issue["title"] == "Drift: tenants in dev"
    assert issue["body"].startswith(MARKER + "\n<!-- bbws-signature ")
    assert "point_in_time_recovery[0].enabled: true -> false" in issue["body"]
    drifted = _result(copy, "drift", "tenants")
    (finding,) = [f for f in drifted["findings"] if f["allowed_by"] is None]
    assert drifted["status"] == "drifted" and finding["address"] == TABLE
    assert finding["attributes"] == ["point_in_time_recovery[0].enabled"]
    assert f"`{finding['fingerprint']}`" in issue["body"]
    assert slack.texts() == [f"dev: drift appeared (tenants (issue #{issue['number']})) at "
                             f"{deployed[:12]} by scheduler (GitHub Actions); run: "
                             f"{run.url}"]
    assert f"drift tenants in dev: opened issue #{issue['number']}" in run.summary

    # the same drift the next morning: same fingerprint, nothing written, nothing posted
    writes = len(github.writes())
    run = _scheduled(copy, github, slack, "drift.yml", "drift")
    assert run.returncode == 2, run.output
    assert _result(copy, "drift", "tenants")["findings"] == drifted["findings"]
    assert len(github.writes()) == writes and len(slack.messages) == 1
    assert f"unchanged, issue #{issue['number']} left as it is" in run.summary

    # the drift changes (a tag added by hand): the same issue is edited, one message more
    arn = dynamodb.describe_table(TableName="tenants")["Table"]["TableArn"]
    dynamodb.tag_resource(ResourceArn=arn, Tags=[{"Key": "TouchedBy", "Value": "someone"}])
    run = _scheduled(copy, github, slack, "drift.yml", "drift")
    assert run.returncode == 2, run.output
    assert [i["number"] for i in github.with_label("drift")] == [issue["number"]]
    edited = github.issues[issue["number"]]
    assert "tags.TouchedBy: (absent) -> \"someone\"" in edited["body"], edited["body"]
    (changed,) = [f for f in _result(copy, "drift", "tenants")["findings"]
                  if f["allowed_by"] is None]
    assert changed["fingerprint"] != finding["fingerprint"]
    assert github.comments[issue["number"]][-1].startswith("This changed: tenants in dev.")
    assert slack.texts()[1].startswith(f"dev: drift changed (tenants (issue #{issue['number']}))")

    # accepting prints the entries for a pull request; the tracked allowlist is left alone
    accepted = copy.ok("drift", "--env", "dev", "--component", "tenants", "--accept",
                       "--reason", "A test switched it off.")
    entries = (copy.work / "drift-accept" / "dev.yml").read_text().split("\n", 1)[1]
    assert f"  - component: tenants\n    address: {TABLE}\n    env: dev\n" in entries
    assert entries in accepted
    assert repo_copy.git(copy.root, "status", "--porcelain") == ""
    allowlist = copy.root / "envs" / "drift-allowlist.yml"
    committed = allowlist.read_text()
    allowlist.write_text(committed + entries)
    code = copy.invoke("drift", "--env", "dev", "--component", "tenants").returncode
    allowlist.write_text(committed)
    assert code == 0

    # put back through a reviewed bundle: revert plans it, apply applies it
    reverted = copy.ok("drift", "--env", "dev", "--component", "tenants", "--revert")
    assert "once approved: invoke apply --env dev --component tenants" in reverted
    record = json.loads((copy.bundle_dir("dev", "tenants") / "bundle.json").read_text())
    assert (record["commit"], record["change"]) == (deployed, 1)
    copy.ok("apply", "--env", "dev", "--component", "tenants", "--confirm", "deploy-dev")

    # gone: the issue is closed with a comment, one message more, and no issue opened
    run = _scheduled(copy, github, slack, "drift.yml", "drift")
    assert run.returncode == 0, run.output
    assert github.issues[issue["number"]]["state"] == "closed"
    assert github.comments[issue["number"]][-1].startswith("The drift of tenants in dev is gone.")
    assert len(github.issues) == 1
    assert slack.texts()[2].startswith(f"dev: drift gone (tenants (issue #{issue['number']}))")
    assert len(slack.messages) == 3
    print("\n--- issue body ---\n" + edited["body"] + "\n--- comments ---\n"
          + "\n".join(github.comments[issue["number"]]) + "\n--- slack ---\n"
          + "\n".join(slack.texts()))


def test_scheduled_verify_reports_a_failed_last_apply_as_unknown(
        copy: Copy, deployed: str, github: IssuesApi, slack: SlackWebhook):
    # campaigns' first apply fails: its table exists already (made by hand)
    copy.ok("plan", "--env", "dev", "--component", "campaigns")
    copy.session("dev").client("dynamodb").create_table(
        TableName="campaigns", BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}])
    failed = copy.invoke("apply", "--env", "dev", "--component", "campaigns", "--confirm",
                         "deploy-dev")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    (record,) = copy.deployments("dev", "--component", "campaigns")
    assert record["result"] == "failed"

    run = _scheduled(copy, github, slack, "verify.yml", "verify")
    assert run.returncode == 1, run.output
    campaigns = _result(copy, "verify", "campaigns")
    assert campaigns["status"] == "unknown"
    assert campaigns["reason"].startswith(
        f"the last apply of campaigns in dev (commit {deployed[:12]}, started ")
    assert "failed: " in campaigns["reason"]
    tenants = _result(copy, "verify", "tenants")
    assert (tenants["status"], tenants["problems"], tenants["reason"], tenants["commit"]) == (
        "healthy", [], None, deployed)
    never = _result(copy, "verify", "products")
    assert (never["status"], never["reason"]) == (
        "unknown", "nothing was ever applied to products in dev")
    assert _result(copy, "verify", "templates")["status"] == "healthy"
    issues = {i["title"]: i for i in github.with_label("verify", "open")}
    assert set(issues) == {f"Verify: {c} in dev is unknown"
                           for c in ("campaigns", "products", "alerts")}
    body = issues["Verify: campaigns in dev is unknown"]["body"]
    assert body.startswith("<!-- bbws-health verify dev campaigns -->\n")
    assert "is **unknown**: the last apply of campaigns in dev" in body
    numbers = {title.split()[1]: i["number"] for title, i in issues.items()}
    assert sorted(slack.texts()) == sorted(
        f"dev: verify unknown ({c} (issue #{n})) at {deployed[:12]} by scheduler (GitHub "
        f"Actions); run: {run.url}" for c, n in numbers.items())
    assert "unknown: campaigns: the last apply of campaigns" in run.result.stderr
    assert "verify campaigns in dev: opened issue" in run.summary

    # the next morning: the same results, nothing written, nothing posted
    writes, told = len(github.writes()), len(slack.messages)
    run = _scheduled(copy, github, slack, "verify.yml", "verify")
    assert run.returncode == 1, run.output
    assert (len(github.writes()), len(slack.messages)) == (writes, told)
    print("\n--- verify issue body ---\n" + body + "\n--- slack ---\n" + "\n".join(slack.texts()))
