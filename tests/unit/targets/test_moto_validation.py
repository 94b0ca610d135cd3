"""bbws_infra.targets.moto_validation: requests checked against botocore's real service models,
and (in-process moto) refused with each service's own validation error before moto answers."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.core.responses import BaseResponse
from moto.core.utils import get_service_model

from bbws_infra.targets import moto_validation
from bbws_infra.targets.moto_validation import check, refusal
from tests.support.aws_errors import unvalidated_client

TABLE = {"TableName": "tenants", "BillingMode": "PAY_PER_REQUEST",
         "KeySchema": [{"AttributeName": "tenantId", "KeyType": "HASH"}],
         "AttributeDefinitions": [{"AttributeName": "tenantId", "AttributeType": "S"}]}
BAD_INDEX = {**TABLE, "GlobalSecondaryIndexes": [{
    "IndexName": "i!", "Projection": {"ProjectionType": "ALL"},
    "KeySchema": [{"AttributeName": "tenantId", "KeyType": "PRIMARY"}]}]}


def _operation(service: str, name: str) -> Any:
    return get_service_model(service).operation_model(name)


def _sentences(service: str, operation: str, params: dict[str, Any]) -> list[str]:
    return [p.sentence() for p in check(_operation(service, operation), params)]


def test_a_well_formed_request_has_no_problems():
    assert check(_operation("dynamodb", "CreateTable"), TABLE) == []
    assert check(_operation("iam", "CreateRole"), {
        "RoleName": "bbws-tenants-dev-backup", "AssumeRolePolicyDocument": "{}",
        "Tags": [{"Key": "Environnement", "Value": "développement"}]}) == []


def test_lengths_patterns_and_enums_are_checked_with_awss_wording():
    assert _sentences("dynamodb", "CreateTable", BAD_INDEX) == [
        "Value 'i!' at 'globalSecondaryIndexes.1.member.indexName' failed to satisfy "
        "constraint: Member must have length greater than or equal to 3",
        "Value 'i!' at 'globalSecondaryIndexes.1.member.indexName' failed to satisfy "
        "constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+",
        "Value 'PRIMARY' at 'globalSecondaryIndexes.1.member.keySchema.1.member.keyType' "
        "failed to satisfy constraint: Member must satisfy enum value set: [HASH, RANGE]",
    ]
    assert _sentences("dynamodb", "CreateTable", {**TABLE, "TableName": ""}) == [
        "Value '' at 'tableName' failed to satisfy constraint: "
        "Member must have length greater than or equal to 1"]


def test_required_members_are_checked_at_every_depth():
    problems = check(_operation("backup", "CreateBackupPlan"), {
        "BackupPlan": {"BackupPlanName": "bbws-tenants-dev", "Rules": [{"RuleName": "daily"}]}})
    assert [(p.member, p.path, p.kind) for p in problems] == [
        ("BackupPlan.Rules[0].TargetBackupVaultName",
         "backupPlan.rules.1.member.targetBackupVaultName", "missing")]
    assert problems[0].sentence().startswith("Value null at ")


def test_map_keys_values_and_list_items_are_spelled_as_aws_spells_them():
    problems = check(_operation("dynamodb", "BatchWriteItem"), {"RequestItems": {"tenants": [
        {"PutRequest": {"Item": {"PK": {"S": "TENANT#1"}, "tags": {"L": [{"S": 5}]}}}},
        {"DeleteRequest": {}}]}})
    assert [(p.member, p.path, p.kind) for p in problems] == [
        ("RequestItems.tenants[0].PutRequest.Item.tags.L[0].S",
         "requestItems.tenants.value.1.member.putRequest.item.tags.value.l.1.member.s",
         "wrong_type"),
        ("RequestItems.tenants[1].DeleteRequest.Key",
         "requestItems.tenants.value.2.member.deleteRequest.key", "missing")]
    long_name = "a" * 65536
    (too_long,) = check(_operation("dynamodb", "PutItem"),
                        {"TableName": "tenants", "Item": {long_name: {"S": "x"}}})
    assert (too_long.member, too_long.path) == ("Item.(key)", f"item.{long_name}.key")


def test_numbers_are_checked_against_their_range():
    assert _sentences("cloudwatch", "PutMetricAlarm", {
        "AlarmName": "throttles", "EvaluationPeriods": 0,
        "ComparisonOperator": "GreaterThanThreshold"}) == [
        "Value 0 at 'evaluationPeriods' failed to satisfy constraint: "
        "Member must have value greater than or equal to 1"]


def test_java_unicode_classes_in_patterns_are_understood():
    tag = {"RoleName": "r", "AssumeRolePolicyDocument": "{}"}
    assert check(_operation("iam", "CreateRole"),
                 {**tag, "Tags": [{"Key": "Équipe", "Value": "données"}]}) == []
    (problem,) = check(_operation("iam", "CreateRole"),
                       {**tag, "Tags": [{"Key": "team!", "Value": "x"}]})
    assert problem.path == "tags.1.member.key"


def test_a_json_value_of_the_wrong_type_is_a_type_problem():
    (problem,) = check(_operation("dynamodb", "CreateTable"), {**TABLE, "TableName": 42})
    assert (problem.kind, problem.path) == ("wrong_type", "tableName")


def test_each_service_answers_with_its_own_code():
    missing = check(_operation("iam", "CreateRole"), {"AssumeRolePolicyDocument": "{}"})
    assert refusal("iam", missing).code == "ValidationError"
    assert refusal("sts", missing).code == "ValidationError"
    assert refusal("cloudwatch", missing).code == "MissingParameter"
    assert refusal("backup", missing).code == "MissingParameterValueException"
    invalid = check(_operation("dynamodb", "CreateTable"), BAD_INDEX)
    assert refusal("dynamodb", invalid).code == "ValidationException"
    assert refusal("kms", invalid).code == "ValidationException"
    assert refusal("events", invalid).code == "ValidationException"
    assert refusal("backup", invalid).code == "InvalidParameterValueException"
    assert refusal("cloudwatch", invalid).code == "InvalidParameterValue"
    assert refusal("sns", invalid).code == "InvalidParameter"
    assert refusal("dynamodb", invalid).message.startswith("3 validation errors detected: ")
    assert refusal("dynamodb", invalid[:1]).message.startswith("1 validation error detected: ")


def test_an_allowed_member_is_not_refused(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(moto_validation.ALLOWED, ("dynamodb", "CreateTable", "TableName"),
                        "test: AWS accepts it")
    assert check(_operation("dynamodb", "CreateTable"), {**TABLE, "TableName": ""}) == []


# --- the hook, in-process ---------------------------------------------------------------------


@pytest.fixture
def validated(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
              ) -> Iterator[pytest.LogCaptureFixture]:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    moto_validation.LOG.addHandler(caplog.handler)
    try:
        with mock_aws(), moto_validation.applied():
            yield caplog
    finally:
        moto_validation.LOG.removeHandler(caplog.handler)




def _refused(call: Any, **kwargs: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    error: dict[str, Any] = caught.value.response["Error"]
    return error


def test_the_hook_refuses_before_moto_answers_and_logs_it(validated):
    dynamodb = unvalidated_client("dynamodb")
    error = _refused(dynamodb.create_table, **{**TABLE, "BillingMode": "FREE"})
    assert error == {"Code": "ValidationException", "Message": (
        "1 validation error detected: Value 'FREE' at 'billingMode' failed to satisfy "
        "constraint: Member must satisfy enum value set: [PROVISIONED, PAY_PER_REQUEST]")}
    assert dynamodb.list_tables()["TableNames"] == []  # moto never saw it
    dynamodb.create_table(**TABLE)
    assert dynamodb.list_tables()["TableNames"] == ["tenants"]
    (record,) = [r for r in validated.records if r.levelno == logging.WARNING]
    assert record.getMessage().startswith(
        "sandbox refused dynamodb.CreateTable (ValidationException, HTTP 400): 1 validation")


def test_query_protocol_services_get_their_xml_error(validated):
    error = _refused(unvalidated_client("iam").create_role, RoleName="bad name",
                     AssumeRolePolicyDocument="{}")
    assert error["Code"] == "ValidationError"
    assert error["Message"] == (
        "1 validation error detected: Value 'bad name' at 'roleName' failed to satisfy "
        "constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+")


def test_a_fault_in_a_check_is_logged_and_moto_answers(validated, monkeypatch):
    def broken(*_: Any) -> None:
        raise RuntimeError("a bug in a rule")

    monkeypatch.setattr(moto_validation.moto_semantics, "before", broken)
    unvalidated_client("dynamodb").create_table(**TABLE)
    assert unvalidated_client("dynamodb").list_tables()["TableNames"] == ["tenants"]
    assert [r.getMessage() for r in validated.records] == [
        f"sandbox could not check dynamodb.{operation}; moto answers it unchecked"
        for operation in ("CreateTable", "ListTables")]


def test_the_hook_is_removed_again():
    with moto_validation.applied():
        assert BaseResponse.call_action is moto_validation.call_action
    assert BaseResponse.call_action is not moto_validation.call_action
