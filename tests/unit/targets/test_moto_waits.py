"""bbws_infra.targets.moto_waits: AWS's CREATING / UPDATING / DELETING / ENABLING waits added to
moto's DynamoDB, driven by a fake clock: the transitions themselves, then boto3 against moto
in-process with the waits on."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from bbws_infra.targets import moto_waits, sandbox_server
from bbws_infra.targets.moto_waits import ENV, Transition, seconds_from
from tests.support.moto_session import MotoSession

WAIT = 5.0


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


# --- the transition and the switch -------------------------------------------------------------


def test_a_transition_is_pending_for_its_seconds_then_final():
    moving = Transition("CREATING", "ACTIVE", started=100.0, seconds=WAIT)
    assert [moving.status(t) for t in (100.0, 104.9)] == ["CREATING", "CREATING"]
    assert [moving.status(t) for t in (105.0, 500.0)] == ["ACTIVE", "ACTIVE"]
    assert not moving.done(104.99) and moving.done(105.0)
    assert Transition("DELETING", None, 100.0, WAIT).status(106.0) is None
    assert Transition("CREATING", "ACTIVE", 100.0, 0.0).status(100.0) == "ACTIVE"


@pytest.mark.parametrize(("value", "seconds"), [(None, 0.0), ("", 0.0), (" 0 ", 0.0),
                                                ("2.5", 2.5), ("30", 30.0)])
def test_the_switch_reads_seconds(value, seconds):
    assert seconds_from({} if value is None else {ENV: value}) == seconds


@pytest.mark.parametrize("value", ["five", "-1", "nan", "inf"])
def test_a_bad_switch_is_one_sentence(value):
    with pytest.raises(ValueError, match=rf"^{ENV}=.* is not a number of seconds"):
        seconds_from({ENV: value})


def test_the_server_refuses_a_bad_switch_before_it_listens(monkeypatch):
    """The sandbox reports the server's last line when it exits while starting: the sentence."""
    monkeypatch.setenv(ENV, "soon")
    # only this extension: the others would stay applied in this test process
    monkeypatch.setattr(sandbox_server, "EXTENSIONS", (moto_waits,))
    started: list[Any] = []
    monkeypatch.setattr(sandbox_server.server, "main", started.append)
    with pytest.raises(SystemExit, match=f"{ENV}='soon' is not a number of seconds"):
        sandbox_server.main(["-H", "127.0.0.1", "-p", "5000"])
    assert started == []


def test_off_by_default(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    moto_waits.apply()
    assert moto_waits.settings.seconds == 0.0


# --- moto with the waits on --------------------------------------------------------------------


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeClock]:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    fake = FakeClock()
    moto_waits.apply(WAIT, clock=fake)
    try:
        yield fake
    finally:  # patched for good in this process, but every change finishes at once again
        moto_waits.apply(0.0)


@pytest.fixture
def dynamodb(clock: FakeClock) -> Iterator[Any]:
    with mock_aws():
        yield MotoSession().client("dynamodb")


def _create(dynamodb: Any, name: str = "tenants", indexes: bool = False) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    attributes = [{"AttributeName": "PK", "AttributeType": "S"}]
    if indexes:
        attributes.append({"AttributeName": "email", "AttributeType": "S"})
        extra["GlobalSecondaryIndexes"] = [_index("EmailIndex")]
    return dynamodb.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST", AttributeDefinitions=attributes,
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}], **extra)["TableDescription"]


