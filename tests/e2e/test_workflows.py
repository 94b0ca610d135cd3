"""The release workflows' jobs, run for real on the sandbox: deploy-dev, promote-sit and rollback
dispatched with their inputs filled in, each job's `run:` commands executed by bash in order,
exactly as written, with the job's env (the target switched from aws to the sandbox). Steps that
only prepare a runner (checkout, Python, pip, credentials, artifacts) are GitHub's part: the
repository copy, its installed environment and one work directory stand in for them.

GitHub's part of an approval is played here too: the approval jobs run once per environment the
plan job listed (its `gates` output), and the run's review history is served by a local
stand-in for GitHub's REST API on 127.0.0.1 (GITHUB_API_URL), shaped like GitHub's answer, with
the reviewers the test chooses (each a member of the approval role's team its env needs); like
GitHub's, one history per run accumulates over its attempts (re-runs). Too few different people
in the current attempt make the job that changes the env refuse before anything is changed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.support.github_api import REPOSITORY, TEAMS_TOKEN, TOKEN, GitHubApi
from tests.support.local_http import serving
from tests.support.repo_copies import Copy, make_copy
from tests.support.workflow_files import called_workflow, job_commands, load
from tests.support.workflow_runs import STARTER, Run, dispatch, release_context

pytestmark = pytest.mark.e2e

@pytest.fixture(scope="module")
def api() -> Iterator[GitHubApi]:
    with serving(GitHubApi()) as server:
        # the approval roles' teams (pipeline/approval_teams.py) of the approvers below
        server.member("bbws-lead-devs", "bob", "carol")
        server.member("bbws-tech-leads", "dave")
        server.member("bbws-qa", "carol")
        server.member("bbws-product-owners", "bob")
        server.member("bbws-devops", "carol")
        server.member("bbws-break-glass", "erin")
        yield server


@pytest.fixture(scope="module")
def copy(work, tmp_path_factory):
    yield from make_copy("workflows", work, tmp_path_factory)


def test_deploy_dev_promote_sit_and_rollback_as_the_workflows_run_them(copy: Copy,
                                                                        api: GitHubApi):
    run = dispatch(copy, api, "deploy-dev.yml", {"confirm": "deploy-dev", "component": ""},
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
    context = release_context(passed)
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
    histories = [r for r in api.requests if r.endswith("/approvals")]
    assert histories[-2:] == [f"/repos/{REPOSITORY}/actions/runs/{run.id}/approvals"] * 2
    # and whether its approvers are in the approval roles' teams: dave a Tech Lead, carol QA
    assert {"/orgs/acme/teams/bbws-tech-leads/memberships/dave",
            "/orgs/acme/teams/bbws-qa/memberships/carol"} <= set(api.requests)

    # a second release of dev, then the rollback workflow takes templates back
    template = copy.root / "s3" / "templates" / "templates" / "receipts" / "receipt.html"
    template.write_text(template.read_text() + "<!-- reworded -->\n")
    copy.commit("reword a receipt")
    before = copy.json("state-versions", "--env", "dev", "--component", "templates")[0]
    dispatch(copy, api, "deploy-dev.yml", {"confirm": "deploy-dev", "component": "templates"},
              approvers=["carol"])

    rollback = load("rollback.yml")
    inputs = {"env": "dev", "component": "templates", "version_id": before["version_id"],
              "confirm": "rollback-dev"}
    context = {"inputs": inputs, "needs": {"rollback": {"result": "success"}},
               "secrets": {"APPROVER_TEAMS_TOKEN": TEAMS_TOKEN}, "github": {"token": TOKEN}}
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
               "secrets": {"APPROVER_TEAMS_TOKEN": TEAMS_TOKEN}, "github": {"token": TOKEN}}
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
