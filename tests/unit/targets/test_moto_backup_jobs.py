"""bbws_infra.targets.moto_backup_jobs: AWS Backup's on-demand jobs on the sandbox, called with
boto3 against moto in-process: a job ends COMPLETED, or FAILED with AWS's reason when AWS
Backup could not have run it, is listed newest first per resource, and its end reaches the
default event bus as AWS Backup's "Backup Job State Change" event."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from bbws_infra.targets import moto_backup, moto_backup_jobs

moto_backup.apply()
moto_backup_jobs.apply()

REGION = "af-south-1"
TRUST = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "backup.amazonaws.com"},
    "Action": "sts:AssumeRole"}]}


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        def client(service: str) -> Any:
            return boto3.client(service, region_name=REGION, aws_access_key_id="testing",
                                aws_secret_access_key="testing")
        yield client


def _table_vault_role(client: Any) -> tuple[str, str]:
    table = client("dynamodb").create_table(
        TableName="tenants", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}],
    )["TableDescription"]["TableArn"]
    client("backup").create_backup_vault(BackupVaultName="bbws-tenants-dev")
    role = client("iam").create_role(RoleName="bbws-tenants-dev-backup",
                                     AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]["Arn"]
    return table, role


def test_a_job_completes_and_is_listed_newest_first(aws):
    table, role = _table_vault_role(aws)
    backup = aws("backup")
    first = backup.start_backup_job(BackupVaultName="bbws-tenants-dev", ResourceArn=table,
                                    IamRoleArn=role)["BackupJobId"]
    second = backup.start_backup_job(BackupVaultName="bbws-tenants-dev", ResourceArn=table,
                                     IamRoleArn=role)["BackupJobId"]
    described = backup.describe_backup_job(BackupJobId=first)
    assert described["State"] == "COMPLETED" and described["ResourceArn"] == table
    jobs = backup.list_backup_jobs(ByResourceArn=table)["BackupJobs"]
    assert [j["BackupJobId"] for j in jobs] == [second, first]
    assert backup.list_backup_jobs(ByResourceArn=table + "-other")["BackupJobs"] == []
    assert backup.list_backup_jobs(ByState="FAILED")["BackupJobs"] == []


def test_a_role_backup_cannot_assume_fails_the_job_and_announces_it(aws):
    """The failure is on the job (StartBackupJob succeeds), and reaches a rule on the default
    bus that matches failed AWS Backup jobs, as the monitoring's rule does."""
    table, _ = _table_vault_role(aws)
    queue = aws("sqs").create_queue(QueueName="failures")["QueueUrl"]
    queue_arn = aws("sqs").get_queue_attributes(
        QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events = aws("events")
    events.put_rule(Name="failed-jobs", EventPattern=json.dumps({
        "source": ["aws.backup"], "detail-type": ["Backup Job State Change"],
        "detail": {"state": ["FAILED"]}}))
    events.put_targets(Rule="failed-jobs", Targets=[{"Id": "queue", "Arn": queue_arn}])
    missing = "arn:aws:iam::123456789012:role/nobody"
    job = aws("backup").start_backup_job(BackupVaultName="bbws-tenants-dev",
                                         ResourceArn=table, IamRoleArn=missing)["BackupJobId"]
    described = aws("backup").describe_backup_job(BackupJobId=job)
    assert described["State"] == "FAILED"
    assert described["StatusMessage"].startswith(f"IAM Role {missing} cannot be assumed")
    (message,) = aws("sqs").receive_message(QueueUrl=queue)["Messages"]
    event = json.loads(message["Body"])
    assert (event["source"], event["detail-type"]) == ("aws.backup", "Backup Job State Change")
    assert event["detail"]["backupJobId"] == job
    assert event["detail"]["state"] == "FAILED"
    assert event["detail"]["backupVaultName"] == "bbws-tenants-dev"


def test_an_unknown_vault_or_job_is_refused_as_aws_does(aws):
    table, role = _table_vault_role(aws)
    with pytest.raises(ClientError) as error:
        aws("backup").start_backup_job(BackupVaultName="nowhere", ResourceArn=table,
                                       IamRoleArn=role)
    assert error.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as error:
        aws("backup").describe_backup_job(BackupJobId="NOPE")
    assert error.value.response["Error"]["Code"] == "ResourceNotFoundException"
