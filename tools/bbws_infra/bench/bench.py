"""`invoke bench`: wall-clock numbers for the Terraform paths people wait on, on the sandbox.

Everything runs in a throw-away copy of the repository with its own work directory and
emulator, so "cold" really is cold (empty plugin cache, no .terraform) and nothing of the
user's tree or sandbox is touched. The copy gets extra generated table components (copies of
dynamodb/tenants) to show how plan time grows with the number of components; since components
are discovered when bbws_infra is imported, the measuring runs in a child process
(`python -m bbws_infra.bench.bench --inner`) whose bbws_infra is the copy's.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ParamSpec

from rich.console import Console

from bbws_infra.bench import flows, migration_bench, repo_copy
from bbws_infra.bench.children import invoke, last_line, run_child
from bbws_infra.core.errors import OperationError
from bbws_infra.core.registry import COMPONENTS, Component, discover_components, load_environment
from bbws_infra.core.untyped import JsonObject
from bbws_infra.engine import interrupts, terraform
from bbws_infra.inputs import schemas
from bbws_infra.plans import operations, runner
from bbws_infra.targets import sandbox, targets

GENERATED_PREFIX = "bench_t"
TEMPLATE_COMPONENT = "tenants"
SIZES = (4, 8, 16)
# Upper bounds: a measurement meets its goal when it is at most this.
GOALS: dict[str, float] = {
    "parallel_over_serial": 0.62,
    "runner_over_bare": 1.05,
    "warm_init_s": 1.0,
    "components_16_over_4": 4.0,
    "check_s": 20,
    "dev_deploy_s": 12,
    "promote_sit_s": 12,
    # the README's first plan against the sandbox start plus bare Terraform's init and plan
    "first_plan_over_bare": 1.0,
}
ONLY = ("migration", "release", "plans")


# ---- pure parts ----------------------------------------------------------------------------


def generated_name(index: int) -> str:
    return f"{GENERATED_PREFIX}{index:02d}"


def generate_components(repo: Path, count: int, template: str = TEMPLATE_COMPONENT
                        ) -> list[str]:
    """Copy dynamodb/<template> as dynamodb/bench_tNN (links stay links), each schema naming
    its own table; the new component names. The table name equals the folder name, as
    validate-schemas requires."""
    source = repo / "dynamodb" / template
    names = []
    for index in range(1, count + 1):
        name = generated_name(index)
        dest = repo / "dynamodb" / name
        shutil.copytree(source, dest, symlinks=True)  # raises if it exists: never overwrite
        schema_path = schemas.schema_file(Component(name, "dynamodb"), repo)
        schema = json.loads(schema_path.read_text())
        schema["x-dynamodb"]["tableName"] = name
        if isinstance(schema.get("$id"), str):
            schema["$id"] = schema["$id"].replace(f":{template}:", f":{name}:")
        schema_path.write_text(json.dumps(schema, indent=2) + "\n")
        names.append(name)
    return names


def remove_generated(repo: Path) -> None:
    for folder in (repo / "dynamodb").glob(f"{GENERATED_PREFIX}*"):
        shutil.rmtree(folder)


def subsets(real: list[Component], generated: list[Component]) -> dict[int, list[Component]]:
    """The components planned for each size: the real ones first, then generated ones."""
    pool = [*real, *generated]
    return {size: pool[:size] for size in SIZES if size <= len(pool)}


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return round(numerator / denominator, 2)


# A fixed piece of pure-Python work: its seconds at the start and the end of a run show how
# fast the host was (a shared machine's speed moved by 40 % within an hour), so runs of
# different hours can be compared and a run whose host drifted is seen to have drifted.
HOST_LOOP_ITERATIONS = 3_000_000


def host_loop_s(repeats: int = 3, clock: Callable[[], float] = time.perf_counter) -> float:
    """The fastest of `repeats` runs of HOST_LOOP_ITERATIONS additions, in seconds."""
    runs = []
    for _ in range(repeats):
        started, total = clock(), 0
        for number in range(HOST_LOOP_ITERATIONS):
            total += number
        runs.append(clock() - started)
    return round(min(runs), 3)


def goals_met(result: JsonObject) -> dict[str, bool | None]:
    """Each goal: met or not; None when its measurement is missing (e.g. check not wired)."""
    return {key: None if result.get(key) is None else result[key] <= goal
            for key, goal in GOALS.items()}


# ---- measuring (inside the copy) -----------------------------------------------------------


P = ParamSpec("P")


def _timed(function: Callable[P, object], *args: P.args, **kwargs: P.kwargs) -> float:
    started = time.monotonic()
    function(*args, **kwargs)
    return time.monotonic() - started


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 2)


def _plan_with_runner(ctx: targets.TargetContext, components: list[Component], workers: int,
                      console: Console) -> float:
    os.environ["BBWS_MAX_WORKERS"] = str(workers)
    try:
        started = time.monotonic()
        rows = runner.run("bench", components,
                          lambda c, report: operations.plan(ctx, c, report), console,
                          timed_as="plan")
        seconds = time.monotonic() - started
    finally:
        os.environ.pop("BBWS_MAX_WORKERS", None)
    failed = [row for row in rows if not row.ok]
    if failed:  # a failed plan is fast and would flatter the numbers
        error = failed[0].error
        details = " | ".join(str(getattr(error, "details", "")).strip().splitlines()[-8:])
        raise OperationError(f"bench: plan of {failed[0].item.name} failed: {error} {details}")
    return seconds


def _plan_bare(ctx: targets.TargetContext, components: list[Component], workers: int) -> float:
    """The same plans as bare Terraform subprocesses, at most `workers` at a time.

    "Bare" is `plan -out` only: no init check, no `show -json`, no bundle, no state lock
    (-lock=false), no git or input fingerprinting; so runner/bare is what the task runner
    adds around Terraform's own work."""
    out_dir = ctx.stage_dir.parent / "bench-bare"
    out_dir.mkdir(parents=True, exist_ok=True)
    pending = list(components)
    running: dict[subprocess.Popen[bytes], tuple[Component, Path]] = {}
    started = time.monotonic()
    try:
        while pending or running:
            while pending and len(running) < workers:
                component = pending.pop(0)
                log = out_dir / f"{component.name}.log"
                with log.open("w") as handle:
                    # Same process group as this one: Ctrl-C reaches them like the child.
                    process = subprocess.Popen(
                        [*terraform.engine_command(), "plan", "-input=false", "-lock=false",
                         f"-out={out_dir / (component.name + '.tfplan')}", *ctx.var_args()],
                        cwd=ctx.root_dir(component), env=ctx.terraform_env(component),
                        stdin=subprocess.DEVNULL, stdout=handle, stderr=subprocess.STDOUT)
                running[process] = (component, log)
            for process in [p for p in running if p.poll() is not None]:
                component, log = running.pop(process)
                if process.returncode != 0:
                    tail = log.read_text(errors="replace").strip().splitlines()[-5:]
                    raise OperationError(f"bench: bare plan of {component.name} failed "
                                         f"(exit {process.returncode}): {' | '.join(tail)}")
            time.sleep(0.01)  # 10 ms polling: well below the second-scale plans measured
        return time.monotonic() - started
    finally:
        for process in running:
            process.kill()
            process.wait()


