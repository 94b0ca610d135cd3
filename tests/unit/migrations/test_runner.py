"""A migration run against an in-process DynamoDB and S3 (moto): what it writes, what it
leaves, how it resumes, how it meets a concurrent writer, and what it records. The same flows
through the real CLI, with signals, are in tests/e2e/test_migrations.py."""

from __future__ import annotations

import io
import uuid
from dataclasses import replace
from typing import Any

import pytest
from moto import mock_aws
from rich.console import Console

from bbws_infra.core.registry import COMPONENTS, load_environment
from bbws_infra.inputs import schemas
from bbws_infra.migrations import catalog, checkpoints, recorded, runner
from bbws_infra.migrations.catalog import Migration
from bbws_infra.state import backups, ledger
from tests.support.moto_session import MotoSession

ITEMS = 600


def _create_table(session: Any, with_indexes: bool = True) -> None:
    definition = schemas.load_table_definition(schemas.schema_file(COMPONENTS["tenants"]))
    gsis = [{"IndexName": g.name,
             "KeySchema": [{"AttributeName": g.hash_key, "KeyType": "HASH"},
                           *([{"AttributeName": g.range_key, "KeyType": "RANGE"}]
                             if g.range_key else [])],
             "Projection": {"ProjectionType": "ALL"}} for g in definition.gsis]
    used = {"PK", "SK"} | ({k for g in definition.gsis for k in (g.hash_key, g.range_key) if k}
                           if with_indexes else set())
    session.client("dynamodb").create_table(
        TableName="tenants", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"},
                   {"AttributeName": "SK", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in sorted(used)],
        **({"GlobalSecondaryIndexes": gsis} if with_indexes else {}))


def _item(index: int) -> dict[str, Any]:
    """Every third inactive; of the active ones every other lacks activePartition; of the
    inactive ones every other wrongly carries it."""
    active = index % 3 != 0
    item = {"PK": {"S": f"TENANT#{uuid.UUID(int=index)}"}, "SK": {"S": "METADATA"},
            "email": {"S": f"u{index}@example.org"}, "status": {"S": "REGISTERED"},
            "active": {"BOOL": active}, "dateCreated": {"S": "2024-01-01T00:00:00Z"},
            "lastUpdatedBy": {"S": "loader"}}
    if index % 2 == 0:
        item["activePartition"] = {"S": "ACTIVE"}
    return item


def _needing(count: int = ITEMS) -> int:
    return sum(("activePartition" in _item(i)) != _item(i)["active"]["BOOL"]
               for i in range(count))


@pytest.fixture
def session():
    with mock_aws():
        moto = MotoSession()
        for name in ("dev", "prod"):
            moto.client("s3").create_bucket(
                Bucket=load_environment(name).state_bucket,
                CreateBucketConfiguration={"LocationConstraint": "af-south-1"})
        fill(moto)
        yield moto


def fill(session: Any) -> None:
    """The tenants table with ITEMS items, _needing() of them in need of the backfill."""
    _create_table(session)
    dynamodb = session.client("dynamodb")
    for start in range(0, ITEMS, 25):
        dynamodb.batch_write_item(RequestItems={"tenants": [
            {"PutRequest": {"Item": _item(i)}} for i in range(start, start + 25)]})


def _migration() -> Migration:
    return catalog.discover([COMPONENTS["tenants"]])["tenants"][0]


def _all(session: Any) -> list[dict[str, Any]]:
    found, request = [], {"TableName": "tenants"}
    while True:
        page = session.client("dynamodb").scan(**request)
        found += page["Items"]
        if "LastEvaluatedKey" not in page:
            return found
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _wrong(session: Any) -> int:
    return sum(("activePartition" in i) != (i["active"]["BOOL"] is True) for i in _all(session))


def _run(session: Any, migration: Migration | None = None, env: str = "dev",
         **options: Any) -> runner.Outcome:
    stop = options.pop("stop", lambda: False)
    chosen = runner.Options(**{"rate": 100_000, "segments": 3, **options})
    return runner.run(session, load_environment(env), migration or _migration(), chosen,
                      Console(file=io.StringIO()), should_stop=stop)


def _checkpoint(session: Any, env: str = "dev") -> checkpoints.Checkpoint | None:
    return checkpoints.CheckpointStore(session, load_environment(env), "tenants",
                                       _migration().id).load()


def test_a_run_makes_every_item_right_and_a_second_changes_nothing(session):
    assert _wrong(session) == _needing() > 0
    first = _run(session)
    assert first.result == ledger.APPLIED and first.completed
    counts = first.counts.as_dict()
    assert counts["seen"] == ITEMS and counts["changed"] == _needing()
    assert counts["changed"] + counts["skipped"] == ITEMS and counts["failed"] == 0
    assert _wrong(session) == 0
    assert _checkpoint(session) is None, "a finished run leaves no checkpoint"
    second = _run(session)
    assert second.counts.changed == 0 and second.counts.skipped == ITEMS


def test_a_dry_run_counts_and_writes_nothing(session):
    before = _all(session)
    outcome = _run(session, dry_run=True)
    assert outcome.counts.changed == _needing()
    assert len(outcome.samples) == runner.SAMPLES
    for old, new in outcome.samples:
        assert ("activePartition" in new) == new["active"] != ("activePartition" in old)
    assert _all(session) == before
    assert session.client("s3").list_objects_v2(
        Bucket=load_environment("dev").state_bucket).get("KeyCount") == 0


