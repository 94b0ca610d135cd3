"""The release workflows' jobs, run for real on the sandbox: deploy-dev, promote-sit and rollback
dispatched with their inputs filled in, each job's `run:` commands executed by bash in order,
exactly as written, with the job's env (the target switched from aws to the sandbox). Steps that
only prepare a runner (checkout, Python, pip, credentials, artifacts) are GitHub's part: the
repository copy, its installed environment and one work directory stand in for them.

GitHub's part of an approval is played here too: the approval jobs run once per environment the
plan job listed (its `gates` output), and the run's review history is served by a local
stand-in for GitHub's REST API on 127.0.0.1 (GITHUB_API_URL), shaped like GitHub's answer, with
the reviewers the test chooses; like GitHub's, one history per run accumulates over its
attempts (re-runs). Too few different people in the current attempt make the job that changes
the env refuse before anything is changed.
"""

from __future__ import annotations

import itertools
import json
import subprocess
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from bbws_infra.bench import repo_copy
from tests.support.local_http import PROXIES, serving
from tests.support.repo_copies import Copy, make_copy
from tests.support.workflow_files import Command, called_workflow, job_commands, load

pytestmark = pytest.mark.e2e

REPOSITORY = "acme/bbws-infra"
STARTER = "alice"  # who dispatches every run here
TOKEN = "ghs_thisrunstoken"


