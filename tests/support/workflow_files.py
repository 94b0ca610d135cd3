"""Reading .github/workflows for the tests: jobs, steps, and the commands a job runs with its
inputs filled in (the expressions the workflows use are few and simple, and evaluated here the
way GitHub would)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

WORKFLOWS = Path(__file__).resolve().parents[2] / ".github" / "workflows"
_EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def load(name: str) -> dict:
    document = yaml.safe_load((WORKFLOWS / name).read_text())
    # YAML 1.1 reads the key `on` as True
    if True in document:
        document["on"] = document.pop(True)
    return document


def all_workflows() -> dict[str, dict]:
    return {path.name: load(path.name) for path in sorted(WORKFLOWS.glob("*.yml"))}


def run_lines(workflow: dict) -> Iterator[tuple[str, str]]:
    """(job id, command line) of every `run:` step."""
    for job_id, job in workflow.get("jobs", {}).items():
        for step in job.get("steps", []):
            for line in str(step.get("run", "")).splitlines():
                if line.strip():
                    yield job_id, line.strip()


def _lookup(path: str, context: dict) -> str:
    value: object = context
    for part in path.split("."):
        value = value.get(part, "") if isinstance(value, dict) else ""
    return str(value)


_STATUS_FUNCTIONS = {"success()": "success", "failure()": "failure", "cancelled()": "cancelled"}


def evaluate(expression: str, context: dict) -> str:
    """`a.b.c`, `a.b || 'x'`, `a.b == 'x'` and status checks such as `cancelled() || failure()`
    (true when `job.status` in the context, success by default, is one of them): the forms the
    release workflows use; `always()` is true whatever the status."""
    terms = [term.strip() for term in expression.split("||")]
    if "always()" in terms:
        return "true"
    if all(term in _STATUS_FUNCTIONS for term in terms):
        status = _lookup("job.status", context) or "success"
        return "true" if any(_STATUS_FUNCTIONS[t] == status for t in terms) else "false"
    match = re.fullmatch(r"([\w.]+)\s*==\s*'([^']*)'", expression)
    if match:
        return "true" if _lookup(match.group(1), context) == match.group(2) else "false"
    match = re.fullmatch(r"([\w.]+)(?:\s*\|\|\s*'([^']*)')?", expression)
    if not match:
        raise ValueError(f"expression not understood here: {expression}")
    return _lookup(match.group(1), context) or (match.group(2) or "")


def substitute(text: str, context: dict) -> str:
    return _EXPRESSION.sub(lambda m: evaluate(m.group(1), context), str(text))


@dataclass
class Command:
    job: str
    line: str
    env: dict[str, str]


def job_commands(workflow: dict, job_id: str, context: dict
                 ) -> list[Command]:
    """The `run:` commands one job would run, in order, each with the job's and step's env
    evaluated; steps whose `if:` is false are left out."""
    job = workflow["jobs"][job_id]
    env = {k: substitute(v, context) for k, v in (job.get("env") or {}).items()}
    commands = []
    for step in job.get("steps", []):
        if "run" not in step:
            continue
        condition = step.get("if")
        if condition is not None and evaluate(str(condition).strip("${} "), context) != "true":
            continue
        step_env = {**env, **{k: substitute(v, context)
                              for k, v in (step.get("env") or {}).items()}}
        commands += [Command(job_id, line.strip(), step_env)
                     for line in str(step["run"]).splitlines() if line.strip()]
    return commands


def called_workflow(caller: dict, inputs: dict[str, str]) -> tuple[dict, dict[str, str]]:
    """A caller's reusable workflow and the inputs it passes (the caller's own inputs filled
    in, the called workflow's defaults for the rest)."""
    (job,) = caller["jobs"].values()
    called = load(Path(job["uses"]).name)
    declared = called["on"]["workflow_call"]["inputs"]
    passed = {k: substitute(v, {"inputs": inputs}) for k, v in (job.get("with") or {}).items()}
    return called, {k: passed.get(k, str(spec.get("default", ""))) for k, spec in
                    declared.items()}