def test_an_interrupted_run_resumes_from_its_checkpoints(session):
    seen: list[int] = []

    def counting(item):
        seen.append(1)
        return _migration().change(item)

    migration = replace(_migration(), change=counting)
    # stop once some pages are done (page size 50 at this rate and 2 segments)
    first = runner.run(session, load_environment("dev"), migration,
                       runner.Options(rate=100, segments=2), Console(file=io.StringIO()),
                       should_stop=lambda: len(seen) > 120)
    assert first.interrupted and first.result == ledger.INTERRUPTED and not first.completed
    saved = _checkpoint(session)
    assert saved is not None and saved.progressed and saved.total_segments == 2
    # resumed with another --segments: the checkpoint's count wins
    second = _run(session, segments=4)
    assert second.resumed_from == saved.describe()
    assert any("2 segments" in note for note in second.notes)
    assert second.completed and second.counts.seen < ITEMS
    assert first.counts.changed + second.counts.changed == _needing(), "no change twice"
    assert _wrong(session) == 0 and _checkpoint(session) is None


def test_a_concurrent_write_is_never_overwritten(session):
    """The application writes an item between the run's read and its write: the write is
    refused, the item read again, and the change made on what the application left."""
    dynamodb = session.client("dynamodb")
    raced: set[str] = set()

    def racing(item):
        if item["PK"] not in raced and len(raced) < 5 and "activePartition" not in item:
            raced.add(item["PK"])  # the portal soft-deletes it, as its new code does
            dynamodb.update_item(
                TableName="tenants", Key={"PK": {"S": item["PK"]}, "SK": {"S": "METADATA"}},
                UpdateExpression="SET active = :f, lastUpdatedBy = :w",
                ExpressionAttributeValues={":f": {"BOOL": False}, ":w": {"S": "portal"}})
        return _migration().change(item)

    outcome = _run(session, replace(_migration(), change=racing))
    assert outcome.counts.conflicts >= len(raced) == 5 and outcome.counts.failed == 0
    for pk in raced:
        item = dynamodb.get_item(TableName="tenants",
                                 Key={"PK": {"S": pk}, "SK": {"S": "METADATA"}})["Item"]
        assert item["lastUpdatedBy"] == {"S": "portal"} and item["active"] == {"BOOL": False}
        assert "activePartition" not in item
    assert _wrong(session) == 0


def test_a_broken_change_fails_its_items_and_the_run(session):
    def flipping(item):  # never settles: not idempotent
        return {**item, "active": not item["active"]}

    def raising(item):
        raise KeyError("email")

    for change, why in ((flipping, "not idempotent"), (raising, "KeyError")):
        before = _all(session)
        outcome = _run(session, replace(_migration(), change=change, scan_filter=None))
        assert outcome.result == ledger.NOT_APPLIED
        assert outcome.counts.failed == ITEMS and why in outcome.failures[0]
        assert len(outcome.failures) == runner.FAILURES_KEPT
        assert _all(session) == before


def test_a_missing_index_or_table_is_not_ready(session):
    dynamodb = session.client("dynamodb")
    dynamodb.delete_table(TableName="tenants")
    with pytest.raises(runner.NotReady, match="does not exist"):
        _run(session)
    _create_table(session, with_indexes=False)
    with pytest.raises(runner.NotReady, match="needs index TenantActiveIndex, which is missing"):
        _run(session)
    assert _run(session, dry_run=True).notes  # a dry run counts anyway, and says so


def test_prod_backs_up_the_table_before_the_first_write(session, monkeypatch):
    env = load_environment("prod")
    assert env.pre_deploy_backup
    monkeypatch.setenv(backups.FAULT_ENV, "tenants")
    before = _all(session)
    failed = _run(session, env="prod")
    assert failed.result == ledger.NOT_APPLIED and "nothing was written" in failed.error
    assert failed.counts.changed == 0 and failed.backups == []
    assert _all(session) == before
    monkeypatch.delenv(backups.FAULT_ENV)
    outcome = _run(session, env="prod")
    assert len(outcome.backups) == 1 and ":table/tenants/backup/" in outcome.backups[0]
    assert _run(session, env="prod").backups == [], "nothing to write, nothing to back up"


def test_the_ledger_records_it_and_deploy_readers_pass_it_over(session, monkeypatch):
    env = load_environment("dev")
    monkeypatch.setattr(recorded.git, "who", lambda: "tester")
    assert [s.state for s in recorded.statuses(session, env, [_migration()])] == ["pending"]
    outcome = _run(session)
    key = ledger.write(session, env, recorded.record(outcome, env, "sandbox"))
    assert ledger.key_action(key) == ledger.MIGRATE
    (status,) = recorded.statuses(session, env, [_migration()])
    assert status.state == "applied" and status.applied is not None
    assert status.applied.counts["changed"] == _needing()
    assert status.applied.migration == _migration().id and status.applied.who == "tester"
    # what is deployed is told by apply, promote and rollback records only
    assert ledger.current(session, env, "tenants") is None
    assert list(ledger.records(session, env, "tenants")) == []
    assert [r.action for r in ledger.read(session, env, "tenants")] == [ledger.MIGRATE]


def test_an_unfinished_run_lists_as_in_progress(session):
    env = load_environment("dev")
    _run(session, stop=lambda: True)  # stopped before its first page
    assert _checkpoint(session) is None
    seen: list[int] = []
    _run(session, replace(_migration(), change=lambda i: seen.append(1) or
                          _migration().change(i)),
         rate=100, segments=1, stop=lambda: len(seen) > 150)
    (status,) = recorded.statuses(session, env, [_migration()])
    assert status.state == "in progress"


def test_the_progress_line_in_a_log(session, monkeypatch):
    from bbws_infra.migrations import progress

    monkeypatch.setattr(progress, "PLAIN_EVERY_S", 0.0)
    out = io.StringIO()
    runner.run(session, load_environment("dev"), _migration(),
               runner.Options(rate=100_000, segments=2), Console(file=out))
    assert f"{ITEMS:,} seen" in out.getvalue() and "changed" in out.getvalue()