class GitHubApi(ThreadingHTTPServer):
    """The review history of each run: GET /repos/<repo>/actions/runs/<id>/approvals answers
    what `history[id]` holds; anything else, or another token, is GitHub's 404."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.history: dict[str, list[dict[str, Any]]] = {}
        self.requests: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def record(self, run_id: str, approvals: list[tuple[str, str]]) -> None:
        """More reviews of a run, after those it has: (login, environment) per approval."""
        start = len(self.history.setdefault(run_id, []))
        self.history[run_id] += [{
            "state": "approved", "comment": "",
            "environments": [{"id": 100 + i, "node_id": f"EN_{i}", "name": environment,
                              "url": f"https://api.github.com/repos/{REPOSITORY}/environments/"
                                     f"{environment}",
                              "html_url": f"https://github.com/{REPOSITORY}/deployments",
                              "created_at": "2024-03-04T09:12:40Z",
                              "updated_at": "2024-03-04T09:12:40Z"}],
            "user": {"login": login, "id": 5000 + i, "type": "User", "site_admin": False},
        } for i, (login, environment) in enumerate(approvals, start)]


class _Handler(BaseHTTPRequestHandler):
    server: GitHubApi

    def do_GET(self) -> None:
        self.server.requests.append(self.path)
        parts = self.path.split("/")  # "", repos, owner, name, actions, runs, id, approvals
        run_id = parts[6] if len(parts) == 8 else ""
        known = (self.path == f"/repos/{REPOSITORY}/actions/runs/{run_id}/approvals"
                 and run_id.isdigit()
                 and self.headers.get("Authorization") == f"Bearer {TOKEN}")
        history = self.server.history.get(run_id, [])  # a new run: nobody reviewed yet
        body = json.dumps(history if known else {"message": "Not Found"})
        self.send_response(200 if known else 404)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body.encode())))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def api() -> Iterator[GitHubApi]:
    with serving(GitHubApi()) as server:
        yield server


@pytest.fixture(scope="module")
def copy(work, tmp_path_factory):
    yield from make_copy("workflows", work, tmp_path_factory)


_RUN_IDS = itertools.count(7000000001)


class Run:
    """One workflow run: its id, the runner's variables, and the step outputs of its jobs."""

    def __init__(self, copy: Copy, api: GitHubApi) -> None:
        self.copy, self.api = copy, api
        self.id = str(next(_RUN_IDS))
        self.attempt = 1  # GITHUB_RUN_ATTEMPT: a re-run is the next attempt of the same run
        self.outputs: dict[str, dict[str, str]] = {}

    def runner(self, job: str) -> dict[str, str | None]:
        output = self.copy.work / f"github-output-{self.id}-{self.attempt}-{job}"
        output.touch()
        return {"GITHUB_RUN_ID": self.id, "GITHUB_RUN_ATTEMPT": str(self.attempt),
                "GITHUB_REPOSITORY": REPOSITORY,
                "GITHUB_API_URL": self.api.url, "GITHUB_ACTOR": STARTER,
                "GITHUB_TRIGGERING_ACTOR": STARTER, "GITHUB_OUTPUT": str(output),
                **dict.fromkeys(PROXIES)}

    def job(self, commands: list[Command], job: str, expect: int = 0
            ) -> subprocess.CompletedProcess | None:
        """Run a job's commands in order; the first that exits non-zero ends the job (and must
        be `expect`); its step outputs are kept. The failed command, if any."""
        runner = self.runner(job)
        for command in commands:
            if command.line.startswith("pip "):
                continue  # the copy runs in this test's installed environment
            env = repo_copy.cli_env(self.copy.root, self.copy.work, {
                **command.env, **runner, "BBWS_TARGET": "sandbox", "SLACK_WEBHOOK_URL": None,
                "GITHUB_STEP_SUMMARY": None})
            result = subprocess.run(["bash", "-e", "-c", command.line], cwd=self.copy.root,
                                    env=env, capture_output=True, text=True, timeout=900)
            if result.returncode:
                assert result.returncode == expect, (command, result.stdout, result.stderr)
                return result
        assert expect == 0, (job, "every command passed")
        lines = Path(str(runner["GITHUB_OUTPUT"])).read_text().splitlines()
        self.outputs[job] = dict(line.split("=", 1) for line in lines)
        return None

    def approve(self, workflow: dict, context: dict, lister: str, env: str,
                approvers: list[str]) -> list[str]:
        """The approval jobs of the gates `lister` listed (one per gate, as the matrix does),
        and the review history GitHub records: one approver per gate, then the env's own."""
        gates = json.loads(self.outputs[lister]["gates"])
        for gate in gates:
            self.job(job_commands(workflow, "approve", {**context, "matrix": {"gate": gate}}),
                     "approve")
        environments = [*gates, env]
        assert len(approvers) == len(environments), (environments, approvers)
        self.api.record(self.id, list(zip(approvers, environments, strict=True)))
        return gates

    def after_failure(self, workflow: dict, context: dict, job: str) -> str:
        """The steps a failed job still runs (`if: cancelled() || failure()`), as GitHub runs
        them after the failed step; the job summary they wrote."""
        summary = self.copy.work / f"summary-{self.id}-{self.attempt}-{job}.md"
        failed = {**context, "job": {"status": "failure"}}
        steps = [c for c in job_commands(workflow, job, failed)
                 if c not in job_commands(workflow, job, context)]
        assert steps, f"{job} runs nothing when it fails"
        for command in steps:
            env = repo_copy.cli_env(self.copy.root, self.copy.work, {
                **command.env, **self.runner(job), "BBWS_TARGET": "sandbox",
                "GITHUB_STEP_SUMMARY": str(summary)})
            subprocess.run(["bash", "-e", "-c", command.line], cwd=self.copy.root, env=env,
                           capture_output=True, text=True, timeout=900)
        return summary.read_text()

    def lister(self, workflow: dict, context: dict, job: str) -> None:
        """The job that lists the gates and records the review history before this attempt's
        approvals; its outputs become `needs.<job>.outputs` for the later jobs."""
        self.job(job_commands(workflow, job, context), job)
        context["needs"][job]["outputs"] = self.outputs[job]


def _release_context(passed: dict[str, str]) -> dict:
    return {"inputs": passed, "needs": {"plan": {"result": "success"},
                                        "apply": {"result": "success"}},
            "secrets": {}, "github": {"token": TOKEN}}


def _dispatch(copy: Copy, api: GitHubApi, workflow: str, inputs: dict[str, str],
              approvers: list[str]) -> Run:
    """Every job of a release workflow, in order: plan, the approval jobs, the apply (which
    counts the approvals), notify."""
    called, passed = called_workflow(load(workflow), inputs)
    context = _release_context(passed)
    run = Run(copy, api)
    run.lister(called, context, "plan")
    run.approve(called, context, "plan", passed["env"], approvers)
    run.job(job_commands(called, "apply", context), "apply")
    run.job(job_commands(called, "notify", context), "notify")
    return run


