"""The deployment ledger and the release order, against an in-process S3 (moto) and a git
repository of a few commits; the end-to-end flow is tests/e2e/test_release.py."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from bbws_infra.core.errors import OperationError, UserError
from bbws_infra.core.registry import COMPONENTS, load_environment
from bbws_infra.release import deploy, worktrees
from bbws_infra.state import ledger
from bbws_infra.targets import targets
from tests.support.moto_session import MotoSession

# (env, component) -> the state version each component's records leave (see s3_session)
_STATE: dict[tuple[str, str], ledger.StatePoint] = {}


def _put_state(session: Any, env_name: str, component: str, serial: int = 1,
               lineage: str = "L") -> ledger.StatePoint:
    """A state version as Terraform leaves one: a versioned object under the state key."""
    env = load_environment(env_name)
    put = session.client("s3").put_object(
        Bucket=env.state_bucket, Key=COMPONENTS[component].state_key,
        Body=json.dumps({"version": 4, "serial": serial, "lineage": lineage}).encode())
    return ledger.StatePoint(put["VersionId"], serial, lineage)


@pytest.fixture
def s3_session():
    with mock_aws():
        session = MotoSession()
        for name in ("dev", "sit", "prod"):
            bucket = load_environment(name).state_bucket
            session.client("s3").create_bucket(
                Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "af-south-1"})
            session.client("s3").put_bucket_versioning(
                Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
            for component in ("tenants", "products") if name != "prod" else ():
                _STATE[(name, component)] = _put_state(session, name, component)
        yield session


def _record(component: str = "tenants", commit: str = "a" * 40,
            started: str = "2026-11-26T09:00:00Z", env: str = "dev", **changes: Any
            ) -> ledger.Record:
    """A record whose run changed nothing it did not find (state before = after), so the
    state version it names vouches for it whenever it ran."""
    point = _STATE[(env, component)]
    values: dict[str, Any] = dict(
        env=env, component=component, action="apply", target="sandbox", commit=commit,
        dirty=False, inputs_sha256="f" * 64, bundle_sha256="b" * 64,
        state_before=point, state_after=point,
        who="someone", started_at=started, finished_at=started, result=ledger.APPLIED,
        verification=ledger.PASSED)
    values.update(changes)
    return ledger.Record(**values)


def test_records_round_trip_newest_first(s3_session):
    dev = load_environment("dev")
    first = _record(started="2026-11-26T09:00:00Z")
    second = _record(component="products", started="2026-11-26T10:00:00Z",
                     verification=ledger.FAILED, failed_checks=["table products: stream"])
    third = _record(started="2026-11-26T11:00:00Z", result=ledger.NOT_APPLIED,
                    verification=ledger.SKIPPED, error="the state is locked")
    for record in (first, second, third):
        key = ledger.write(s3_session, dev, record)
        assert key.startswith(f"ledger/{record.component}/20261126T") and key == record.key

    read = ledger.read(s3_session, dev)
    assert [r.started_at for r in read] == ["2026-11-26T11:00:00Z", "2026-11-26T10:00:00Z",
                                            "2026-11-26T09:00:00Z"]
    assert read[1] == second and read[1].state_after == _STATE[("dev", "products")]
    assert [r.component for r in ledger.read(s3_session, dev, "tenants")] == ["tenants"] * 2
    assert len(ledger.read(s3_session, dev, limit=1)) == 1
    # what runs now is the newest apply that went through, not the failed attempt after it
    assert ledger.current(s3_session, dev, "tenants") == first
    assert ledger.current(s3_session, dev, "campaigns") is None
    # a failed verification never counts as verified, and neither does a pass that a later
    # failed apply of the same commit withdrew
    assert ledger.verified(s3_session, dev, "products", "a" * 40) is None
    assert ledger.verified(s3_session, dev, "tenants", "a" * 40) is None


def test_only_the_newest_record_of_a_commit_decides_whether_it_is_verified(s3_session):
    dev = load_environment("dev")
    passed = _record(started="2026-11-26T09:00:00Z")
    ledger.write(s3_session, dev, passed)
    assert ledger.verified(s3_session, dev, "tenants", "a" * 40) == passed
    # another commit applied since, or a dirty tree on top: the pass of "a" still stands
    ledger.write(s3_session, dev, _record(started="2026-11-26T10:00:00Z", commit="b" * 40))
    ledger.write(s3_session, dev, _record(started="2026-11-26T10:30:00Z", dirty=True))
    assert ledger.verified(s3_session, dev, "tenants", "a" * 40) == passed
    # the same commit re-applied and its verification failed: no longer verified
    ledger.write(s3_session, dev, _record(started="2026-11-26T11:00:00Z",
                                          verification=ledger.FAILED))
    assert ledger.verified(s3_session, dev, "tenants", "a" * 40) is None
    # verified again
    again = _record(started="2026-11-26T12:00:00Z")
    ledger.write(s3_session, dev, again)
    assert ledger.verified(s3_session, dev, "tenants", "a" * 40) == again


def test_two_writers_of_the_same_moment_never_overwrite_each_other(s3_session):
    dev = load_environment("dev")
    keys = {ledger.write(s3_session, dev, _record()) for _ in range(5)}
    assert len(keys) == 5 and len(ledger.read(s3_session, dev)) == 5


def test_a_record_is_never_overwritten_even_under_the_same_key(s3_session, monkeypatch):
    """The write sends If-None-Match: *, so S3 refuses (412) to replace an existing record,
    and the deploy role may write ledger/ only with that header (iam_policy)."""
    dev = load_environment("dev")
    monkeypatch.setattr(ledger.uuid, "uuid4", lambda: type("U", (), {"hex": "0" * 32})())
    first = ledger.write(s3_session, dev, _record(commit="a" * 40))
    with pytest.raises(OperationError, match="PreconditionFailed"):
        ledger.write(s3_session, dev, _record(commit="b" * 40))
    [kept] = ledger.read(s3_session, dev)
    assert (kept.key, kept.commit) == (first, "a" * 40)


def test_a_dirty_apply_is_never_the_verified_commit(s3_session):
    dev = load_environment("dev")
    ledger.write(s3_session, dev, _record(dirty=True))
    assert ledger.current(s3_session, dev, "tenants").dirty is True
    assert ledger.verified(s3_session, dev, "tenants", "a" * 40) is None


def test_a_failed_write_is_an_error_carrying_the_record(s3_session):
    gone = load_environment("prod")
    s3_session.client("s3").delete_bucket(Bucket=gone.state_bucket)
    with pytest.raises(OperationError, match="ledger record could not be written") as caught:
        ledger.write(s3_session, gone, _record())
    assert '"commit": "' + "a" * 40 in caught.value.details


# ---- the release order --------------------------------------------------------------------


@pytest.fixture
def history(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A repository of three commits (first, second on top, and a side branch), with
    worktrees' git calls pointed at it."""
    identity = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
                "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True,
                              text=True, env={**os.environ, **identity}).stdout.strip()

    git("init", "-q", "-b", "main")
    git("commit", "-q", "--allow-empty", "-m", "first")
    first = git("rev-parse", "HEAD")
    git("commit", "-q", "--allow-empty", "-m", "second")
    second = git("rev-parse", "HEAD")
    git("checkout", "-q", "-b", "side", first)
    git("commit", "-q", "--allow-empty", "-m", "side")
    side = git("rev-parse", "HEAD")
    monkeypatch.setattr(worktrees, "REPO_ROOT", tmp_path)
    return {"first": first, "second": second, "side": side}


