"""The flows people wait on, timed as a user runs them (`invoke ...` in the copy) with their
stages (bbws_infra.engine.timings) and provider starts (bench.stages):

- first contact: the README's first plan (one component, sandbox start included) in a work
  directory that never initialised that component, and `import tasks` (the CLI's start-up);
- the release, from nothing: a fresh sandbox, a full dev deploy (plan every component, apply
  with its verification and ledger records), the promotion of every component to sit; the
  median of `repeats` runs, each on a fresh sandbox;
- one rollback of the templates component (once, last: it commits to the copy).
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
from pathlib import Path

from bbws_infra.bench import repo_copy, stages
from bbws_infra.bench.children import invoke, last_line, run_child
from bbws_infra.core.untyped import JsonObject
from bbws_infra.engine import timings

FIRST_COMPONENT = "tenants"
RELEASE_STEPS = {
    "dev_plan": ("plan", "--env", "dev"),
    "dev_apply_verify": ("apply", "--env", "dev", "--confirm", "deploy-dev"),
    "promote_sit": ("promote", "--to", "sit", "--confirm", "promote-sit"),
}


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 2)


def timed_flow(copy: Path, work: Path, logs: Path, name: str, argv: list[str]
               ) -> tuple[int, str, JsonObject]:
    """Run one command with its stages recorded, its provider starts counted and its CPU
    measured: (exit code, stderr, the flow's summary)."""
    record = logs / f"{name}.timings.jsonl"
    record.unlink(missing_ok=True)
    with stages.ProviderWatch(work) as watch, stages.CpuWatch(work) as cpu:
        code, _, stderr, seconds = run_child(argv, copy, work, logs, name,
                                             extra={timings.ENV_VAR: str(record)})
    return code, stderr, stages.summary(stages.read_spans(record), seconds, watch.counts(),
                                        cpu.seconds)


def median_flow(runs: list[JsonObject]) -> JsonObject:
    """The run of median wall time (its stages and provider starts belong together)."""
    ordered = sorted(runs, key=lambda run: float(run["wall_s"]))
    chosen: JsonObject = dict(ordered[(len(ordered) - 1) // 2])
    chosen["runs_wall_s"] = [run["wall_s"] for run in runs]
    chosen["wall_s"] = _median([float(run["wall_s"]) for run in runs])
    return chosen


def import_seconds(copy: Path, work: Path, logs: Path, repeats: int) -> float:
    """`import tasks` in a fresh interpreter, less the interpreter's own start."""
    code = ("import time; t = time.perf_counter(); import tasks; "
            "print(time.perf_counter() - t)")
    runs = []
    for index in range(repeats):
        status, out, err, _ = run_child([sys.executable, "-c", code], copy, work, logs,
                                        f"import-{index}")
        if status != 0:
            raise RuntimeError(f"import tasks failed: {last_line(err)}")
        runs.append(float(last_line(out)))
    return round(statistics.median(runs), 3)


def first_contact(copy: Path, work: Path, logs: Path, repeats: int) -> JsonObject:
    """The README's first plan, each run on a fresh sandbox with the component's Terraform data
    removed (as in a fresh clone; the plugin cache stays, a one-time download per machine)."""
    runs = []
    for index in range(repeats):
        run_child(invoke("sandbox.down"), copy, work, logs, f"first-reset-{index}")
        shutil.rmtree(work / "terraform" / "data" / "sandbox" / "dev" / FIRST_COMPONENT,
                      ignore_errors=True)
        code, stderr, flow = timed_flow(copy, work, logs, f"first-plan-{index}", invoke(
            "plan", "--env", "dev", "--component", FIRST_COMPONENT))
        if code != 0:
            return {"first_plan_s": None,
                    "first_plan_note": f"invoke plan exited {code}: {last_line(stderr)}"}
        runs.append(flow)
    flow = median_flow(runs)
    return {"first_plan_s": flow["wall_s"],
            "import_tasks_s": import_seconds(copy, work, logs, repeats),
            "flows": {"first_plan": flow}}


def release(copy: Path, work: Path, logs: Path, repeats: int) -> JsonObject:
    """The dev deploy and the promotion to sit from nothing, `repeats` times; medians, and the
    stages of each step's median run. None and why when a step fails."""
    runs: dict[str, list[JsonObject]] = {key: [] for key in RELEASE_STEPS}
    for index in range(repeats):
        run_child(invoke("sandbox.down"), copy, work, logs, f"release-reset-{index}")
        for key, args in RELEASE_STEPS.items():
            code, stderr, flow = timed_flow(copy, work, logs, f"{key}-{index}", invoke(*args))
            if code != 0:
                return {"dev_deploy_s": None, "promote_sit_s": None,
                        "release_note": f"invoke {' '.join(args)} exited {code} after "
                                        f"{flow['wall_s']} s: {last_line(stderr)}"}
            runs[key].append(flow)
    deploys = [plan["wall_s"] + apply["wall_s"]
               for plan, apply in zip(runs["dev_plan"], runs["dev_apply_verify"], strict=True)]
    flows = {key: median_flow(found) for key, found in runs.items()}
    starts: dict[str, int] = {}
    for key in ("dev_plan", "dev_apply_verify"):
        for component, count in flows[key]["provider_starts"].items():
            starts[component] = starts.get(component, 0) + count
    return {
        "dev_plan_s": flows["dev_plan"]["wall_s"],
        "dev_apply_verify_s": flows["dev_apply_verify"]["wall_s"],
        "dev_deploy_s": _median(deploys),
        "promote_sit_s": flows["promote_sit"]["wall_s"],
        "dev_deploy_provider_starts_per_component": max(starts.values(), default=0),
        "promote_provider_starts_per_component":
            flows["promote_sit"]["provider_starts_per_component"],
        "flows": flows,
    }


def rollback(copy: Path, work: Path, logs: Path) -> JsonObject:
    """One rollback of the templates component: a reworded template is committed and deployed
    to dev, then templates goes back to the state version before it (plan, apply, verify)."""
    code, out, stderr, _ = run_child(
        invoke("state-versions", "--env", "dev", "--component", "templates", "--json"),
        copy, work, logs, "rollback-versions")
    if code != 0:
        return {"rollback_templates_s": None, "rollback_note": last_line(stderr)}
    version = json.loads(out)[0]["version_id"]
    template = copy / "s3" / "templates" / "templates" / "receipts" / "receipt.html"
    template.write_text(template.read_text() + "<!-- bench: reworded -->\n")
    repo_copy.git(copy, "commit", "-qam", "bench: reword a receipt")
    steps = [invoke("plan", "--env", "dev", "--component", "templates"),
             invoke("apply", "--env", "dev", "--component", "templates", "--confirm",
                    "deploy-dev"),
             invoke("rollback", "--env", "dev", "--component", "templates", "--version-id",
                    version, "--confirm", "rollback-dev")]
    flow: JsonObject = {}
    for index, argv in enumerate(steps):
        code, stderr, flow = timed_flow(copy, work, logs, f"rollback-{index}", argv)
        if code != 0:
            return {"rollback_templates_s": None,
                    "rollback_note": f"{' '.join(argv[3:6])} exited {code}: "
                                     f"{last_line(stderr)}"}
    return {"rollback_templates_s": flow["wall_s"], "flows": {"rollback_templates": flow}}