def test_deploy_dev_promote_sit_and_rollback_as_the_workflows_run_them(copy: Copy,
                                                                        api: GitHubApi):
    run = _dispatch(copy, api, "deploy-dev.yml", {"confirm": "deploy-dev", "component": ""},
                    approvers=["bob"])
    assert run.outputs["plan"]["gates"] == "[]"  # dev: no approval jobs
    first = copy.head()
    dev = copy.deployments("dev")
    assert {(r["action"], r["commit"], r["verification"]) for r in dev} == {
        ("apply", first, "passed")}

    # promote-sit: one person approving both sit-approval-1 and sit is one approval, so the
    # apply job refuses before anything is changed
    called, passed = called_workflow(load("promote-sit.yml"),
                                     {"confirm": "promote-sit", "component": ""})
    context = _release_context(passed)
    run = Run(copy, api)
    run.lister(called, context, "plan")
    assert run.approve(called, context, "plan", "sit", ["bob", "bob"]) == ["sit-approval-1"]
    before = (copy.snapshot("sit"), copy.deployments("sit"))
    refused = run.job(job_commands(called, "apply", context), "apply", expect=2)
    assert refused is not None and refused.args[-1] == 'invoke approvals --env "$ENV_NAME"'
    assert " ".join(refused.stderr.split()) == (
        "error: sit needs approvals from 2 different people besides alice, who started this "
        "run, but only bob approved: 1 missing, so nothing was changed.")
    assert (copy.snapshot("sit"), copy.deployments("sit")) == before
    assert before[1] == []
    # the failed job ends with doctor, whose findings go to the job summary
    assert run.after_failure(called, context, "apply").startswith(
        "### state health in sit (sandbox): every check passed\n")

    # attempt 2, "re-run failed jobs": only apply runs again, carol approves its environment,
    # but the plan job's history is attempt 1's, so no approval can be told apart: refused
    run.attempt = 2
    api.record(run.id, [("carol", "sit")])
    refused = run.job(job_commands(called, "apply", context), "apply", expect=2)
    assert "re-run all jobs, so that every approval is given again" in " ".join(
        refused.stderr.split())
    assert (copy.snapshot("sit"), copy.deployments("sit")) == before

    # attempt 3, "re-run all jobs": dave approves the gate and the starter sit. Bob's and
    # carol's approvals were given to earlier attempts and the starter's own never counts.
    run.attempt = 3
    run.lister(called, context, "plan")
    run.approve(called, context, "plan", "sit", ["dave", STARTER])
    refused = run.job(job_commands(called, "apply", context), "apply", expect=2)
    assert " ".join(refused.stderr.split()) == (
        "error: sit needs approvals from 2 different people besides alice, who started this "
        "run, but only dave approved in attempt 3 of the run (approvals of earlier attempts do "
        "not count) (alice's own approval does not count): 1 missing, so nothing was changed.")
    assert copy.deployments("sit") == before[1]

    # attempt 4: two other people approve this attempt; the reviewed bundles are applied
    run.attempt = 4
    run.lister(called, context, "plan")
    run.approve(called, context, "plan", "sit", ["dave", "carol"])
    run.job(job_commands(called, "apply", context), "apply")
    run.job(job_commands(called, "notify", context), "notify")
    sit = copy.deployments("sit")
    assert len(sit) == len(dev)
    assert {(r["action"], r["commit"], r["verification"]) for r in sit} == {
        ("promote", first, "passed")}
    # each apply job (and each plan job, for its baseline) asked for this run's history
    assert api.requests[-2:] == [f"/repos/{REPOSITORY}/actions/runs/{run.id}/approvals"] * 2

    # a second release of dev, then the rollback workflow takes templates back
    template = copy.root / "s3" / "templates" / "templates" / "receipts" / "receipt.html"
    template.write_text(template.read_text() + "<!-- reworded -->\n")
    copy.commit("reword a receipt")
    before = copy.json("state-versions", "--env", "dev", "--component", "templates")[0]
    _dispatch(copy, api, "deploy-dev.yml", {"confirm": "deploy-dev", "component": "templates"},
              approvers=["carol"])

    rollback = load("rollback.yml")
    inputs = {"env": "dev", "component": "templates", "version_id": before["version_id"],
              "confirm": "rollback-dev"}
    context = {"inputs": inputs, "needs": {"rollback": {"result": "success"}}, "secrets": {},
               "github": {"token": TOKEN}}
    context["needs"]["gates"] = {"result": "success"}
    run = Run(copy, api)
    run.lister(rollback, context, "gates")
    assert run.approve(rollback, context, "gates", "dev", ["bob"]) == []
    run.job(job_commands(rollback, "rollback", context), "rollback")
    run.job(job_commands(rollback, "notify", context), "notify")
    (record,) = copy.json("history", "--env", "dev", "--component", "templates", "--limit", "1")
    assert (record["action"], record["commit"], record["rolled_back_to"],
            record["verification"]) == ("rollback", first, before["version_id"], "passed")


