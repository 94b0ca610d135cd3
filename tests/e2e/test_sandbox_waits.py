"""AWS's waits on the sandbox (BBWS_SANDBOX_WAIT_SECONDS, bbws_infra.targets.moto_waits), through
the real CLI: a table is CREATING and its point-in-time recovery ENABLING for WAIT seconds each,
so `invoke apply` waits for them as it waits for AWS, shows its progress meanwhile, stops
cleanly on Ctrl-C in the middle of the wait, and waits for an added index's backfill and a
removed index's deletion.

Runs in a throw-away git copy with its own work directory, so its sandbox is one started with
the switch (never the session's, started without it); the tests build on each other in file
order.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from bbws_infra.bench import repo_copy
from bbws_infra.core.registry import COMPONENTS, load_environment
from bbws_infra.targets.moto_waits import ENV
from tests.support.leftovers import held_locks, terraform_processes_under
from tests.support.repo_copies import Copy, make_copy

pytestmark = pytest.mark.e2e

WAIT = 4.0  # seconds each change stays under way
WAITING = {ENV: str(WAIT)}
DEV = ("--env", "dev")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@pytest.fixture(scope="module")
def copy(work, tmp_path_factory):
    yield from make_copy("waits", work, tmp_path_factory)


def _ok(copy: Copy, *args: str) -> str:
    result = copy.invoke(*args, **WAITING)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@dataclass
class Watch:
    """What the sandbox said while a command ran: (seconds since start, what) samples."""

    table: list[tuple[float, str]] = field(default_factory=list)
    recovery: list[tuple[float, str]] = field(default_factory=list)
    indexes: list[tuple[float, dict[str, tuple[str, bool]]]] = field(default_factory=list)

    def sample(self, dynamodb: Any, name: str, at: float) -> None:
        try:
            table = dynamodb.describe_table(TableName=name)["Table"]
            recovery = dynamodb.describe_continuous_backups(TableName=name)[
                "ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
        except (dynamodb.exceptions.ResourceNotFoundException,
                dynamodb.exceptions.TableNotFoundException):
            return  # not created yet
        self.table.append((at, table["TableStatus"]))
        self.recovery.append((at, recovery["PointInTimeRecoveryStatus"]))
        self.indexes.append((at, {i["IndexName"]: (i["IndexStatus"], i.get("Backfilling", False))
                                  for i in table.get("GlobalSecondaryIndexes", [])}))

    @staticmethod
    def window(samples: list[tuple[float, str]], status: str) -> tuple[float, float]:
        """First and last time `status` was seen."""
        times = [t for t, seen in samples if seen == status]
        assert times, f"{status} never seen in {samples}"
        return times[0], times[-1]


def _dynamodb(copy: Copy) -> Any:
    return copy.session("dev").client("dynamodb")


def _final(copy: Copy, name: str) -> tuple[str, set[str], str]:
    dynamodb = _dynamodb(copy)
    table = dynamodb.describe_table(TableName=name)["Table"]
    recovery = dynamodb.describe_continuous_backups(TableName=name)[
        "ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    return (table["TableStatus"], {i["IndexStatus"] for i in table["GlobalSecondaryIndexes"]},
            recovery["PointInTimeRecoveryStatus"])


def _apply_in_a_terminal(copy: Copy, component: str, watch: Watch
                         ) -> tuple[int, list[tuple[float, str, float]], float]:
    """`invoke apply` with a terminal as its stdout, as an operator runs it: (exit code, the
    live table's (time, stage, seconds) for the component as it was redrawn, wall seconds)."""
    dynamodb = _dynamodb(copy)
    leader, follower = pty.openpty()
    env = repo_copy.cli_env(copy.root, copy.work, {**WAITING, "TERM": "xterm",
                                                   "COLUMNS": "120"})
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "invoke", "apply", *DEV, "--component", component,
         "--confirm", "deploy-dev"], cwd=copy.root, env=env, stdout=follower,
        stderr=follower, stdin=subprocess.DEVNULL)
    os.close(follower)
    row = re.compile(rf"│ {component}\s*│ ([a-z][a-z ,]*?)\s*│[^\n]*?│\s*([\d.]+) │")
    frames: list[tuple[float, str, float]] = []
    partial = ""  # a line the last read cut off
    shown: list[str] = []
    try:
        while True:
            ready, _, _ = select.select([leader], [], [], 0.2)
            now = time.monotonic() - started
            watch.sample(dynamodb, component, now)
            if not ready:
                if process.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal closed with the process
                break
            text, _, partial = (partial + chunk.decode(errors="replace")).rpartition("\n")
            shown.append(text)
            frames += [(now, stage, float(seconds))
                       for stage, seconds in row.findall(_ANSI.sub("", text))]
        process.wait(timeout=300)
    finally:
        if process.poll() is None:
            process.kill()
        os.close(leader)
    assert "Traceback" not in "".join(shown)
    return process.returncode, frames, time.monotonic() - started


