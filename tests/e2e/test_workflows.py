"""The release workflows' jobs, run for real on the sandbox: deploy-dev, promote-sit and rollback
dispatched with their inputs filled in, each job's `run:` commands executed by bash in order,
exactly as written, with the job's env (the target switched from aws to the sandbox). Steps that
only prepare a runner (checkout, Python, pip, credentials, artifacts) are GitHub's part: the
repository copy, its installed environment and one work directory stand in for them.
"""

from __future__ import annotations

import subprocess

import pytest

from bbws_infra import repo_copy
from tests.e2e.repo_copies import Copy, make_copy
from tests.workflow_files import Command, called_workflow, job_commands, load

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def copy(work, tmp_path_factory):
    yield from make_copy("workflows", work, tmp_path_factory)


def _run(copy: Copy, commands: list[Command]) -> list[str]:
    outputs = []
    for command in commands:
        if command.line.startswith("pip "):
            continue  # the copy runs in this test's installed environment
        env = repo_copy.cli_env(copy.root, copy.work,
                                {**command.env, "BBWS_TARGET": "sandbox",
                                 "SLACK_WEBHOOK_URL": None, "GITHUB_STEP_SUMMARY": None})
        result = subprocess.run(["bash", "-e", "-c", command.line], cwd=copy.root, env=env,
                                capture_output=True, text=True, timeout=900)
        assert result.returncode == 0, (command, result.stdout, result.stderr)
        outputs.append(result.stdout)
    return outputs


def _dispatch(copy: Copy, workflow: str, inputs: dict[str, str]) -> list[str]:
    """Every job of a release workflow, in order (plan, the approved apply, notify)."""
    called, passed = called_workflow(load(workflow), inputs)
    context = {"inputs": passed, "needs": {"plan": {"result": "success"},
                                           "apply": {"result": "success"}},
               "secrets": {}}
    out = []
    for job_id in ("plan", "apply", "notify"):
        out += _run(copy, job_commands(called, job_id, context))
    return out


def test_deploy_dev_promote_sit_and_rollback_as_the_workflows_run_them(copy: Copy):
    _dispatch(copy, "deploy-dev.yml", {"confirm": "deploy-dev", "component": ""})
    first = copy.head()
    dev = copy.json("history", "--env", "dev")
    assert {(r["action"], r["commit"], r["verification"]) for r in dev} == {
        ("apply", first, "passed")}

    _dispatch(copy, "promote-sit.yml", {"confirm": "promote-sit", "component": ""})
    sit = copy.json("history", "--env", "sit")
    assert len(sit) == len(dev)
    assert {(r["action"], r["commit"], r["verification"]) for r in sit} == {
        ("promote", first, "passed")}

    # a second release of dev, then the rollback workflow takes templates back
    template = copy.root / "s3" / "templates" / "templates" / "receipts" / "receipt.html"
    template.write_text(template.read_text() + "<!-- reworded -->\n")
    copy.commit("reword a receipt")
    before = copy.json("state-versions", "--env", "dev", "--component", "templates")[0]
    _dispatch(copy, "deploy-dev.yml", {"confirm": "deploy-dev", "component": "templates"})

    rollback = load("rollback.yml")
    inputs = {"env": "dev", "component": "templates", "version_id": before["version_id"],
              "confirm": "rollback-dev"}
    context = {"inputs": inputs, "needs": {"rollback": {"result": "success"}}, "secrets": {}}
    _run(copy, job_commands(rollback, "rollback", context))
    _run(copy, job_commands(rollback, "notify", context))
    (record,) = copy.json("history", "--env", "dev", "--component", "templates", "--limit", "1")
    assert (record["action"], record["commit"], record["rolled_back_to"],
            record["verification"]) == ("rollback", first, before["version_id"], "passed")
