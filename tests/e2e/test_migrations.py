"""Issue: data migrations as code, safe on live data, on the sandbox.

The dev tables are deployed for real (plan, apply; the apply runs their backfills, on empty
tables); generated items, some without activePartition and some inactive with it, are written
with batch_write_item as an older writer would; then the real CLI runs the backfill again
(--rerun): a dry run that writes nothing; a run stopped by SIGTERM once its checkpoint shows
progress, while a writer keeps changing items, and resumed from the checkpoints; every item
right at the end, the writer's values all kept; a second run that changes nothing; the ledger
record and `invoke migrations`. A crashed (SIGKILL) run resumes without applying any change
twice, and in prod the table is backed up first.
"""

from __future__ import annotations

import io
import json
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from bbws_infra.bench import table_items
from bbws_infra.core.paths import REPO_ROOT
from bbws_infra.core.registry import COMPONENTS, load_environment
from bbws_infra.inputs import schemas
from bbws_infra.migrations import catalog, pending, runner
from bbws_infra.migrations.checkpoints import CheckpointStore
from bbws_infra.state import ledger
from bbws_infra.targets import sandbox
from tests.support.cli import invoke
from tests.support.work_dirs import fresh_work_dir, using_work_dir

pytestmark = pytest.mark.e2e

BIG = 50_000
FAST = 100_000  # items per second: unthrottled, and the largest scan pages
ID = "0001_backfill_active_partition"


@pytest.fixture(scope="module")
def dev(work: Path, tmp_path_factory: pytest.TempPathFactory):
    """dev's tenants and products, deployed in a work directory (and sandbox) of their own."""
    base = fresh_work_dir(tmp_path_factory.mktemp("migrations-work"), work)
    with using_work_dir(base):
        planned = invoke("plan", "--env", "dev", "--component", "tenants,products")
        assert planned.returncode == 0, planned.stdout + planned.stderr
        applied = invoke("apply", "--env", "dev", "--component", "tenants,products",
                         "--confirm", "deploy-dev")
        assert applied.returncode == 0, applied.stdout + applied.stderr
        env = load_environment("dev")
        session = sandbox.session_for(env)[1]
        for component in ("tenants", "products"):  # the apply ran the backfill: nothing to do
            (deployed,) = _runs(session, "dev", component)
            assert (deployed.result, deployed.counts["seen"]) == (ledger.APPLIED, 0)
        yield env, session
        sandbox.down()


def _store(session: Any, env_name: str, component: str) -> CheckpointStore:
    return CheckpointStore(session, load_environment(env_name), component, ID)


def _runs(session: Any, env_name: str, component: str) -> list[ledger.Record]:
    return list(ledger.migration_records(session, load_environment(env_name), component))


class Writer(threading.Thread):
    """The portal meanwhile: changes random tenants, unconditionally, as its code does now
    (a soft delete removes activePartition, a restore sets it; a rename touches neither), and
    remembers what each item it wrote must end with. Many of its writes land between the
    migration's read of an item and its write (the test asserts those conflicts happened)."""

    def __init__(self, session: Any, keys: list[str], active: dict[str, bool]) -> None:
        super().__init__(daemon=True)
        self.dynamodb = session.client("dynamodb")
        self.keys, self.active = keys, active
        self.expected: dict[str, dict[str, Any]] = {}
        self.stop = threading.Event()
        self.rng = random.Random(11)

    def run(self) -> None:
        count = 0
        while not self.stop.is_set():
            pk = self.rng.choice(self.keys)
            count += 1
            values = {":by": {"S": f"portal-{count}"}, ":org": {"S": f"Org {count}"}}
            update = "SET lastUpdatedBy = :by, organizationName = :org"
            if self.rng.random() < 0.5:  # soft delete or restore
                self.active[pk] = not self.active[pk]
                values[":a"] = {"BOOL": self.active[pk]}
                if self.active[pk]:
                    update += ", active = :a, activePartition = :p"
                    values[":p"] = {"S": "ACTIVE"}
                else:
                    update += ", active = :a REMOVE activePartition"
            self.dynamodb.update_item(TableName="tenants",
                                      Key={"PK": {"S": pk}, "SK": {"S": "METADATA"}},
                                      UpdateExpression=update, ExpressionAttributeValues=values)
            self.expected[pk] = {"lastUpdatedBy": values[":by"],
                                 "organizationName": values[":org"],
                                 "active": {"BOOL": self.active[pk]}}
            time.sleep(0.01)


