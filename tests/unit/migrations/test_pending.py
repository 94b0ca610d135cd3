"""Pending migrations run in order under a lease, recorded against the commit they came from;
the release order of migrations; what a rollback says about the runs since its version. Against
an in-process DynamoDB and S3 (moto); the release flow itself on the sandbox is in
tests/e2e/test_release_migrations.py."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from typing import Any

import pytest
from moto import mock_aws
from rich.console import Console

from bbws_infra.core.errors import UserError
from bbws_infra.core.registry import COMPONENTS, load_environment
from bbws_infra.migrations import lease, pending, recorded, runner
from bbws_infra.release import data_migrations
from bbws_infra.state import ledger, state_backend
from tests.support.moto_session import MotoSession
from tests.unit.migrations.test_runner import _migration, _wrong, fill


@pytest.fixture
def session():
    with mock_aws():
        moto = MotoSession()
        for name in ("dev", "sit"):
            env = load_environment(name)
            moto.client("s3").create_bucket(
                Bucket=env.state_bucket,
                CreateBucketConfiguration={"LocationConstraint": "af-south-1"})
            state_backend.ensure_state_backend(moto, env)
        fill(moto)
        yield moto


def _console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=200), out


def _options() -> runner.Options:
    return runner.Options(rate=100_000, segments=2)


def test_a_run_holds_the_lease_and_records_the_commit_it_came_from(session):
    env = load_environment("dev")
    migration = _migration()
    console, out = _console()
    seen: list[bool] = []
    held_during = lease.Lease(session, env, "tenants", migration.id)

    def change(item: Any) -> Any:
        if not seen:  # while the run goes on, another run cannot take its lease
            with pytest.raises(UserError, match="is already being run in dev by"):
                held_during.take("now")
        seen.append(True)
        return migration.change(item)

    results = pending.run_pending(session, env, "sandbox", [replace(migration, change=change)],
                                  _options(), console, source=("abc123" * 7, False))
    assert results.ok and seen and _wrong(session) == 0
    (record,) = ledger.migration_records(session, env, "tenants")
    assert record.commit == "abc123" * 7 and not record.dirty
    assert record.inputs_sha256 == recorded.file_sha256(migration)
    assert "applied:" in out.getvalue()
    held_during.take("later")  # released at the end
    held_during.release()


def test_a_migration_another_run_holds_changes_nothing(session):
    env = load_environment("dev")
    other = lease.Lease(session, env, "tenants", _migration().id)
    other.take("2026-12-06T10:00:00Z")
    wrong = _wrong(session)
    console, out = _console()
    results = pending.run_pending(session, env, "sandbox", [_migration()], _options(), console)
    assert "already being run in dev" in results.failed["tenants"]
    assert "the next run goes on from its checkpoints" in out.getvalue()
    assert _wrong(session) == wrong and list(ledger.migration_records(session, env, "tenants")) \
        == []
    other.release()


def test_an_expired_lease_is_taken_over_and_the_old_holder_cannot_renew(session, monkeypatch):
    env = load_environment("dev")
    gone = lease.Lease(session, env, "tenants", "0001_x")
    gone.take("then")
    later = time.time() + lease.LEASE_S + 1
    monkeypatch.setattr(lease.time, "time", lambda: later)
    taker = lease.Lease(session, env, "tenants", "0001_x")
    taker.take("now")
    with pytest.raises(lease.LeaseLost, match="taken over by another run"):
        gone.renew("then")
    gone.release()  # never removes the taker's lease
    with pytest.raises(UserError, match="already being run"):
        lease.Lease(session, env, "tenants", "0001_x").take("again")


def test_pending_and_rerun(session):
    env = load_environment("dev")
    migration = _migration()
    assert pending.pending(session, env, [migration]) == [migration]
    pending.run_pending(session, env, "sandbox", [migration], _options(), _console()[0])
    assert pending.pending(session, env, [migration]) == []
    assert pending.pending(session, env, [migration], rerun={migration.id}) == [migration]


def test_the_release_order_of_migrations(session, monkeypatch):
    dev, sit = load_environment("dev"), load_environment("sit")
    migration = _migration()
    monkeypatch.setattr(pending.targets, "reader_session", lambda target, env: session)
    assert pending.release_order_problem("sandbox", dev, [migration]) is None
    assert "has not been applied in dev, which every migration passes before sit" in \
        pending.release_order_problem("sandbox", sit, [migration])
    outcome = runner.run(session, dev, migration, _options(), _console()[0])
    edited = recorded.record(outcome, dev, "sandbox")
    ledger.write(session, dev, replace(edited, inputs_sha256="0" * 64))
    assert "is not the file dev applied" in pending.release_order_problem("sandbox", sit,
                                                                          [migration])
    ledger.write(session, dev, recorded.record(outcome, dev, "sandbox"))
    assert pending.release_order_problem("sandbox", sit, [migration]) is None


def test_a_failed_run_in_the_previous_env_holds_the_next_back(session, monkeypatch):
    dev, sit = load_environment("dev"), load_environment("sit")
    migration = _migration()
    monkeypatch.setattr(pending.targets, "reader_session", lambda target, env: session)
    outcome = runner.run(session, dev, migration, _options(), _console()[0])
    ledger.write(session, dev, replace(recorded.record(outcome, dev, "sandbox"),
                                       result=ledger.NOT_APPLIED))
    assert "has not been applied in dev" in pending.release_order_problem("sandbox", sit,
                                                                          [migration])


def test_a_rollback_names_the_runs_that_changed_items_since_its_version(session):
    env = load_environment("dev")
    tenants = COMPONENTS["tenants"]
    before = "2000-01-01T00:00:00+00:00"
    assert "no migration changed" in data_migrations.since_text(
        data_migrations.since(session, env, tenants, before), env)
    pending.run_pending(session, env, "sandbox", [_migration()], _options(), _console()[0],
                        source=("f" * 40, False))
    runs = data_migrations.since(session, env, tenants, before)
    assert [r.migration for r in runs] == [_migration().id]
    text = data_migrations.since_text(runs, env)
    assert f"{runs[0].counts['changed']:,} items changed" in text and "ffffffffffff" in text
    assert "reverse migration or restore a backup" in text
    assert data_migrations.since(session, env, tenants, "2999-01-01T00:00:00Z") == []


def test_a_lease_whose_process_on_this_machine_is_gone_is_taken_over_at_once(session):
    env = load_environment("dev")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    crashed = lease.Lease(session, env, "tenants", "0001_x")
    crashed.take("then")
    item = session.client("dynamodb").get_item(
        TableName=env.lock_table, Key={"LockID": {"S": crashed.id}})["Item"]
    info = json.loads(item["Info"]["S"])
    assert info["pid"] == os.getpid() and info["host"]
    # the same lease, as a process that has ended left it
    item["Info"] = {"S": json.dumps({**info, "pid": int(dead.stdout)})}
    session.client("dynamodb").put_item(TableName=env.lock_table, Item=item)
    lease.Lease(session, env, "tenants", "0001_x").take("now")
    # a live holder (this process) is never taken over
    with pytest.raises(UserError, match="already being run"):
        lease.Lease(session, env, "tenants", "0001_x").take("again")
