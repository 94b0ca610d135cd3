"""`invoke bench`: wall-clock numbers for the Terraform paths people wait on, on the sandbox.

Runs in a throw-away work directory with its own emulator, so "cold" really is cold (empty
plugin cache, no .terraform) and nothing of the user's sandbox is touched.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from bbws_infra import operations, runner, sandbox, targets
from bbws_infra.registry import COMPONENTS, load_environment


def _timed(function: Any, *args: Any) -> float:
    started = time.monotonic()
    function(*args)
    return time.monotonic() - started


def measure(env_name: str = "dev", repeats: int = 3) -> dict[str, Any]:
    """Cold and warm init of one component; plan of every component serially and in parallel.
    Timings after the cold one are the median of `repeats` runs."""
    scratch = Path(tempfile.mkdtemp(prefix="bbws-bench-"))
    previous = os.environ.get("BBWS_WORK_DIR")
    os.environ["BBWS_WORK_DIR"] = str(scratch)
    quiet = Console(file=open(os.devnull, "w"))  # noqa: SIM115 - closed with the process
    try:
        components = list(COMPONENTS.values())
        ctx = targets.prepare("sandbox", load_environment(env_name))
        targets.stage(ctx, components)
        first = components[0]
        cold = _timed(operations.init, ctx, first, operations.no_report, True)
        warm = statistics.median(_timed(operations.init, ctx, first, operations.no_report, True)
                                 for _ in range(repeats))

        def plan_all(workers: int) -> float:
            os.environ["BBWS_MAX_WORKERS"] = str(workers)
            try:
                return _timed(runner.run, "bench", components,
                              lambda c, report: operations.plan(ctx, c, report), quiet)
            finally:
                os.environ.pop("BBWS_MAX_WORKERS", None)

        for component in components[1:]:  # every component initialised once before timing
            operations.init(ctx, component)
        serial = statistics.median(plan_all(1) for _ in range(repeats))
        parallel = statistics.median(plan_all(runner.max_workers(len(components)))
                                     for _ in range(repeats))
        return {
            "env": env_name,
            "components": len(components),
            "cpus": os.cpu_count(),
            "workers": runner.max_workers(len(components)),
            "cold_init_s": round(cold, 2),
            "warm_init_s": round(warm, 2),
            "plan_all_serial_s": round(serial, 2),
            "plan_all_parallel_s": round(parallel, 2),
            "parallel_over_serial": round(parallel / serial, 2),
            "repeats": repeats,
        }
    finally:
        sandbox.down()
        if previous is None:
            os.environ.pop("BBWS_WORK_DIR", None)
        else:
            os.environ["BBWS_WORK_DIR"] = previous
        shutil.rmtree(scratch, ignore_errors=True)


def main(env_name: str, repeats: int) -> int:
    print(json.dumps(measure(env_name, repeats)))
    return 0
