"""bbws_infra.targets.moto_backup: the AWS Backup operations the sandbox adds to moto, called
with boto3 against moto in-process, with the shapes and errors of the AWS Backup API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from bbws_infra.core.errors import OperationError
from bbws_infra.core.paths import REPO_ROOT
from bbws_infra.targets import moto_backup, sandbox, sandbox_server, targets
from tests.support.moto_session import MotoSession

moto_backup.apply()

ROLE = "arn:aws:iam::123456789012:role/bbws-tenants-dev-backup"
TABLE = "arn:aws:dynamodb:af-south-1:123456789012:table/tenants"


def _trust(service: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]})


@pytest.fixture
def backup(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        client = MotoSession().client("backup")
        client.create_backup_vault(BackupVaultName="bbws-tenants-dev")
        MotoSession().client("iam").create_role(RoleName="bbws-tenants-dev-backup",
                                                AssumeRolePolicyDocument=_trust(
                                                    "backup.amazonaws.com"))
        yield client


def _rule(days: int, schedule: str = "cron(0 2 * * ? *)") -> dict[str, Any]:
    return {"RuleName": "scheduled-backup", "TargetBackupVaultName": "bbws-tenants-dev",
            "ScheduleExpression": schedule, "StartWindowMinutes": 60,
            "CompletionWindowMinutes": 180, "Lifecycle": {"DeleteAfterDays": days}}


def _plan(backup: Any) -> dict[str, Any]:
    return backup.create_backup_plan(
        BackupPlan={"BackupPlanName": "bbws-tenants-dev", "Rules": [_rule(7)]})


def _select(backup: Any, plan_id: str, name: str = "bbws-tenants-dev",
            resources: tuple[str, ...] = (TABLE,)) -> dict[str, Any]:
    return backup.create_backup_selection(
        BackupPlanId=plan_id,
        BackupSelection={"SelectionName": name, "IamRoleArn": ROLE, "Resources": list(resources),
                         "ListOfTags": []})


def _error(call: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    return caught.value.response["Error"]["Code"], caught.value.response["Error"]["Message"]


def test_a_selection_is_created_read_listed_and_deleted(backup):
    plan_id = _plan(backup)["BackupPlanId"]
    assert backup.list_backup_selections(BackupPlanId=plan_id)["BackupSelectionsList"] == []

    created = _select(backup, plan_id)
    assert created["BackupPlanId"] == plan_id and created["SelectionId"]
    assert created["CreationDate"]

    got = backup.get_backup_selection(BackupPlanId=plan_id, SelectionId=created["SelectionId"])
    assert (got["BackupPlanId"], got["SelectionId"]) == (plan_id, created["SelectionId"])
    assert got["BackupSelection"] == {"SelectionName": "bbws-tenants-dev", "IamRoleArn": ROLE,
                                      "Resources": [TABLE], "ListOfTags": []}

    (listed,) = backup.list_backup_selections(BackupPlanId=plan_id)["BackupSelectionsList"]
    assert listed["SelectionId"] == created["SelectionId"]
    assert (listed["SelectionName"], listed["IamRoleArn"], listed["BackupPlanId"]) == (
        "bbws-tenants-dev", ROLE, plan_id)

    backup.delete_backup_selection(BackupPlanId=plan_id, SelectionId=created["SelectionId"])
    assert backup.list_backup_selections(BackupPlanId=plan_id)["BackupSelectionsList"] == []
    assert _error(backup.get_backup_selection, BackupPlanId=plan_id,
                  SelectionId=created["SelectionId"])[0] == "ResourceNotFoundException"


def test_selections_page_through_the_paginator(backup):
    plan_id = _plan(backup)["BackupPlanId"]
    made = {_select(backup, plan_id, f"selection-{i}")["SelectionId"] for i in range(5)}
    first = backup.list_backup_selections(BackupPlanId=plan_id, MaxResults=2)
    assert len(first["BackupSelectionsList"]) == 2 and first["NextToken"]
    pages = backup.get_paginator("list_backup_selections").paginate(
        BackupPlanId=plan_id, PaginationConfig={"PageSize": 2})
    assert {s["SelectionId"] for page in pages for s in page["BackupSelectionsList"]} == made


def test_selections_belong_to_their_plan(backup):
    one = _plan(backup)["BackupPlanId"]
    other = backup.create_backup_plan(
        BackupPlan={"BackupPlanName": "bbws-products-dev", "Rules": [_rule(7)]})["BackupPlanId"]
    selection = _select(backup, one)["SelectionId"]
    assert backup.list_backup_selections(BackupPlanId=other)["BackupSelectionsList"] == []
    assert _error(backup.get_backup_selection, BackupPlanId=other,
                  SelectionId=selection)[0] == "ResourceNotFoundException"


def test_updating_a_plan_replaces_its_rules_under_a_new_version(backup):
    created = _plan(backup)
    plan_id = created["BackupPlanId"]
    updated = backup.update_backup_plan(
        BackupPlanId=plan_id,
        BackupPlan={"BackupPlanName": "bbws-tenants-dev",
                    "Rules": [_rule(14, "cron(0 3 * * ? *)")]})
    assert updated["BackupPlanId"] == plan_id
    assert updated["BackupPlanArn"] == created["BackupPlanArn"]
    assert updated["VersionId"] and updated["VersionId"] != created["VersionId"]

    now = backup.get_backup_plan(BackupPlanId=plan_id)
    assert now["VersionId"] == updated["VersionId"]
    (rule,) = now["BackupPlan"]["Rules"]
    assert rule["Lifecycle"] == {"DeleteAfterDays": 14}
    assert rule["ScheduleExpression"] == "cron(0 3 * * ? *)"
    assert (rule["StartWindowMinutes"], rule["CompletionWindowMinutes"]) == (60, 180)
    assert rule["RuleId"]
    # the earlier version stays readable by its id, as on AWS
    old = backup.get_backup_plan(BackupPlanId=plan_id, VersionId=created["VersionId"])
    assert old["BackupPlan"]["Rules"][0]["Lifecycle"] == {"DeleteAfterDays": 7}
    (listed,) = backup.list_backup_plans()["BackupPlansList"]
    assert listed["VersionId"] == updated["VersionId"]


def test_unknown_ids_fail_as_aws_does(backup):
    plan_id = _plan(backup)["BackupPlanId"]
    missing = "00000000-0000-0000-0000-000000000000"
    assert _error(backup.update_backup_plan, BackupPlanId=missing,
                  BackupPlan={"BackupPlanName": "x", "Rules": [_rule(7)]})[0] == (
        "ResourceNotFoundException")
    # the provider reads "Cannot find Backup plan" as "the selection is gone"
    for call, kwargs in ((backup.get_backup_selection, {"SelectionId": missing}),
                         (backup.delete_backup_selection, {"SelectionId": missing}),
                         (backup.list_backup_selections, {})):
        code, message = _error(call, BackupPlanId=missing, **kwargs)
        assert code == "InvalidParameterValueException"
        assert message.startswith("Cannot find Backup plan")
    code, _ = _error(backup.create_backup_selection, BackupPlanId=missing, BackupSelection={
        "SelectionName": "x", "IamRoleArn": ROLE, "Resources": [TABLE]})
    assert code == "InvalidParameterValueException"
    for call in (backup.get_backup_selection, backup.delete_backup_selection):
        assert _error(call, BackupPlanId=plan_id, SelectionId=missing)[0] == (
            "ResourceNotFoundException")


def test_a_selection_needs_resources_or_tags(backup):
    plan_id = _plan(backup)["BackupPlanId"]
    code, message = _error(backup.create_backup_selection, BackupPlanId=plan_id,
                           BackupSelection={"SelectionName": "x", "IamRoleArn": ROLE,
                                            "Resources": [], "ListOfTags": []})
    assert code == "InvalidParameterValueException"
    assert "Either 'ListOfTags' or 'Resources' section must be non-empty" in message


def test_a_selection_needs_a_role_aws_backup_can_assume(backup):
    plan_id = _plan(backup)["BackupPlanId"]
    MotoSession().client("iam").create_role(RoleName="trusts-lambda",
                                            AssumeRolePolicyDocument=_trust(
                                                "lambda.amazonaws.com"))
    for role in ("arn:aws:iam::123456789012:role/never-created",
                 "arn:aws:iam::123456789012:role/trusts-lambda"):
        code, message = _error(backup.create_backup_selection, BackupPlanId=plan_id,
                               BackupSelection={"SelectionName": "x", "IamRoleArn": role,
                                                "Resources": [TABLE]})
        assert (code, message) == ("InvalidParameterValueException",
                                   f"IAM Role {role} cannot be assumed by AWS Backup")
    assert backup.list_backup_selections(BackupPlanId=plan_id)["BackupSelectionsList"] == []


def test_a_plan_with_selections_cannot_be_deleted(backup):
    plan_id = _plan(backup)["BackupPlanId"]
    selection = _select(backup, plan_id)["SelectionId"]
    code, message = _error(backup.delete_backup_plan, BackupPlanId=plan_id)
    # the provider retries exactly this while Terraform deletes the selection first
    assert (code, message) == ("InvalidRequestException", moto_backup.PLAN_HAS_SELECTIONS)
    assert backup.list_backup_plans()["BackupPlansList"]

    backup.delete_backup_selection(BackupPlanId=plan_id, SelectionId=selection)
    assert backup.delete_backup_plan(BackupPlanId=plan_id)["DeletionDate"]
    assert backup.list_backup_plans()["BackupPlansList"] == []
    # a deleted plan takes no more selections and cannot be updated
    assert _error(backup.list_backup_selections, BackupPlanId=plan_id)[0] == (
        "InvalidParameterValueException")
    assert _error(backup.update_backup_plan, BackupPlanId=plan_id,
                  BackupPlan={"BackupPlanName": "x", "Rules": [_rule(7)]})[0] == (
        "ResourceNotFoundException")


def test_a_retried_create_returns_the_same_selection(backup):
    plan_id = _plan(backup)["BackupPlanId"]
    body = {"SelectionName": "x", "IamRoleArn": ROLE, "Resources": [TABLE]}
    first = backup.create_backup_selection(BackupPlanId=plan_id, BackupSelection=body,
                                           CreatorRequestId="request-1")
    again = backup.create_backup_selection(BackupPlanId=plan_id, BackupSelection=body,
                                           CreatorRequestId="request-1")
    assert again["SelectionId"] == first["SelectionId"]
    assert len(backup.list_backup_selections(BackupPlanId=plan_id)["BackupSelectionsList"]) == 1


def test_both_targets_run_the_same_module_settings():
    assert targets.SandboxTarget.extra_vars == targets.AwsTarget.extra_vars == ()


def test_the_sandbox_runs_motos_server_after_adding_the_operations(monkeypatch):
    calls: list[Any] = []
    for extension in sandbox_server.EXTENSIONS:
        monkeypatch.setattr(extension, "apply",
                            lambda name=extension.__name__: calls.append(name))
    monkeypatch.setattr(sandbox_server.server, "main", calls.append)
    sandbox_server.main(["-H", "127.0.0.1", "-p", "5000"])
    names = [e.__name__ for e in sandbox_server.EXTENSIONS]
    assert calls == [*names, ["-H", "127.0.0.1", "-p", "5000"]]
    assert names[0] == "bbws_infra.targets.moto_backup"
    assert sandbox._moto_command(5000) == [
        sys.executable, "-m", "bbws_infra.targets.sandbox_server", "-H", "127.0.0.1", "-p", "5000"]


def test_the_server_command_finds_moto_without_importing_it(monkeypatch):
    # the command is built before the server starts: importing moto there delayed the start
    code = ("import sys; from bbws_infra.targets import sandbox; sandbox._moto_command(5000); "
            "print('moto' in sys.modules)")
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           env={**os.environ, "PYTHONPATH": str(REPO_ROOT / "tools")})
    assert found.stdout.strip() == "False", found.stderr
    monkeypatch.setattr(sandbox.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(OperationError, match="moto_server is not installed"):
        sandbox._moto_command(5000)