def test_an_apply_waits_for_aws_and_shows_its_progress(copy: Copy):
    """A new table: CREATING, then its point-in-time recovery ENABLING, WAIT seconds each. The
    apply lasts at least both waits, its live table keeps counting while it waits, and the
    resources are ACTIVE / ENABLED at the end: `invoke verify` passes."""
    _ok(copy, "plan", *DEV, "--component", "tenants")
    watch = Watch()
    code, frames, seconds = _apply_in_a_terminal(copy, "tenants", watch)
    assert code == 0, frames

    creating, enabling = Watch.window(watch.table, "CREATING"), Watch.window(
        watch.recovery, "ENABLING")
    assert creating[1] <= enabling[0], "recovery is enabled once the table is ACTIVE"
    assert watch.table[-1][1] == "ACTIVE" and watch.recovery[-1][1] == "ENABLED"
    applying = [(t, s) for t, stage, s in frames if stage == "apply"]
    assert applying, frames
    # the provider waited for both: the apply stage spans both waits
    assert applying[-1][0] - applying[0][0] >= 2 * WAIT - 0.5, applying
    assert seconds >= 2 * WAIT
    # and the terminal was redrawn while it waited, the stage's seconds counting up
    for start, end in (creating, enabling):
        during = [s for t, s in applying if start <= t <= end + 0.2]
        assert len(set(during)) >= 2, (start, end, applying)
    assert [s for _, s in applying] == sorted(s for _, s in applying)

    assert _final(copy, "tenants") == ("ACTIVE", {"ACTIVE"}, "ENABLED")
    _ok(copy, "verify", *DEV, "--component", "tenants")


def _lines_until(process: subprocess.Popen[str], wanted: str, seen: list[str]) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        seen.append(line)
        if line.strip() == wanted:
            return
    raise AssertionError(f"{wanted!r} never printed:\n{''.join(seen)}")


def _when(condition: Callable[[], object], timeout: float = 60.0) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout} s")


