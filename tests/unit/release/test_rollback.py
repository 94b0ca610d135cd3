"""bbws_infra.release.rollback.prepare: every refusal before a rollback changes anything,
against an in-process S3 and DynamoDB (moto) whose versioned state bucket holds the versions;
no sandbox, no Terraform. The rollbacks themselves run end to end in tests/e2e/test_rollback.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from bbws_infra.core.errors import UserError
from bbws_infra.core.paths import REPO_ROOT
from bbws_infra.core.registry import COMPONENTS, load_environment
from bbws_infra.release import rollback, worktrees
from bbws_infra.state import ledger, state_backend
from bbws_infra.targets import targets
from tests.support.moto_session import MotoSession

DEV = load_environment("dev")
TENANTS = COMPONENTS["tenants"]
TABLE = {"mode": "managed", "type": "aws_dynamodb_table", "name": "this", "module": "module.table",
         "instances": [{"attributes": {}}]}
ALARM = {"mode": "managed", "type": "aws_cloudwatch_metric_alarm", "name": "throttles",
         "instances": [{"index_key": "reads", "attributes": {}}]}


class State:
    """The dev state bucket and lock table in moto; put() adds a state version."""

    def __init__(self, session: MotoSession) -> None:
        self.session = session
        self.s3 = session.client("s3")
        self.checked_out: list[str] = []  # the commits rollback asked a worktree of

    def put(self, body: dict[str, Any] | bytes, component: str = "tenants") -> str:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        return str(self.s3.put_object(Bucket=DEV.state_bucket,
                                      Key=COMPONENTS[component].state_key,
                                      Body=data)["VersionId"])

    def record(self, commit: str, before: str | None, after: str, serial: int) -> None:
        """The ledger record of the apply that left version `after`."""
        ledger.write(self.session, DEV, ledger.Record(
            env="dev", component="tenants", action="apply", target="sandbox", commit=commit,
            dirty=False, inputs_sha256="f" * 64, bundle_sha256="b" * 64,
            state_before=ledger.StatePoint(before, serial - 1, "L"),
            state_after=ledger.StatePoint(after, serial, "L"), who="someone",
            started_at=f"2026-11-26T0{serial}:00:00Z", finished_at=f"2026-11-26T0{serial}:00:00Z",
            result=ledger.APPLIED, verification=ledger.PASSED))


def _state(serial: int, lineage: str = "L", *resources: dict[str, Any]) -> dict[str, Any]:
    return {"version": 4, "serial": serial, "lineage": lineage, "resources": list(resources)}


@pytest.fixture
def state(monkeypatch: pytest.MonkeyPatch) -> Iterator[State]:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        session = MotoSession()
        s3 = session.client("s3")
        s3.create_bucket(Bucket=DEV.state_bucket,
                         CreateBucketConfiguration={"LocationConstraint": DEV.region})
        s3.put_bucket_versioning(Bucket=DEV.state_bucket,
                                 VersioningConfiguration={"Status": "Enabled"})
        session.client("dynamodb").create_table(
            TableName=DEV.lock_table, BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "LockID", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "LockID", "AttributeType": "S"}])
        monkeypatch.setattr(targets, "reader_session", lambda target, env: session)
        holder = State(session)

        def checkout(commit: str) -> Path:  # this tree stands in for the commit's worktree
            holder.checked_out.append(commit)
            return REPO_ROOT

        monkeypatch.setattr(worktrees, "checkout", checkout)
        yield holder


def _prepare(version_id: str | None, confirm: str | None = "rollback-dev", **options: Any
             ) -> rollback.Rollback:
    return rollback.prepare("dev", "tenants", version_id, confirm, "sandbox", **options)


def test_a_version_the_ledger_recorded_is_planned_back_to_its_commit(state):
    first = state.put(_state(1, "L", TABLE))
    state.record("a" * 40, None, first, 1)
    second = state.put(_state(2, "L", TABLE, ALARM))
    state.record("b" * 40, first, second, 2)
    chosen = _prepare(first)
    assert (chosen.version.version_id, chosen.current.version_id) == (first, second)
    assert chosen.commit == "a" * 40 and chosen.source == REPO_ROOT
    assert chosen.orphans == [] and state.checked_out == ["a" * 40]


def test_version_id_is_required(state):
    with pytest.raises(UserError, match="rollback needs --version-id; list them: invoke "
                                        "state-versions --env dev --component tenants"):
        _prepare(None)
    with pytest.raises(UserError, match="exactly one --component"):
        rollback.prepare("dev", None, "v1", "rollback-dev", "sandbox")


@pytest.mark.parametrize(("confirm", "dry_run"), [
    (None, False), ("deploy-dev", False), ("rollback-sit", False), ("rollback-sit", True),
])
def test_the_wrong_confirmation_is_refused(state, confirm, dry_run):
    with pytest.raises(UserError, match=r"Rolling back in dev needs --confirm rollback-dev "
                                        r"\(or --dry-run to see the plan only\); nothing"):
        _prepare("v1", confirm, dry_run=dry_run)


def test_a_dry_run_needs_no_confirmation(state):
    first = state.put(_state(1))
    state.record("a" * 40, None, first, 1)
    state.put(_state(2))
    assert _prepare(first, None, dry_run=True).commit == "a" * 40


def test_an_unknown_version_is_refused(state):
    state.put(_state(1))
    with pytest.raises(UserError, match="The state of tenants in dev has no version nope; "
                                        "nothing was changed; list them"):
        _prepare("nope")


def test_a_version_of_another_component_names_that_component(state):
    state.put(_state(1))
    products = state.put(_state(1), component="products")
    with pytest.raises(UserError, match=f"Version {products} belongs to the state of products, "
                                        "not tenants, in dev"):
        _prepare(products)


def test_a_version_of_another_lineage_is_refused(state):
    old = state.put(_state(7, "11111111-old"))
    state.put(_state(1, "22222222-new"))
    with pytest.raises(UserError, match=r"belongs to another state lineage \(11111111, the "
                                        r"current state is 22222222\)"):
        _prepare(old, restore_state=True)


def test_an_unreadable_version_is_refused(state):
    broken = state.put(b"not a state document")
    state.put(_state(2))
    with pytest.raises(UserError, match=f"Version {broken} of the state of tenants is not a "
                                        "readable state document"):
        _prepare(broken)


def test_a_locked_state_is_refused_and_names_the_unlock(state):
    first = state.put(_state(1))
    state.record("a" * 40, None, first, 1)
    state.put(_state(2))
    state.session.client("dynamodb").put_item(TableName=DEV.lock_table, Item={
        "LockID": {"S": state_backend.lock_id(DEV, TENANTS.state_key)},
        "Info": {"S": json.dumps({"ID": "lock-1", "Operation": "OperationTypeApply",
                                  "Who": "ci@runner", "Created": "2026-11-26T10:00:00Z"})}})
    with pytest.raises(UserError, match=r"is locked by ci@runner .* invoke unlock --env dev "
                                        r"--component tenants --lock-id lock-1"):
        _prepare(first)
    assert state.checked_out == []


def test_a_version_without_a_recorded_commit_needs_restore_state(state):
    first = state.put(_state(1, "L", TABLE))
    state.put(_state(2, "L", TABLE))
    with pytest.raises(UserError, match=rf"The ledger names no commit for version {first} of "
                                        r"tenants, .* add --restore-state"):
        _prepare(first)
    restored = _prepare(first, restore_state=True)
    assert restored.commit == "" and restored.source is None and restored.orphans == []
    assert state.checked_out == []


def test_a_copied_ledger_record_does_not_name_the_commit(state):
    """Two records claiming the same version: neither decides what a rollback plans."""
    first = state.put(_state(1))
    state.record("a" * 40, None, first, 1)
    state.record("c" * 40, None, first, 1)  # a later record claiming the same version
    state.put(_state(2))
    with pytest.raises(UserError, match="The ledger names no commit"):
        _prepare(first)


def test_restoring_a_version_that_drops_addresses_needs_allow_orphans(state):
    first = state.put(_state(1, "L", TABLE))
    state.put(_state(2, "L", TABLE, ALARM))
    alarm = 'aws_cloudwatch_metric_alarm.throttles["reads"]'
    with pytest.raises(UserError) as caught:
        _prepare(first, restore_state=True)
    assert f"Restoring version {first} would drop 1 address(es)" in str(caught.value)
    assert alarm in str(caught.value) and "add --allow-orphans" in str(caught.value)
    allowed = _prepare(first, restore_state=True, allow_orphans=True)
    assert allowed.orphans == [alarm]


def test_an_unreadable_current_state_makes_every_restore_need_allow_orphans(state):
    first = state.put(_state(1, "L", TABLE))
    state.put(b"{broken")
    with pytest.raises(UserError, match="The current state of tenants is unreadable, so what "
                                        "it manages is unknown"):
        _prepare(first, restore_state=True)
    allowed = _prepare(first, restore_state=True, allow_orphans=True)
    assert allowed.orphans == [rollback.UNKNOWN_ADDRESSES]
