"""The `migration` entry of `invoke bench`: the activePartition backfill over generated tenants
on the sandbox, in the bench's throw-away copy and work directory.

- the engine (runner.run, 4 segments, unthrottled so that it shows its own pace) over 10,000
  and then 50,000 items, each in a child process whose peak resident memory is read from the
  kernel (wait4), and the growth from 10,000 to 50,000 (5 for linear);
- a plain single-threaded boto3 loop over the same 10,000 and 50,000 items (scan, and update
  each item that needs it, as a hand-written backfill script does), the engine's speed-up over
  it, and the loop's own growth (what the emulator adds to both).

Each measurement starts from the same generated items (write_tenants puts them back as they
were), so each run changes the same share of them.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console

from bbws_infra.bench import repo_copy, table_items
from bbws_infra.core.registry import COMPONENTS, load_environment
from bbws_infra.core.untyped import Client, JsonObject
from bbws_infra.targets import sandbox

SIZES = (10_000, 50_000)
SEGMENTS = 4
UNTHROTTLED = 1_000_000  # items per second: far above what one table answers
COMPONENT = "tenants"
ENV = "dev"


def _measured_child(argv: list[str], copy: Path, work: Path, logs: Path, name: str
                    ) -> tuple[int, str, float, float]:
    """Run argv in the copy: (exit code, stdout, wall seconds, peak memory in MB)."""
    out, err = logs / f"{name}.out", logs / f"{name}.err"
    with out.open("w") as stdout, err.open("w") as stderr:
        started = time.monotonic()
        process = subprocess.Popen(argv, cwd=copy, env=repo_copy.cli_env(copy, work),
                                   stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.monotonic() - started
    return process.returncode, out.read_text(), seconds, usage.ru_maxrss / 1024  # KB on Linux


def plain_loop(dynamodb: Client, table: str) -> tuple[float, int]:
    """The hand-written way: one thread, scan page by page, update each item that needs it on
    the condition that it still has the value read; (seconds, items changed)."""
    started, changed = time.monotonic(), 0
    request: JsonObject = {"TableName": table}
    while True:
        page = dynamodb.scan(**request)
        for item in page["Items"]:
            if not table_items.needs_backfill(item):
                continue
            key = {"PK": item["PK"], "SK": item["SK"]}
            if item["active"] == {"BOOL": True}:
                dynamodb.update_item(TableName=table, Key=key,
                                     UpdateExpression="SET activePartition = :p",
                                     ConditionExpression="active = :a",
                                     ExpressionAttributeValues={":p": {"S": "ACTIVE"},
                                                                ":a": item["active"]})
            else:
                dynamodb.update_item(TableName=table, Key=key,
                                     UpdateExpression="REMOVE activePartition",
                                     ConditionExpression="active = :a",
                                     ExpressionAttributeValues={":a": item["active"]})
            changed += 1
        if "LastEvaluatedKey" not in page:
            return time.monotonic() - started, changed
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def measure(copy: Path, work: Path, logs: Path) -> JsonObject:
    """Deploy dev's tenants in the copy's sandbox, then time the engine and the plain loop;
    None and why when a step fails."""
    for step in (("plan", "--env", ENV, "--component", COMPONENT),
                 ("apply", "--env", ENV, "--component", COMPONENT, "--confirm", "deploy-dev")):
        done = repo_copy.run_cli(copy, work, *step)
        if done.returncode != 0:
            return {"migration": None, "migration_note": f"invoke {step[0]} exited "
                                                         f"{done.returncode}: {done.stderr[-300:]}"}
    previous = os.environ.get("BBWS_WORK_DIR")
    os.environ["BBWS_WORK_DIR"] = str(work)
    try:
        dynamodb = sandbox.session_for(load_environment(ENV))[1].client("dynamodb")
        result: JsonObject = {}
        wrong = 0
        for size in SIZES:
            needing = table_items.write_tenants(dynamodb, COMPONENT, size)
            code, out, seconds, memory = _measured_child(
                [sys.executable, "-m", "bbws_infra.bench.migration_bench", "--inner"],
                copy, work, logs, f"migration-{size}")
            if code != 0:
                return {"migration": None, "migration_note": f"the run over {size} items "
                                                             f"exited {code}"}
            ran = json.loads(out.strip().splitlines()[-1])
            if ran["changed"] != needing:
                return {"migration": None, "migration_note": f"{ran['changed']} changed of "
                                                             f"{needing} needing it"}
            if size == SIZES[-1]:
                wrong = table_items.wrong_items(dynamodb, COMPONENT)
            table_items.write_tenants(dynamodb, COMPONENT, size)  # as generated again
            plain_s, plain_changed = plain_loop(dynamodb, COMPONENT)
            result[f"items_{size}"] = {"seconds": round(seconds, 2),
                                       "engine_seconds": round(ran["seconds"], 2),
                                       "items_per_s": round(size / ran["seconds"]),
                                       "changed": ran["changed"],
                                       "peak_memory_mb": round(memory, 1),
                                       "plain_loop_seconds": round(plain_s, 2),
                                       "plain_loop_items_per_s": round(size / plain_s),
                                       "plain_loop_changed": plain_changed}
    finally:
        if previous is None:
            os.environ.pop("BBWS_WORK_DIR", None)
        else:
            os.environ["BBWS_WORK_DIR"] = previous
    small, big = (result[f"items_{size}"] for size in SIZES)
    result.update({
        "left_wrong_after_50000": wrong,
        "speedup_over_plain_50000": round(big["plain_loop_seconds"] / big["engine_seconds"], 2),
        # 5.0 is linear growth (five times the items, five times the time); the plain loop's
        # growth on the same emulator shows what the emulator itself adds
        "growth_10000_to_50000": round(big["engine_seconds"] / small["engine_seconds"], 2),
        "plain_loop_growth_10000_to_50000": round(big["plain_loop_seconds"]
                                                  / small["plain_loop_seconds"], 2)})
    return {"migration": result}


def _inner() -> int:
    """In the child: one unthrottled run of the backfill; prints seconds, seen and changed."""
    from bbws_infra.migrations import catalog, runner

    env = load_environment(ENV)
    session = sandbox.session_for(env)[1]
    migration = catalog.discover([COMPONENTS[COMPONENT]])[COMPONENT][0]
    started = time.monotonic()
    outcome = runner.run(session, env, migration,
                         runner.Options(rate=UNTHROTTLED, segments=SEGMENTS),
                         Console(file=io.StringIO()))
    seconds = time.monotonic() - started
    counts = outcome.counts.as_dict()
    print(json.dumps({"seconds": seconds, "seen": counts["seen"], "changed": counts["changed"],
                      "result": outcome.result}))
    return 0 if outcome.completed else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bbws_infra.bench.migration_bench")
    parser.add_argument("--inner", action="store_true", required=True)
    parser.parse_args()
    raise SystemExit(_inner())