def _problem(session: Any, env: str, commit: str) -> str | None:
    # a tree without table folders: the migrations' part of the order is tested below
    return deploy.release_order_problem("sandbox", load_environment(env), session, "tenants",
                                        commit, Path(__file__).parent)


def test_release_order(s3_session, history, monkeypatch):
    monkeypatch.setattr(targets, "reader_session", lambda target, env: s3_session)
    dev, sit = load_environment("dev"), load_environment("sit")
    first, second, side = history["first"], history["second"], history["side"]

    assert _problem(s3_session, "dev", first) is None  # dev is where changes start
    assert "has not been applied and verified in dev" in _problem(s3_session, "sit", first)
    ledger.write(s3_session, dev, _record(commit=first, verification=ledger.FAILED))
    assert "has not been applied and verified in dev" in _problem(s3_session, "sit", first)
    ledger.write(s3_session, dev, _record(commit=first, started="2026-11-26T10:00:00Z"))
    assert _problem(s3_session, "sit", first) is None
    assert "in sit, which every change passes before prod" in _problem(s3_session, "prod",
                                                                       first)

    # sit runs `second`: `first` is older, `side` is another branch; both are refused
    for commit in (second, side):
        ledger.write(s3_session, dev, _record(commit=commit, started="2026-11-26T11:00:00Z"))
    ledger.write(s3_session, sit, _record(env="sit", commit=second, action="promote"))
    assert _problem(s3_session, "sit", second) is None  # the same commit again is fine
    for commit in (first, side):
        problem = _problem(s3_session, "sit", commit)
        assert f"sit runs tenants at commit {second[:12]}" in problem
        assert "going back is a rollback, not a promotion" in problem


