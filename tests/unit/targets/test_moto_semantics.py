"""bbws_infra.targets.moto_semantics: the rules AWS enforces beyond a request's shape, run
through moto_validation's hook against moto in-process."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from bbws_infra.targets import moto_backup, moto_semantics, moto_validation
from bbws_infra.targets.moto_semantics import cron_problem
from tests.support.aws_errors import refusal, unvalidated_client

TABLE = {"TableName": "tenants", "BillingMode": "PAY_PER_REQUEST",
         "KeySchema": [{"AttributeName": "tenantId", "KeyType": "HASH"}],
         "AttributeDefinitions": [{"AttributeName": "tenantId", "AttributeType": "S"}]}
INDEXED = [*TABLE["AttributeDefinitions"], {"AttributeName": "email", "AttributeType": "S"},
           {"AttributeName": "status", "AttributeType": "S"}]


@pytest.mark.parametrize("expression", [
    "cron(0 2 * * ? *)", "cron(0 5/12 ? * * *)", "cron(15 * ? * * *)",
    "cron(0 12 ? * MON-FRI *)", "cron(0 0 L * ? *)", "cron(0 0 ? * 6#3 *)",
    "cron(30 1 1,15 JAN,JUL ? 2027-2030)",
])
def test_aws_cron_expressions_are_accepted(expression: str):
    assert cron_problem(expression) is None


@pytest.mark.parametrize(("expression", "why"), [
    ("0 2 * * ? *", "not of the form cron(...)"),
    ("rate(1 day)", "not of the form cron(...)"),
    ("cron(0 2 * * *)", "5 fields instead of 6"),
    ("cron(0 2 * * * *)", "exactly one of day-of-month and day-of-week"),
    ("cron(0 2 ? * ? *)", "exactly one of day-of-month and day-of-week"),
    ("cron(60 2 * * ? *)", "'60'"),
    ("cron(0 24 * * ? *)", "'24'"),
    ("cron(0 2 * 13 ? *)", "'13'"),
    ("cron(0 2 ? * 8 *)", "'8'"),
    ("cron(0 2 * FOO ? *)", "'FOO'"),
])
def test_other_schedules_are_refused_with_the_reason(expression: str, why: str):
    problem = cron_problem(expression)
    assert problem is not None and why in problem


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    moto_backup.apply()
    with mock_aws(), moto_validation.applied():
        yield


def _error(call: Any, **kwargs: Any) -> tuple[str, str]:
    code, message, status = refusal(call, **kwargs)
    assert status == 400
    return code, message


def _ttl(enabled: bool) -> dict[str, Any]:
    return {"TableName": "tenants",
            "TimeToLiveSpecification": {"Enabled": enabled, "AttributeName": "expiresAt"}}


def test_time_to_live_changes_once_an_hour(aws, monkeypatch: pytest.MonkeyPatch):
    now = [1_000_000.0]
    monkeypatch.setattr(moto_semantics, "clock", lambda: now[0])
    dynamodb = unvalidated_client("dynamodb")
    dynamodb.create_table(**TABLE)
    dynamodb.update_time_to_live(**_ttl(True))
    now[0] += 3599
    assert _error(dynamodb.update_time_to_live, **_ttl(False)) == (
        "ValidationException",
        "Time to live has been modified multiple times within a fixed interval")
    status = dynamodb.describe_time_to_live(TableName="tenants")["TimeToLiveDescription"]
    assert status["TimeToLiveStatus"] == "ENABLED"  # the refused change did not happen
    now[0] += 2
    dynamodb.update_time_to_live(**_ttl(False))

    # a table created again under the same name starts afresh
    dynamodb.delete_table(TableName="tenants")
    dynamodb.create_table(**TABLE)
    dynamodb.update_time_to_live(**_ttl(True))


def _index(name: str, key: str) -> dict[str, Any]:
    return {"Create": {"IndexName": name, "Projection": {"ProjectionType": "ALL"},
                       "KeySchema": [{"AttributeName": key, "KeyType": "HASH"}]}}


def test_one_index_is_created_or_deleted_per_update(aws):
    dynamodb = unvalidated_client("dynamodb")
    dynamodb.create_table(**TABLE)
    updates = [_index("EmailIndex", "email"), _index("StatusIndex", "status")]
    assert _error(dynamodb.update_table, TableName="tenants",
                  AttributeDefinitions=INDEXED,
                  GlobalSecondaryIndexUpdates=updates) == (
        "LimitExceededException", moto_semantics.ONE_INDEX)
    assert dynamodb.describe_table(TableName="tenants")["Table"].get(
        "GlobalSecondaryIndexes", []) == []
    for update in updates:  # one at a time, as the provider sends them
        dynamodb.update_table(TableName="tenants",
                              AttributeDefinitions=INDEXED,
                              GlobalSecondaryIndexUpdates=[update])
    indexes = dynamodb.describe_table(TableName="tenants")["Table"]["GlobalSecondaryIndexes"]
    assert {i["IndexName"] for i in indexes} == {"EmailIndex", "StatusIndex"}


def _plan(schedule: str, copy_to: str | None = None) -> dict[str, Any]:
    rule: dict[str, Any] = {"RuleName": "daily", "TargetBackupVaultName": "bbws-tenants-dev",
                            "ScheduleExpression": schedule}
    if copy_to:
        rule["CopyActions"] = [{"DestinationBackupVaultArn": copy_to}]
    return {"BackupPlanName": "bbws-tenants-dev", "Rules": [rule]}


def test_backup_plans_need_an_aws_cron_schedule(aws):
    backup = unvalidated_client("backup")
    backup.create_backup_vault(BackupVaultName="bbws-tenants-dev")
    code, message = _error(backup.create_backup_plan, BackupPlan=_plan("cron(0 2 * * * *)"))
    assert code == "InvalidParameterValueException"
    assert message.startswith("Invalid schedule expression cron(0 2 * * * *): exactly one")
    assert backup.list_backup_plans()["BackupPlansList"] == []

    plan_id = backup.create_backup_plan(BackupPlan=_plan("cron(0 2 * * ? *)"))["BackupPlanId"]
    assert _error(backup.update_backup_plan, BackupPlanId=plan_id,
                  BackupPlan=_plan("cron(0 2 * *)"))[0] == "InvalidParameterValueException"
    rule = backup.get_backup_plan(BackupPlanId=plan_id)["BackupPlan"]["Rules"][0]
    assert rule["ScheduleExpression"] == "cron(0 2 * * ? *)"


def test_recovery_points_stay_90_days_in_cold_storage(aws):
    backup = unvalidated_client("backup")
    backup.create_backup_vault(BackupVaultName="bbws-tenants-dev")
    plan = _plan("cron(0 2 * * ? *)")
    plan["Rules"][0]["Lifecycle"] = {"MoveToColdStorageAfterDays": 30, "DeleteAfterDays": 119}
    code, message = _error(backup.create_backup_plan, BackupPlan=plan)
    assert code == "InvalidParameterValueException"
    assert "DeleteAfterDays (119) must be at least 90 days more than " \
           "MoveToColdStorageAfterDays (30)" in message
    plan["Rules"][0]["Lifecycle"]["DeleteAfterDays"] = 120
    assert backup.create_backup_plan(BackupPlan=plan)["BackupPlanId"]


def test_a_copy_to_a_vault_that_does_not_exist_is_accepted_as_aws_accepts_it(aws):
    backup = unvalidated_client("backup")
    backup.create_backup_vault(BackupVaultName="bbws-tenants-dev")
    nowhere = "arn:aws:backup:eu-west-1:123456789012:backup-vault:never-created"
    plan_id = backup.create_backup_plan(
        BackupPlan=_plan("cron(0 2 * * ? *)", copy_to=nowhere))["BackupPlanId"]
    rule = backup.get_backup_plan(BackupPlanId=plan_id)["BackupPlan"]["Rules"][0]
    assert rule["CopyActions"][0]["DestinationBackupVaultArn"] == nowhere