def _wait_for_progress(store: CheckpointStore, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        saved = store.load()
        if saved is not None and len(saved.positions) + len(saved.done) >= 2:
            return
        assert process.poll() is None, "the run ended before its checkpoint showed progress"
        time.sleep(0.2)
    raise AssertionError("no checkpoint progress within 300 s")


def test_a_backfill_of_50000_items_on_live_data(dev):
    env, session = dev
    dynamodb = session.client("dynamodb")
    needing = table_items.write_tenants(dynamodb, "tenants", BIG)
    assert needing > BIG // 4
    items = list(table_items.generated(BIG))
    # "nothing written" is checked on the items the dry run must not have changed, read one by
    # one (a full scan per check would cost more than the check)
    unchanged = [i for i in items if table_items.needs_backfill(i)][::50]

    # unthrottled (a high --rate, the largest pages) to keep the test short
    dry = invoke("migrate", "--env", "dev", "--component", "tenants", "--dry-run", "--rate",
                 str(FAST), "--rerun", ID)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert f"would change {needing:,} of {BIG:,} items in table tenants" in dry.stdout
    assert dry.stdout.count("  before: ") == dry.stdout.count("  after:  ") == 3
    for item in unchanged:
        key = {"PK": item["PK"], "SK": item["SK"]}
        assert dynamodb.get_item(TableName="tenants", Key=key)["Item"] == item, "it wrote"
    store = _store(session, "dev", "tenants")
    assert store.load() is None and len(_runs(session, "dev", "tenants")) == 1

    writer = Writer(session, [i["PK"]["S"] for i in items],
                    {i["PK"]["S"]: i["active"]["BOOL"] for i in items})
    writer.start()
    command = [sys.executable, "-m", "invoke", "migrate", "--env", "dev", "--component",
               "tenants", "--confirm", "migrate-dev", "--rate", "4000", "--rerun", ID]
    process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_progress(store, process)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 143, out + err
    assert "interrupted (SIGTERM)" in err and "checkpointed" in err
    stopped, _deployed = _runs(session, "dev", "tenants")
    assert stopped.result == ledger.INTERRUPTED and stopped.migration == ID
    saved = store.load()
    assert saved is not None and saved.progressed

    resumed = invoke("migrate", "--env", "dev", "--component", "tenants", "--confirm",
                     "migrate-dev", "--rate", str(FAST), "--rerun", ID)
    writer.stop.set()
    writer.join()
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "resumed from the checkpoints" in resumed.stdout
    finished = _runs(session, "dev", "tenants")[0]
    assert finished.result == ledger.APPLIED and finished.resumed_from == saved.describe()
    assert finished.counts["seen"] < BIG, "the resumed run started from its checkpoints"
    assert finished.counts["failed"] == 0 and store.load() is None
    # the portal's writes raced the migration's: items changed after they were read, each
    # read again and written only if still needed
    assert finished.counts["conflicts"] > 0, finished.counts

    # every item right, and every write of the writer kept: one strongly consistent scan reads
    # them all (the writer touched thousands; a GetItem each took half a minute)
    table = {item["PK"]["S"]: item
             for item in table_items.scan_all(dynamodb, "tenants", consistent=True)}
    assert len(table) == BIG
    assert sum(map(table_items.needs_backfill, table.values())) == 0
    assert len(writer.expected) > 100
    for pk, expected in writer.expected.items():
        item = table[pk]
        assert {k: item.get(k) for k in expected} == expected, pk
        assert item.get("activePartition") == ({"S": "ACTIVE"} if expected["active"]["BOOL"]
                                               else None), pk

    # a second run over the table changes nothing; the command finds nothing pending
    migration = catalog.discover([COMPONENTS["tenants"]])["tenants"][0]
    again = runner.run(session, env, migration, runner.Options(rate=FAST, segments=4),
                       Console(file=io.StringIO()))
    assert again.completed and again.counts.changed == 0 and again.counts.seen == BIG
    nothing = invoke("migrate", "--env", "dev", "--component", "tenants", "--confirm",
                     "migrate-dev")
    assert nothing.returncode == 0 and "no pending migrations" in nothing.stdout

    listed = invoke("migrations", "--env", "dev", "--component", "tenants", "--json")
    assert listed.returncode == 0, listed.stderr
    (entry,) = json.loads(listed.stdout)
    assert entry["status"] == "applied" and entry["applied"]["counts"] == finished.counts
    table = invoke("migrations", "--env", "dev")
    assert table.returncode == 0 and "applied" in table.stdout and "pending" in table.stdout
    history = invoke("history", "--env", "dev", "--component", "tenants")
    assert f"migrate {ID}" in history.stdout
    status = invoke("status", "--json")
    dev_tenants = next(r for r in json.loads(status.stdout)
                       if r.get("env") == "dev" and r.get("component") == "tenants")
    assert dev_tenants["deployed"]["action"] == "apply", "status passes migrations over"


def test_a_crashed_run_resumes_and_applies_no_change_twice(dev):
    _, session = dev
    dynamodb = session.client("dynamodb")
    needing = table_items.write_tenants(dynamodb, "products", 3000, prefix="PRODUCT#")
    crashed = invoke("migrate", "--env", "dev", "--component", "products", "--confirm",
                     "migrate-dev", "--rate", "2000", "--rerun", ID,
                     env={"BBWS_FAULT_INTERRUPT_AT": runner.FAULT_STAGE,
                          "BBWS_FAULT_SIGNAL": "KILL"})
    assert crashed.returncode == -signal.SIGKILL
    saved = _store(session, "dev", "products").load()
    assert saved is not None and saved.progressed
    assert len(_runs(session, "dev", "products")) == 1, "a killed run writes no record"
    done_before = needing - table_items.wrong_items(dynamodb, "products")

    resumed = invoke("migrate", "--env", "dev", "--component", "products", "--confirm",
                     "migrate-dev", "--rerun", ID)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    record, _deployed = _runs(session, "dev", "products")
    assert record.result == ledger.APPLIED and record.resumed_from == saved.describe()
    # the replayed page's items already changed are read as changed and left alone
    assert record.counts["changed"] == needing - done_before
    assert table_items.wrong_items(dynamodb, "products") == 0


def test_a_table_not_deployed_waits(dev):
    refused = invoke("migrate", "--env", "dev", "--component", "campaigns", "--confirm",
                     "migrate-dev")
    assert refused.returncode == 1
    assert "table campaigns does not exist in dev; deploy it first" in refused.stderr
    _, session = dev
    assert _runs(session, "dev", "campaigns") == []


def test_prod_is_backed_up_before_the_first_write(dev):
    """prod's table made directly on the sandbox and migrated through the engine's entry point
    (a prod deploy, and `invoke migrate` in prod, need the whole release order, which
    tests/e2e/test_release_migrations.py goes through)."""
    env = load_environment("prod")
    session = sandbox.session_for(env)[1]
    dynamodb = session.client("dynamodb")
    definition = schemas.load_table_definition(schemas.schema_file(COMPONENTS["tenants"]))
    dynamodb.create_table(
        TableName="tenants", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"},
                   {"AttributeName": "SK", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": t}
                              for a, t in definition.attribute_types.items()],
        GlobalSecondaryIndexes=[
            {"IndexName": g.name, "Projection": {"ProjectionType": "ALL"},
             "KeySchema": [{"AttributeName": g.hash_key, "KeyType": "HASH"},
                           *([{"AttributeName": g.range_key, "KeyType": "RANGE"}]
                             if g.range_key else [])]} for g in definition.gsis])
    needing = table_items.write_tenants(dynamodb, "tenants", 500)
    out = io.StringIO()
    migration = catalog.discover([COMPONENTS["tenants"]])["tenants"][0]
    ran = pending.run_pending(session, env, "sandbox", [migration],
                              runner.Options(rate=FAST), Console(file=out, width=300))
    assert ran.ok, out.getvalue()
    (record,) = _runs(session, "prod", "tenants")
    assert record.counts["changed"] == needing and len(record.backups) == 1
    assert f"backed up first: {record.backups[0]}" in out.getvalue()
    listed = json.loads(invoke("backups", "--env", "prod", "--component", "tenants",
                               "--json").stdout)
    backup = next(b for b in listed if b["arn"] == record.backups[0])
    assert backup["name"].startswith("pre-migrate-tenants-") and backup["status"] == "AVAILABLE"
