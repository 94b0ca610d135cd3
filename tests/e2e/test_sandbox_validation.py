"""The sandbox refuses what AWS refuses: requests that break a service model's constraints, and
the semantic rules moto lacks, each answered with AWS's code and HTTP 400 and written to the
sandbox log, while well-formed requests pass. boto3's own client-side validation is switched
off, so what is shown is the server's answer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from bbws_infra.core.registry import load_environment
from bbws_infra.targets import sandbox

pytestmark = pytest.mark.e2e

TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "backup.amazonaws.com"},
    "Action": "sts:AssumeRole"}]})


class Clients:
    def __init__(self, work: Path) -> None:
        env = load_environment("dev")
        server, session, _ = sandbox.session_for(env)
        self.account = env.account_id
        self.log = work / "sandbox" / "moto.log"
        self._kwargs = {"endpoint_url": server.endpoint, "region_name": env.region,
                        "aws_access_key_id": session.access_key,
                        "aws_secret_access_key": session.secret_key,
                        "config": Config(parameter_validation=False,
                                         retries={"max_attempts": 1})}

    def __call__(self, service: str) -> Any:
        return boto3.client(service, **self._kwargs)


@pytest.fixture(scope="module")
def aws(work: Path) -> Clients:
    return Clients(work)


def _refused(call: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return caught.value.response["Error"]["Code"], caught.value.response["Error"]["Message"]


TABLE = {"TableName": "validation-probe", "BillingMode": "PAY_PER_REQUEST",
         "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
         "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}]}


def test_requests_that_break_the_model_are_refused_with_each_services_code(aws: Clients):
    refused = {
        "dynamodb": _refused(aws("dynamodb").create_table, **{**TABLE, "BillingMode": "FREE"}),
        "iam": _refused(aws("iam").create_role, RoleName="no spaces allowed",
                        AssumeRolePolicyDocument=TRUST),
        "sts": _refused(aws("sts").assume_role, RoleSessionName="no spaces allowed",
                        RoleArn=f"arn:aws:iam::{aws.account}:role/x"),
        "kms": _refused(aws("kms").create_key, KeyUsage="ANYTHING"),
        "sns": _refused(aws("sns").publish, TopicArn=f"arn:aws:sns:af-south-1:{aws.account}:t"),
        "cloudwatch": _refused(aws("cloudwatch").put_metric_alarm, AlarmName="throttles",
                               EvaluationPeriods=0, ComparisonOperator="GreaterThanThreshold"),
        "events": _refused(aws("events").put_rule, Name="no spaces allowed",
                           ScheduleExpression="rate(1 hour)"),
        "backup": _refused(aws("backup").create_backup_vault, BackupVaultName="x"),
        "backup (missing)": _refused(aws("backup").create_backup_plan, BackupPlan={
            "BackupPlanName": "p", "Rules": [{"RuleName": "daily"}]}),
    }
    assert {service: code for service, (code, _) in refused.items()} == {
        "dynamodb": "ValidationException", "iam": "ValidationError", "sts": "ValidationError",
        "kms": "ValidationException", "sns": "InvalidParameter",
        "cloudwatch": "InvalidParameterValue", "events": "ValidationException",
        "backup": "InvalidParameterValueException",
        "backup (missing)": "MissingParameterValueException"}
    assert refused["iam"][1] == (
        "1 validation error detected: Value 'no spaces allowed' at 'roleName' failed to satisfy "
        "constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+")
    assert refused["sns"][1] == ("1 validation error detected: Value null at 'message' failed "
                                 "to satisfy constraint: Member must not be null")
    # every refusal is in the sandbox log, naming the operation
    log = aws.log.read_text(errors="replace")
    for operation in ("dynamodb.CreateTable", "iam.CreateRole", "sts.AssumeRole",
                      "kms.CreateKey", "sns.Publish", "cloudwatch.PutMetricAlarm", "events.PutRule",
                      "backup.CreateBackupVault", "backup.CreateBackupPlan"):
        assert f"sandbox refused {operation} (" in log


def test_well_formed_requests_pass(aws: Clients):
    dynamodb = aws("dynamodb")
    dynamodb.create_table(**TABLE)
    assert dynamodb.describe_table(TableName=TABLE["TableName"])["Table"]["TableStatus"]
    aws("iam").create_role(RoleName="validation-probe", AssumeRolePolicyDocument=TRUST,
                           Tags=[{"Key": "Équipe", "Value": "données"}])
    assert aws("kms").create_key(KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["KeyId"]
    aws("cloudwatch").put_metric_alarm(
        AlarmName="throttles", EvaluationPeriods=1, ComparisonOperator="GreaterThanThreshold",
        MetricName="ThrottledRequests", Namespace="AWS/DynamoDB", Period=60, Threshold=0,
        Statistic="Sum")
    assert aws("events").put_rule(Name="validation-probe",
                                  ScheduleExpression="rate(1 hour)")["RuleArn"]
    aws("backup").create_backup_vault(BackupVaultName="validation-probe")
    dynamodb.delete_table(TableName=TABLE["TableName"])


def test_semantic_rules_are_enforced(aws: Clients):
    dynamodb = aws("dynamodb")
    table = {**TABLE, "TableName": "validation-rules"}
    dynamodb.create_table(**table)
    ttl = {"TableName": "validation-rules",
           "TimeToLiveSpecification": {"Enabled": True, "AttributeName": "expiresAt"}}
    dynamodb.update_time_to_live(**ttl)
    ttl["TimeToLiveSpecification"]["Enabled"] = False
    assert _refused(dynamodb.update_time_to_live, **ttl) == (
        "ValidationException",
        "Time to live has been modified multiple times within a fixed interval")

    definitions = [*table["AttributeDefinitions"], {"AttributeName": "a", "AttributeType": "S"},
                   {"AttributeName": "b", "AttributeType": "S"}]
    indexes = [{"Create": {"IndexName": f"{key}-index", "Projection": {"ProjectionType": "ALL"},
                           "KeySchema": [{"AttributeName": key, "KeyType": "HASH"}]}}
               for key in ("a", "b")]
    assert _refused(dynamodb.update_table, TableName="validation-rules",
                    AttributeDefinitions=definitions, GlobalSecondaryIndexUpdates=indexes) == (
        "LimitExceededException",
        "Subscriber limit exceeded: Only 1 online index can be created or deleted "
        "simultaneously per table")
    dynamodb.update_table(TableName="validation-rules", AttributeDefinitions=definitions,
                          GlobalSecondaryIndexUpdates=indexes[:1])

    backup = aws("backup")
    backup.create_backup_vault(BackupVaultName="validation-rules")
    rule = {"RuleName": "daily", "TargetBackupVaultName": "validation-rules",
            "ScheduleExpression": "cron(0 2 * * * *)"}
    code, message = _refused(backup.create_backup_plan,
                             BackupPlan={"BackupPlanName": "validation-rules", "Rules": [rule]})
    assert code == "InvalidParameterValueException" and "cron(0 2 * * * *)" in message
    cold = {**rule, "ScheduleExpression": "cron(0 2 * * ? *)",
            "Lifecycle": {"MoveToColdStorageAfterDays": 30, "DeleteAfterDays": 60}}
    code, message = _refused(backup.create_backup_plan,
                             BackupPlan={"BackupPlanName": "validation-rules", "Rules": [cold]})
    assert code == "InvalidParameterValueException" and "at least 90 days more" in message
    # a copy to a vault that does not exist is accepted, as AWS accepts it (checked per copy job)
    rule = {**rule, "ScheduleExpression": "cron(0 2 * * ? *)", "CopyActions": [
        {"DestinationBackupVaultArn":
         f"arn:aws:backup:eu-west-1:{aws.account}:backup-vault:never-created"}]}
    plan_id = backup.create_backup_plan(
        BackupPlan={"BackupPlanName": "validation-rules", "Rules": [rule]})["BackupPlanId"]

    missing_role = f"arn:aws:iam::{aws.account}:role/never-created"
    selection = {"SelectionName": "validation-rules", "IamRoleArn": missing_role,
                 "Resources": [f"arn:aws:dynamodb:af-south-1:{aws.account}:table/x"]}
    assert _refused(backup.create_backup_selection, BackupPlanId=plan_id,
                    BackupSelection=selection) == (
        "InvalidParameterValueException",
        f"IAM Role {missing_role} cannot be assumed by AWS Backup")
    role = aws("iam").create_role(RoleName="validation-rules",
                                  AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    assert backup.create_backup_selection(BackupPlanId=plan_id, BackupSelection={
        **selection, "IamRoleArn": role})["SelectionId"]