def test_ctrl_c_during_the_wait_stops_cleanly(copy: Copy):
    """SIGINT to `invoke apply` while its table is CREATING (CI's output: one line per stage):
    Terraform finishes the create it waits for and saves it, then stops; exit 130 with the
    interrupt sentence, no lock held, no Terraform left; doctor finds the state healthy and the
    one the interrupted apply left, history records that apply as failed, and the next plan and
    apply finish the job."""
    _ok(copy, "plan", *DEV, "--component", "products")
    dynamodb = _dynamodb(copy)
    process = subprocess.Popen(
        [sys.executable, "-m", "invoke", "apply", *DEV, "--component", "products",
         "--confirm", "deploy-dev"], cwd=copy.root,
        env=repo_copy.cli_env(copy.root, copy.work, {**WAITING, "PYTHONUNBUFFERED": "1"}),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen: list[str] = []
    try:
        _lines_until(process, "[products] apply", seen)  # printed before the wait begins
        watch = Watch()
        _when(lambda: watch.sample(dynamodb, "products", 0.0) or watch.table)
        assert watch.table[-1][1] == "CREATING" and process.poll() is None
        interrupted = time.monotonic()
        os.kill(process.pid, signal.SIGINT)
        stdout, stderr = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            process.kill()
    stopping = time.monotonic() - interrupted
    output = "".join(seen) + stdout + stderr

    assert process.returncode == 130, output
    assert stderr.startswith("interrupted: every Terraform run was stopped"), stderr
    assert "no state lock is left held." in stderr
    assert "Traceback" not in output
    assert held_locks(copy.work, "dev") == []
    assert terraform_processes_under(copy.work) == []
    # Terraform let the provider finish the create it was waiting for, then saved it
    assert _final(copy, "products") == ("ACTIVE", {"ACTIVE"}, "ENABLED")
    assert stopping >= WAIT / 2, stopping
    log = (copy.work / "logs" / "sandbox" / "dev" / "products.log").read_text()
    assert "Interrupt received." in log and "Two interrupts received" not in log
    assert "module.table.aws_dynamodb_table.this: Creation complete" in log
    state = json.loads(copy.session("dev").client("s3").get_object(
        Bucket=load_environment("dev").state_bucket,
        Key=COMPONENTS["products"].state_key)["Body"].read())
    assert any(r["type"] == "aws_dynamodb_table" for r in state["resources"]), (
        "the table Terraform created is not in the state: it would be orphaned")

    doctor = json.loads(_ok(copy, "doctor", *DEV, "--component", "products", "--json"))
    assert all(finding["ok"] for finding in doctor), doctor
    (ledger,) = [f["found"] for f in doctor if f["check"] == "ledger"]
    assert ledger.endswith("is the one the last apply left"), ledger
    (record,) = json.loads(_ok(copy, "history", *DEV, "--component", "products", "--json"))
    assert (record["result"], record["error"]) == ("failed", "terraform apply was interrupted.")

    _ok(copy, "plan", *DEV, "--component", "products")
    _ok(copy, "apply", *DEV, "--component", "products", "--confirm", "deploy-dev")
    _ok(copy, "verify", *DEV, "--component", "products")


def test_an_added_index_is_waited_for_while_it_backfills(copy: Copy):
    """A GSI added to the applied tenants table: IndexStatus CREATING with Backfilling for
    WAIT seconds while the table stays ACTIVE; the apply waits until the index is ACTIVE."""
    schema = copy.root / "dynamodb" / "tenants" / "tenant.schema.json"
    document = json.loads(schema.read_text())
    document["x-dynamodb"]["globalSecondaryIndexes"].append(
        {"name": "EmailByDateIndex", "hashKey": "email", "rangeKey": "dateCreated",
         "projectionType": "KEYS_ONLY"})
    schema.write_text(json.dumps(document, indent=2) + "\n")
    copy.commit("tenants: EmailByDateIndex")
    _ok(copy, "plan", *DEV, "--component", "tenants")

    watch = Watch()
    code, frames, seconds = _apply_in_a_terminal(copy, "tenants", watch)
    assert code == 0, frames
    building = [t for t, indexes in watch.indexes
                if indexes.get("EmailByDateIndex") == ("CREATING", True)]
    assert building, watch.indexes
    assert {status for t, status in watch.table if building[0] <= t <= building[-1]} == {
        "ACTIVE"}
    assert watch.indexes[-1][1]["EmailByDateIndex"] == ("ACTIVE", False)
    assert seconds >= WAIT
    applying = [t for t, stage, _ in frames if stage == "apply"]
    assert applying and applying[-1] >= building[-1], "the apply ended before the backfill"
    _ok(copy, "verify", *DEV, "--component", "tenants")


def test_a_removed_index_is_waited_for_while_it_is_deleted(copy: Copy):
    """The index above removed again: IndexStatus DELETING for WAIT seconds, then gone; the
    apply waits until it is gone and verification passes (its key attributes stay in use)."""
    schema = copy.root / "dynamodb" / "tenants" / "tenant.schema.json"
    document = json.loads(schema.read_text())
    indexes = document["x-dynamodb"]["globalSecondaryIndexes"]
    indexes[:] = [i for i in indexes if i["name"] != "EmailByDateIndex"]
    schema.write_text(json.dumps(document, indent=2) + "\n")
    copy.commit("tenants: EmailByDateIndex removed")
    _ok(copy, "plan", *DEV, "--component", "tenants")

    watch = Watch()
    code, frames, seconds = _apply_in_a_terminal(copy, "tenants", watch)
    assert code == 0, frames
    deleting = [t for t, indexes in watch.indexes
                if indexes.get("EmailByDateIndex", ("", False))[0] == "DELETING"]
    assert deleting, watch.indexes
    assert "EmailByDateIndex" not in watch.indexes[-1][1]
    applying = [t for t, stage, _ in frames if stage == "apply"]
    assert applying and applying[-1] >= deleting[-1], "the apply ended before the deletion"
    assert seconds >= WAIT
    _ok(copy, "verify", *DEV, "--component", "tenants")