def test_unknown_commits_are_refused_with_what_to_fetch(history):
    with pytest.raises(UserError, match="is not in this clone; fetch it first"):
        worktrees.resolve("0" * 40)
    assert worktrees.resolve(history["second"][:10]) == history["second"]
    assert worktrees.is_ancestor(history["first"], history["second"])
    assert not worktrees.is_ancestor(history["side"], history["second"])


def test_a_forged_record_is_never_a_verification(s3_session):
    """Only a record the state bucket vouches for counts: its state version must exist with
    the recorded serial and lineage, and have been written while the recorded run ran."""
    dev = load_environment("dev")
    real = _STATE[("dev", "tenants")]
    forged = {
        "no such version": ledger.StatePoint("no-such-version", 1, "L"),
        "wrong serial": ledger.StatePoint(real.version_id, 7, "L"),
        "wrong lineage": ledger.StatePoint(real.version_id, 1, "other"),
        "no version": ledger.StatePoint(None, 1, "L"),
    }
    for number, point in enumerate(forged.values()):
        commit = f"{number}" * 40
        ledger.write(s3_session, dev, _record(commit=commit, state_after=point))
        assert ledger.verified(s3_session, dev, "tenants", commit) is None
        assert ledger.state_problem(s3_session, dev, ledger.read(s3_session, dev, limit=1)[0])
    # a real state version, but one written long before the run the record claims
    ledger.write(s3_session, dev, _record(
        commit="e" * 40, started="2027-01-01T00:00:00Z",
        state_before=ledger.StatePoint(None, 0, ""), state_after=real))
    assert ledger.verified(s3_session, dev, "tenants", "e" * 40) is None
    assert ledger.newest_verified(s3_session, dev, "tenants") is None