def _index(name: str) -> dict[str, Any]:
    return {"IndexName": name, "KeySchema": [{"AttributeName": "email", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "ALL"}}


def _table(dynamodb: Any, name: str = "tenants") -> dict[str, Any]:
    return dynamodb.describe_table(TableName=name)["Table"]


def _indexes(dynamodb: Any, name: str = "tenants") -> dict[str, dict[str, Any]]:
    return {i["IndexName"]: i for i in _table(dynamodb, name).get("GlobalSecondaryIndexes", [])}


def _error(call: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    return caught.value.response["Error"]["Code"], caught.value.response["Error"]["Message"]


def _active(dynamodb: Any, clock: FakeClock) -> None:
    _create(dynamodb)
    clock.advance(WAIT)
    assert _table(dynamodb)["TableStatus"] == "ACTIVE"


def test_a_new_table_and_its_indexes_are_creating_then_active(dynamodb, clock):
    created = _create(dynamodb, indexes=True)
    assert created["TableStatus"] == "CREATING"
    assert _table(dynamodb)["TableStatus"] == "CREATING"
    assert _indexes(dynamodb)["EmailIndex"]["IndexStatus"] == "CREATING"
    assert "Backfilling" not in _indexes(dynamodb)["EmailIndex"]  # nothing to backfill yet
    clock.advance(WAIT - 0.1)
    assert _table(dynamodb)["TableStatus"] == "CREATING"
    clock.advance(0.1)
    assert _table(dynamodb)["TableStatus"] == "ACTIVE"
    assert _indexes(dynamodb)["EmailIndex"]["IndexStatus"] == "ACTIVE"
    # botocore's own waiter, as the state backend's bootstrap uses it, sees the same
    dynamodb.get_waiter("table_exists").wait(TableName="tenants",
                                             WaiterConfig={"Delay": 1, "MaxAttempts": 1})


def test_a_table_that_is_not_active_cannot_be_changed_or_deleted(dynamodb, clock):
    _create(dynamodb)
    for call, kwargs in ((dynamodb.update_table, {"BillingMode": "PROVISIONED",
                                                  "ProvisionedThroughput": {
                                                      "ReadCapacityUnits": 1,
                                                      "WriteCapacityUnits": 1}}),
                         (dynamodb.delete_table, {})):
        code, message = _error(call, TableName="tenants", **kwargs)
        assert code == "ResourceInUseException"
        assert message == ("Attempt to change a resource which is still in use: Table is "
                           "being created: tenants")
    clock.advance(WAIT)
    assert _table(dynamodb)["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"


def test_a_capacity_change_is_updating_then_active(dynamodb, clock):
    _active(dynamodb, clock)
    updated = dynamodb.update_table(
        TableName="tenants", BillingMode="PROVISIONED",
        ProvisionedThroughput={"ReadCapacityUnits": 2, "WriteCapacityUnits": 2})
    assert updated["TableDescription"]["TableStatus"] == "UPDATING"
    assert _table(dynamodb)["TableStatus"] == "UPDATING"
    clock.advance(WAIT)
    table = _table(dynamodb)
    assert table["TableStatus"] == "ACTIVE"
    assert table["BillingModeSummary"]["BillingMode"] == "PROVISIONED"


def test_an_added_index_backfills_then_is_active_and_the_table_stays_active(dynamodb, clock):
    _active(dynamodb, clock)
    dynamodb.update_table(
        TableName="tenants",
        AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"},
                              {"AttributeName": "email", "AttributeType": "S"}],
        GlobalSecondaryIndexUpdates=[{"Create": _index("EmailIndex")}])
    index = _indexes(dynamodb)["EmailIndex"]
    assert (index["IndexStatus"], index["Backfilling"]) == ("CREATING", True)
    assert _table(dynamodb)["TableStatus"] == "ACTIVE"
    clock.advance(WAIT)
    index = _indexes(dynamodb)["EmailIndex"]
    assert index["IndexStatus"] == "ACTIVE" and "Backfilling" not in index


def test_a_deleted_index_is_deleting_then_gone(dynamodb, clock):
    _create(dynamodb, indexes=True)
    clock.advance(WAIT)
    dynamodb.update_table(TableName="tenants",
                          GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": "EmailIndex"}}])
    assert _indexes(dynamodb)["EmailIndex"]["IndexStatus"] == "DELETING"
    clock.advance(WAIT)
    assert _indexes(dynamodb) == {}


def test_a_deleted_table_is_deleting_then_gone(dynamodb, clock):
    _active(dynamodb, clock)
    deleted = dynamodb.delete_table(TableName="tenants")
    assert deleted["TableDescription"]["TableStatus"] == "DELETING"
    assert _table(dynamodb)["TableStatus"] == "DELETING"
    code, message = _error(dynamodb.create_table, TableName="tenants",
                           BillingMode="PAY_PER_REQUEST",
                           AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}],
                           KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}])
    assert (code, message) == ("ResourceInUseException", "Table already exists: tenants")
    clock.advance(WAIT)
    assert _error(dynamodb.describe_table, TableName="tenants")[0] == (
        "ResourceNotFoundException")
    assert _create(dynamodb)["TableStatus"] == "CREATING"  # the name is free again


def test_point_in_time_recovery_is_enabling_then_enabled(dynamodb, clock):
    _active(dynamodb, clock)
    answer = dynamodb.update_continuous_backups(
        TableName="tenants",
        PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    recovery = answer["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    assert recovery["PointInTimeRecoveryStatus"] == "ENABLING"
    assert "EarliestRestorableDateTime" not in recovery
    described = dynamodb.describe_continuous_backups(TableName="tenants")
    assert described["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"][
        "PointInTimeRecoveryStatus"] == "ENABLING"
    clock.advance(WAIT)
    recovery = dynamodb.describe_continuous_backups(TableName="tenants")[
        "ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    assert recovery["PointInTimeRecoveryStatus"] == "ENABLED"
    assert recovery["EarliestRestorableDateTime"]
    # turning it off is immediate, as the provider expects (no pending status for it)
    dynamodb.update_continuous_backups(
        TableName="tenants",
        PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False})
    assert dynamodb.describe_continuous_backups(TableName="tenants")[
        "ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"][
        "PointInTimeRecoveryStatus"] == "DISABLED"


def test_time_to_live_is_enabling_then_enabled_and_disabling_then_disabled(dynamodb, clock):
    _active(dynamodb, clock)

    def ttl() -> str:
        return dynamodb.describe_time_to_live(TableName="tenants")[
            "TimeToLiveDescription"]["TimeToLiveStatus"]

    spec = {"AttributeName": "expiresAt", "Enabled": True}
    dynamodb.update_time_to_live(TableName="tenants", TimeToLiveSpecification=spec)
    assert ttl() == "ENABLING"
    clock.advance(WAIT)
    assert ttl() == "ENABLED"
    dynamodb.update_time_to_live(TableName="tenants",
                                 TimeToLiveSpecification={**spec, "Enabled": False})
    assert ttl() == "DISABLING"
    clock.advance(WAIT)
    assert ttl() == "DISABLED"


def test_at_zero_seconds_everything_is_at_once_as_in_moto(dynamodb, clock):
    moto_waits.apply(0.0, clock=clock)
    assert _create(dynamodb, indexes=True)["TableStatus"] == "ACTIVE"
    dynamodb.update_continuous_backups(
        TableName="tenants",
        PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    assert dynamodb.describe_continuous_backups(TableName="tenants")[
        "ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"][
        "PointInTimeRecoveryStatus"] == "ENABLED"
    dynamodb.delete_table(TableName="tenants")
    assert _error(dynamodb.describe_table, TableName="tenants")[0] == (
        "ResourceNotFoundException")


def test_the_sandbox_server_adds_the_waits():
    # each extension is applied in order before moto's server starts (test_moto_backup.py);
    # calling main() here would leave the others applied in this test process
    assert moto_waits in sandbox_server.EXTENSIONS