def _first_plan_bare(ctx: targets.TargetContext, component: Component) -> float:
    """Bare Terraform's first plan of one root: `init` into an empty data directory, then
    `plan -out` (no lock), as two processes; seconds."""
    scratch = Path(tempfile.mkdtemp(dir=ctx.stage_dir.parent))
    env = {**ctx.terraform_env(component), "TF_DATA_DIR": str(scratch / "data")}
    started = time.monotonic()
    try:
        for args in (["init", "-input=false", "-reconfigure", "-lockfile=readonly",
                      f"-backend-config={ctx.backend_file(component)}"],
                     ["plan", "-input=false", "-lock=false", f"-out={scratch / 'plan'}",
                      *ctx.var_args()]):
            done = subprocess.run([*terraform.engine_command(), *args],
                                  cwd=ctx.root_dir(component), env=env, capture_output=True,
                                  text=True, stdin=subprocess.DEVNULL, check=False)
            if done.returncode != 0:
                raise OperationError(f"bench: bare {args[0]} of {component.name} failed: "
                                     f"{last_line(done.stderr or done.stdout)}")
        return time.monotonic() - started
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def measure(env_name: str = "dev", repeats: int = 3) -> JsonObject:
    """Run in the copy with BBWS_WORK_DIR set to a scratch directory: cold and warm init of one
    component; plans of the real components serially, in parallel and with bare Terraform;
    parallel plans of 4, 8 and 16 components; bare Terraform's first plan of the first one.
    Warm timings are the median of `repeats`."""
    quiet = Console(file=open(os.devnull, "w"))  # noqa: SIM115 - closed with the process
    components = list(COMPONENTS.values())
    real = [c for c in components if not c.name.startswith(GENERATED_PREFIX)]
    generated = [c for c in components if c.name.startswith(GENERATED_PREFIX)]
    workers = runner.max_workers(len(real))  # as many at once as `invoke plan` runs
    try:
        ctx = targets.prepare("sandbox", load_environment(env_name))
        targets.stage(ctx, components)
        first = real[0]
        cold = _timed(operations.init, ctx, first, operations.no_report, True)
        warm = [_timed(operations.init, ctx, first, operations.no_report, True)
                for _ in range(repeats)]
        for component in components:  # every component initialised once before timing plans
            operations.init(ctx, component)
        first_bare = [_first_plan_bare(ctx, first) for _ in range(repeats)]
        serial: list[float] = []
        parallel: list[float] = []
        bare: list[float] = []
        by_size: dict[int, list[float]] = {size: [] for size in subsets(real, generated)}
        # Interleaved, so load from other processes drifts into every series alike.
        for _ in range(repeats):
            serial.append(_plan_with_runner(ctx, real, 1, quiet))
            parallel.append(_plan_with_runner(ctx, real, workers, quiet))
            bare.append(_plan_bare(ctx, real, workers))
            for size, chosen in subsets(real, generated).items():
                by_size[size].append(parallel[-1] if chosen == real else  # same measurement
                                     _plan_with_runner(ctx, chosen, runner.max_workers(size),
                                                       quiet))
    except BaseException:
        terraform.stop_all(grace_s=5.0)  # an init or plan started outside runner.run
        raise
    finally:
        sandbox.down()
    sizes = {str(size): _median(values) for size, values in by_size.items()}
    plan_parallel = _median(parallel)
    return {
        "components": len(real),
        "cpus": os.cpu_count() or 1,
        "workers": workers,
        "cold_init_s": round(cold, 2),
        "bare_terraform_first_plan_s": _median(first_bare),
        "warm_init_s": _median(warm),
        "plan_all_serial_s": _median(serial),
        "plan_all_parallel_s": plan_parallel,
        "parallel_over_serial": ratio(plan_parallel, _median(serial)),
        "bare_terraform_plan_all_parallel_s": _median(bare),
        "runner_over_bare": ratio(plan_parallel, _median(bare)),
        "plan_parallel_s_by_components": sizes,
        "components_16_over_4": ratio(sizes.get("16"), sizes.get("4")),
        "runs": {"warm_init_s": [round(v, 2) for v in warm],
                 "plan_all_serial_s": [round(v, 2) for v in serial],
                 "plan_all_parallel_s": [round(v, 2) for v in parallel],
                 "bare_terraform_plan_all_parallel_s": [round(v, 2) for v in bare],
                 **{f"plan_parallel_{size}_s": [round(v, 2) for v in values]
                    for size, values in by_size.items()}},
    }