def test_a_record_keyed_in_the_future_is_never_the_newest(s3_session):
    dev = load_environment("dev")
    now = datetime.now(UTC)
    stamp = (now - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    honest = _record(commit="a" * 40, started=stamp)
    ledger.write(s3_session, dev, honest)
    future = (now + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    ledger.write(s3_session, dev, _record(commit="b" * 40, started=future))
    ledger.write(s3_session, dev, _record(commit="a" * 40, started=future,
                                          verification=ledger.FAILED))
    assert ledger.current(s3_session, dev, "tenants").commit == "a" * 40
    assert ledger.running_commit(s3_session, dev, "tenants").commit == "a" * 40
    assert ledger.verified(s3_session, dev, "tenants", "a" * 40) == honest
    assert ledger.newest_verified(s3_session, dev, "tenants") == honest
    # history still shows what is there
    assert len(ledger.read(s3_session, dev, "tenants")) == 3


def test_a_run_that_applied_nothing_withdraws_no_verification(s3_session):
    dev = load_environment("dev")
    passed = _record(started="2026-11-26T09:00:00Z")
    ledger.write(s3_session, dev, passed)
    ledger.write(s3_session, dev, _record(started="2026-11-26T10:00:00Z",
                                          result=ledger.NOTHING_APPLIED,
                                          verification=ledger.SKIPPED))
    assert ledger.verified(s3_session, dev, "tenants", "a" * 40) == passed


def test_a_state_restore_without_a_commit_is_not_what_the_env_runs(s3_session):
    dev = load_environment("dev")
    applied = _record(started="2026-11-26T09:00:00Z")
    ledger.write(s3_session, dev, applied)
    ledger.write(s3_session, dev, _record(started="2026-11-26T10:00:00Z", commit="",
                                          action="rollback", verification=ledger.SKIPPED))
    assert ledger.current(s3_session, dev, "tenants").commit == ""
    assert ledger.running_commit(s3_session, dev, "tenants") == applied


def test_a_copy_of_a_real_record_under_another_commit_vouches_for_neither(s3_session):
    """A forger who copies a real record's state points and times under another commit does
    not get a release: two records claiming to have written one state version are both
    refused (fail closed; doctor and the history show both)."""
    dev = load_environment("dev")
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    written = _put_state(s3_session, "dev", "tenants", serial=2)
    real = _record(commit="a" * 40, started=now, state_before=ledger.StatePoint(None, 0, ""),
                   state_after=written)
    ledger.write(s3_session, dev, real)
    assert ledger.verified(s3_session, dev, "tenants", "a" * 40) == real
    ledger.write(s3_session, dev, _record(commit="f" * 40, started=now,
                                          state_before=ledger.StatePoint(None, 0, ""),
                                          state_after=written))
    assert ledger.verified(s3_session, dev, "tenants", "f" * 40) is None
    assert ledger.verified(s3_session, dev, "tenants", "a" * 40) is None


def test_migration_runs_say_nothing_about_what_is_deployed(s3_session):
    """A migrate record (even of the same commit, even failed, even newest) never withdraws
    a verification, never counts as what runs, and is skipped without being read; history
    and the migration listing see it."""
    dev = load_environment("dev")
    passed = _record(started="2026-11-26T09:00:00Z")
    ledger.write(s3_session, dev, passed)
    for result in (ledger.NOT_APPLIED, ledger.INTERRUPTED, ledger.APPLIED):
        ledger.write(s3_session, dev, _record(
            started="2026-11-26T10:00:00Z", action=ledger.MIGRATE, result=result,
            verification=ledger.SKIPPED, state_before=ledger.StatePoint(),
            state_after=ledger.StatePoint(), migration="0001_x",
            counts={"seen": 3, "changed": 1}))
    assert ledger.verified(s3_session, dev, "tenants", "a" * 40) == passed
    assert ledger.current(s3_session, dev, "tenants") == passed
    assert ledger.running_commit(s3_session, dev, "tenants") == passed
    assert ledger.newest_verified(s3_session, dev, "tenants") == passed
    assert [r.action for r in ledger.records(s3_session, dev, "tenants")] == ["apply"]
    assert [r.action for r in ledger.read(s3_session, dev, "tenants")] == \
        [ledger.MIGRATE] * 3 + ["apply"]
    runs = list(ledger.migration_records(s3_session, dev, "tenants"))
    assert [r.migration for r in runs] == ["0001_x"] * 3 and runs[0].counts["changed"] == 1
    assert ledger.key_action(runs[0].key) == ledger.MIGRATE
    assert ledger.key_action("ledger/tenants/not-a-record") == ""
