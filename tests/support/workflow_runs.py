"""Workflow runs played on the sandbox: each job's `run:` commands executed by bash in order,
exactly as written, with the job's env (the target switched from aws to the sandbox) and the
variables a GitHub runner sets. Steps that only prepare a runner (checkout, Python, pip,
credentials, artifacts) are GitHub's part: the repository copy, its installed environment and
one work directory stand in for them. GitHub's REST API (and a Slack webhook) is the local
stand-in of tests/support/github_api.py.
"""

from __future__ import annotations

import itertools
import json
import subprocess
from pathlib import Path

from tests.support.github_api import REPOSITORY, TEAMS_TOKEN, TOKEN, GitHubApi
from tests.support.local_http import PROXIES
from tests.support.repo_copies import Copy
from tests.support.workflow_files import Command, called_workflow, job_commands, load

STARTER = "alice"  # who dispatches every run here
# Wednesday 10:00 in South Africa: inside prod's deployment window (release_windows.py)
WORKDAY = "2026-12-02T10:00:00+02:00"
_RUN_IDS = itertools.count(7000000001)


class Run:
    """One workflow run: its id, the runner's variables, and the step outputs of its jobs."""

    def __init__(self, copy: Copy, api: GitHubApi) -> None:
        self.copy, self.api = copy, api
        self.id = str(next(_RUN_IDS))
        self.attempt = 1  # GITHUB_RUN_ATTEMPT: a re-run is the next attempt of the same run
        self.outputs: dict[str, dict[str, str]] = {}
        # what the runner adds to every step (a pull request's event, a clock, Slack, ...)
        self.extra: dict[str, str | None] = {"BBWS_CLOCK": WORKDAY, "SLACK_WEBHOOK_URL": None,
                                             "GITHUB_STEP_SUMMARY": None}

    def runner(self, job: str) -> dict[str, str | None]:
        output = self.copy.work / f"github-output-{self.id}-{self.attempt}-{job}"
        output.touch()
        return {"GITHUB_RUN_ID": self.id, "GITHUB_RUN_ATTEMPT": str(self.attempt),
                "GITHUB_REPOSITORY": REPOSITORY, "GITHUB_SERVER_URL": "https://github.com",
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
            env = self.copy.shell_env({**command.env, **runner, "BBWS_TARGET": "sandbox",
                                       **self.extra})
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
            env = self.copy.shell_env({**command.env, **self.runner(job),
                                       "BBWS_TARGET": "sandbox",
                                       "GITHUB_STEP_SUMMARY": str(summary)})
            subprocess.run(["bash", "-e", "-c", command.line], cwd=self.copy.root, env=env,
                           capture_output=True, text=True, timeout=900)
        return summary.read_text()

    def lister(self, workflow: dict, context: dict, job: str) -> None:
        """The job that lists the gates and records the review history before this attempt's
        approvals; its outputs become `needs.<job>.outputs` for the later jobs."""
        self.job(job_commands(workflow, job, context), job)
        context["needs"][job]["outputs"] = self.outputs[job]


def release_context(passed: dict[str, str]) -> dict:
    return {"inputs": passed, "needs": {"plan": {"result": "success"},
                                        "approve": {"result": "success"},
                                        "apply": {"result": "success"}},
            "secrets": {"APPROVER_TEAMS_TOKEN": TEAMS_TOKEN}, "github": {"token": TOKEN}}


def dispatch(copy: Copy, api: GitHubApi, workflow: str, inputs: dict[str, str],
             approvers: list[str], run: Run | None = None) -> Run:
    """Every job of a release workflow, in order: plan, the approval jobs, the apply (which
    counts the approvals), notify."""
    called, passed = called_workflow(load(workflow), inputs)
    context = release_context(passed)
    run = run or Run(copy, api)
    run.lister(called, context, "plan")
    run.approve(called, context, "plan", passed["env"], approvers)
    run.job(job_commands(called, "apply", context), "apply")
    context["needs"]["apply"]["outputs"] = run.outputs["apply"]
    run.job(job_commands(called, "notify", context), "notify")
    return run
