"""bbws_infra.targets.moto_account: the Account API's region opt-in status and AWS Backup's
region settings the sandbox adds to moto, called with boto3 against moto in-process, with the
shapes and errors of those APIs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.moto_api import state_manager

from bbws_infra.targets import moto_account, sandbox_server

moto_account.apply()


@pytest.fixture
def clients(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Any]]:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        def client(service: str, region: str) -> Any:
            return boto3.client(service, region_name=region, aws_access_key_id="testing",
                                aws_secret_access_key="testing")
        yield client("account", "us-east-1"), client("backup", "af-south-1")
    state_manager.unset_transition(moto_account.MODEL)


def _status(account: Any, region: str) -> str:
    answer = account.get_region_opt_status(RegionName=region)
    assert answer["RegionName"] == region
    return str(answer["RegionOptStatus"])


def test_a_ready_account_by_default(clients):
    account, backup = clients
    assert _status(account, "af-south-1") == "ENABLED"  # opt-in, and on
    assert _status(account, "eu-west-1") == "ENABLED_BY_DEFAULT"
    settings = backup.describe_region_settings()
    assert settings["ResourceTypeOptInPreference"]["DynamoDB"] is True
    assert settings["ResourceTypeManagementPreference"]["DynamoDB"] is True


def test_disable_and_enable_pass_through_their_transitions(clients):
    account, _ = clients
    account.disable_region(RegionName="af-south-1")
    assert _status(account, "af-south-1") == "DISABLED"  # immediately, by default
    state_manager.set_transition(moto_account.MODEL, {"progression": "manual", "times": 2})
    account.enable_region(RegionName="af-south-1")
    assert [_status(account, "af-south-1") for _ in range(3)] == [
        "ENABLING", "ENABLING", "ENABLED"]


@pytest.mark.parametrize(("call", "region"), [
    ("disable_region", "eu-west-1"), ("enable_region", "us-east-1"),
    ("get_region_opt_status", "mars-east-1")])
def test_regions_that_cannot_be_switched_or_do_not_exist(clients, call, region):
    account, _ = clients
    with pytest.raises(ClientError) as raised:
        getattr(account, call)(RegionName=region)
    assert raised.value.response["Error"]["Code"] == "ValidationException"


def test_update_region_settings_replaces_only_the_given_keys(clients):
    _, backup = clients
    backup.update_region_settings(ResourceTypeManagementPreference={"DynamoDB": False},
                                  ResourceTypeOptInPreference={"DynamoDB": False})
    settings = backup.describe_region_settings()
    assert settings["ResourceTypeManagementPreference"] == {"DynamoDB": False, "EFS": True}
    assert settings["ResourceTypeOptInPreference"]["DynamoDB"] is False
    assert settings["ResourceTypeOptInPreference"]["EBS"] is True


def test_settings_are_per_account_and_region(clients):
    _, backup = clients
    backup.update_region_settings(ResourceTypeManagementPreference={"DynamoDB": False})
    other = boto3.client("backup", region_name="eu-west-1", aws_access_key_id="testing",
                         aws_secret_access_key="testing")
    assert other.describe_region_settings()["ResourceTypeManagementPreference"]["DynamoDB"]


def test_the_sandbox_server_applies_it():
    # each extension is applied in order before moto's server starts (test_moto_backup.py)
    assert moto_account in sandbox_server.EXTENSIONS