# ---- orchestration (in the user's process) -------------------------------------------------


@contextmanager
def _work_dir(path: Path) -> Iterator[None]:
    previous = os.environ.get("BBWS_WORK_DIR")
    os.environ["BBWS_WORK_DIR"] = str(path)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("BBWS_WORK_DIR", None)
        else:
            os.environ["BBWS_WORK_DIR"] = previous


def _time_check(copy: Path, work: Path, logs: Path, repeats: int) -> JsonObject:
    """`invoke check` in the copy (warm plugin cache, real components only): median seconds,
    or None and why when it fails (it may not be wired yet)."""
    runs = []
    for index in range(repeats):
        code, _, stderr, seconds = run_child(invoke("check"), copy, work, logs,
                                             f"check-{index}")
        if code != 0:
            return {"check_s": None,
                    "check_note": (f"invoke check exited {code} after {seconds:.1f} s, so no "
                                   f"time is reported: {last_line(stderr)}")}
        runs.append(seconds)
    return {"check_s": _median(runs), "check_runs_s": [round(v, 2) for v in runs]}


def _merge(result: JsonObject, part: JsonObject) -> None:
    """Add a part's entries; the flows of every part go under one "flows"."""
    flows_found = part.pop("flows", {})
    result.update(part)
    result.setdefault("flows", {}).update(flows_found)