def test_break_glass_replaces_a_protected_prod_table_after_one_approval_more(copy: Copy,
                                                                              api: GitHubApi):
    """A promotion whose plan replaces a protected prod table runs only through the
    break-glass workflow: prod's approval jobs and one more, the break-glass environment last,
    four different people besides the starter; with three the apply job refuses and nothing
    changes. (Which role may delete is proven by evaluating the policies:
    tests/unit/pipeline/test_break_glass.py and tests/e2e/test_iam_policy.py.)"""
    table = "module.table.aws_dynamodb_table.this"
    # products as it runs now, in every env (the CLI stands in for the release workflows)
    copy.ok("plan", "--env", "dev", "--component", "products")
    copy.ok("apply", "--env", "dev", "--component", "products", "--confirm", "deploy-dev")
    for env in ("sit", "prod"):
        copy.ok("promote", "--to", env, "--component", "products", "--confirm", f"promote-{env}")
    # a new sort key: DynamoDB can only replace the table
    schema = copy.root / "dynamodb" / "products" / "product.schema.json"
    schema.write_text(schema.read_text().replace('"rangeKey": "SK"', '"rangeKey": "id"'))
    rekeyed = copy.commit("re-key products (a replacement)")
    copy.ok("plan", "--env", "dev", "--component", "products")
    copy.ok("apply", "--env", "dev", "--component", "products", "--confirm", "deploy-dev")
    copy.ok("promote", "--to", "sit", "--component", "products", "--confirm", "promote-sit")

    workflow = load("break-glass.yml")
    inputs = {"env": "prod", "component": "products", "allow_destroy": table,
              "confirm": "promote-prod", "confirm_destroy": "destroy-prod"}
    context = {"inputs": inputs, "needs": {"plan": {"result": "success"},
                                           "apply": {"result": "success"}},
               "secrets": {}, "github": {"token": TOKEN}}
    run = Run(copy, api)
    run.lister(workflow, context, "plan")
    # prod needs 3; break glass one more: three approval jobs, then prod-break-glass
    assert json.loads(run.outputs["plan"]["gates"]) == [
        "prod-approval-1", "prod-approval-2", "prod-approval-3"]
    gates = json.loads(run.outputs["plan"]["gates"])
    for gate in gates:
        run.job(job_commands(workflow, "approve", {**context, "matrix": {"gate": gate}}),
                "approve")
    # three people, as many as a normal prod promotion needs, are not enough
    api.record(run.id, list(zip(["bob", "carol", "dave"], gates, strict=True)))
    before = (copy.snapshot("prod"), copy.deployments("prod"))
    refused = run.job(job_commands(workflow, "apply", context), "apply", expect=2)
    assert refused is not None
    assert refused.args[-1] == 'invoke approvals --env "$ENV_NAME" --break-glass'
    assert " ".join(refused.stderr.split()) == (
        "error: prod-break-glass needs approvals from 4 different people besides alice, who "
        "started this run, but bob, carol and dave approved: 1 missing, so nothing was "
        "changed.")
    assert (copy.snapshot("prod"), copy.deployments("prod")) == before

    # the break-glass environment's reviewer approves too: the reviewed plan is applied
    api.record(run.id, [("erin", "prod-break-glass")])
    run.job(job_commands(workflow, "apply", context), "apply")
    run.job(job_commands(workflow, "notify", context), "notify")
    keys = copy.session("prod").client("dynamodb").describe_table(
        TableName="products")["Table"]["KeySchema"]
    assert {"AttributeName": "id", "KeyType": "RANGE"} in keys
    record = copy.deployments("prod", "--component", "products")[0]
    assert (record["action"], record["commit"], record["verification"]) == (
        "promote", rekeyed, "passed")
    assert record["backups"], "the protected env backed the table up before replacing it"