def first_plan_over_bare(result: JsonObject) -> float | None:
    """The README's first plan against the sandbox start (as it took in that plan) plus bare
    Terraform's init and plan of the same root."""
    flow = result.get("flows", {}).get("first_plan") or {}
    bare = result.get("bare_terraform_first_plan_s")
    if not flow or bare is None:
        return None
    return ratio(result.get("first_plan_s"),
                 bare + flow["stages_s"].get("sandbox start", 0.0))


def run(env_name: str, repeats: int, only: str | None = None) -> JsonObject:
    """Copy the repository, add generated components, measure inside the copy, then time
    `invoke check`, the first plan, a release and a data migration there (only the migration
    with only="migration"; only the first plan and the release with only="release"); the
    scratch directory and its emulator never outlive this call."""
    scratch = Path(tempfile.mkdtemp(prefix="bbws-bench-"))
    copy, work, logs = scratch / "repo", scratch / "work", scratch / "logs"
    try:
        work.mkdir()
        logs.mkdir()
        repo_copy.copy_repository(copy)
        if only == "migration":
            return migration_bench.measure(copy, work, logs)
        result: JsonObject = {"env": env_name, "repeats": repeats, "load": os.getloadavg(),
                              "host_loop_s": host_loop_s()}
        if only != "release":
            real = len(discover_components(copy))
            generate_components(copy, max(0, max(SIZES) - real))
            code, stdout, stderr, _ = run_child(
                [sys.executable, "-m", "bbws_infra.bench.bench", "--inner", "--env", env_name,
                 "--repeats", str(repeats)], copy, work, logs, "measure")
            if code != 0:
                raise OperationError(f"bench: the measurement failed (exit {code}): "
                                     f"{last_line(stderr)}")
            result.update(json.loads(last_line(stdout)))
            remove_generated(copy)  # check sees the repository as committed
        if only is None:
            result.update(_time_check(copy, work, logs, repeats))
        if only != "plans":
            _merge(result, flows.first_contact(copy, work, logs, repeats))
            _merge(result, flows.release(copy, work, logs, repeats))
            _merge(result, flows.rollback(copy, work, logs))
        if only is None:
            result.update(migration_bench.measure(copy, work, logs))
        result["first_plan_over_bare"] = first_plan_over_bare(result)
        result["load_after"] = os.getloadavg()
        result["host_loop_after_s"] = host_loop_s()
        result["goals"] = GOALS
        result["met"] = goals_met(result)
        return result
    finally:
        with _work_dir(work):
            sandbox.down()  # in case a child left its emulator behind
        shutil.rmtree(scratch, ignore_errors=True)


def main(env_name: str, repeats: int, only: str | None = None, as_json: bool = False) -> int:
    from bbws_infra.bench import bench_table

    result = run(env_name, repeats, only)
    print(json.dumps(result) if as_json else bench_table.text(result))
    return 0


def _inner(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bbws_infra.bench.bench")
    parser.add_argument("--inner", action="store_true", required=True)
    parser.add_argument("--env", default="dev")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    with interrupts.handling():
        try:
            print(json.dumps(measure(args.env, args.repeats)))
        except KeyboardInterrupt:
            return interrupts.exit_code()
    return interrupts.exit_code() if interrupts.requested() else 0


if __name__ == "__main__":
    raise SystemExit(_inner(sys.argv[1:]))
