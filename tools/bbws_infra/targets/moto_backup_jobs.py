"""AWS Backup's on-demand jobs, which moto lacks: StartBackupJob, DescribeBackupJob and
ListBackupJobs, so `invoke alarms` can show each table's last backup job on the sandbox as on
AWS, and a test can make a job fail the way AWS does.

A job ends at once: COMPLETED, or FAILED with AWS's status message when AWS Backup could not
have run it (the role does not exist or does not trust backup.amazonaws.com, or the resource
is no DynamoDB table of the account). AWS runs the job later and reports the failure on the
job, not on StartBackupJob, which only checks the vault; so does this. Like AWS Backup, the
job's end is a "Backup Job State Change" event from aws.backup on the region's default event
bus, where the monitoring's rule picks up the failures. Only the sandbox server and the unit
tests import this module.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import parse_qs

from moto.backup import urls as backup_urls
from moto.backup.exceptions import InvalidParameterValueException, ResourceNotFoundException
from moto.backup.models import BackupBackend
from moto.backup.responses import BackupResponse
from moto.dynamodb.models import dynamodb_backends
from moto.events.models import events_backends
from moto.moto_api._internal import mock_random

from bbws_infra.core.untyped import JsonObject
from bbws_infra.targets.moto_backup import BACKUP_PRINCIPAL, backup_can_assume, list_page


def _jobs(backend: BackupBackend) -> dict[str, JsonObject]:
    jobs: dict[str, JsonObject] = backend.__dict__.setdefault("bbws_backup_jobs", {})
    return jobs


def _failure(backend: BackupBackend, resource_arn: str, role_arn: str) -> str | None:
    """Why AWS Backup could not run the job, in its words; None when it could."""
    if not backup_can_assume(backend, role_arn):
        return (f"IAM Role {role_arn} cannot be assumed by AWS Backup "
                f"({BACKUP_PRINCIPAL} is not trusted, or the role does not exist).")
    tables = dynamodb_backends[backend.account_id][backend.region_name].tables
    if not any(table.table_arn == resource_arn for table in tables.values()):
        return f"Resource {resource_arn} was not found."
    return None


def start_backup_job(backend: BackupBackend, body: JsonObject) -> JsonObject:
    vault_name = str(body.get("BackupVaultName") or "")
    vault = backend.vaults.get(vault_name)
    if vault is None:
        raise ResourceNotFoundException(msg=f"Backup vault {vault_name} not found.")
    resource_arn, role_arn = str(body.get("ResourceArn") or ""), str(body.get("IamRoleArn") or "")
    if not resource_arn or not role_arn:
        raise InvalidParameterValueException(msg="ResourceArn and IamRoleArn are required.")
    job_id = str(mock_random.uuid4()).upper()
    now = datetime.now(UTC).timestamp()
    failure = _failure(backend, resource_arn, role_arn)
    recovery_point = (f"arn:{backend.partition}:backup:{backend.region_name}:"
                      f"{backend.account_id}:recovery-point:{mock_random.uuid4()}")
    job: JsonObject = {
        "AccountId": backend.account_id, "BackupJobId": job_id,
        "BackupVaultName": vault_name, "BackupVaultArn": vault.backup_vault_arn,
        "ResourceArn": resource_arn, "ResourceType": "DynamoDB", "IamRoleArn": role_arn,
        "CreationDate": now, "CompletionDate": now,
        "State": "FAILED" if failure else "COMPLETED", "PercentDone": "100.0",
        "BackupSizeInBytes": 0, "StatusMessage": failure or "",
    }
    if failure is None:
        job["RecoveryPointArn"] = recovery_point
    _jobs(backend)[job_id] = job
    _announce(backend, job)
    return {"BackupJobId": job_id, "RecoveryPointArn": recovery_point, "CreationDate": now,
            "IsParent": False}


def _announce(backend: BackupBackend, job: JsonObject) -> None:
    """The job's end on the default event bus, with the detail AWS Backup sends."""
    detail = {
        "backupJobId": job["BackupJobId"], "backupVaultArn": job["BackupVaultArn"],
        "backupVaultName": job["BackupVaultName"], "resourceArn": job["ResourceArn"],
        "resourceType": job["ResourceType"], "iamRoleArn": job["IamRoleArn"],
        "state": job["State"], "statusMessage": job["StatusMessage"],
        "percentDone": job["PercentDone"],
        "creationDate": datetime.fromtimestamp(job["CreationDate"], UTC).isoformat(),
    }
    events_backends[backend.account_id][backend.region_name].put_events([{
        "Source": "aws.backup", "DetailType": "Backup Job State Change",
        "Detail": json.dumps(detail), "Resources": [job["ResourceArn"]],
        "EventBusName": "default"}])


def list_backup_jobs(backend: BackupBackend, query: dict[str, list[str]]) -> JsonObject:
    """Newest first, filtered by resource ARN, state and vault as ListBackupJobs does."""
    filters = {"ResourceArn": "resourceArn", "State": "state",
               "BackupVaultName": "backupVaultName"}
    jobs = [job for job in _jobs(backend).values()
            if all(job[key] == query[name][0] for key, name in filters.items() if name in query)]
    jobs.sort(key=lambda job: job["CreationDate"], reverse=True)
    return list_page(jobs, query, "BackupJobs")


def response_start_backup_job(self: BackupResponse) -> str:
    return json.dumps(start_backup_job(self.backup_backend,
                                       json.loads(self.body) if self.body else {}))


def response_describe_backup_job(self: BackupResponse) -> str:
    job_id = self.parsed_url.path.rstrip("/").rsplit("/", 1)[-1]
    job = _jobs(self.backup_backend).get(job_id)
    if job is None:
        raise ResourceNotFoundException(msg=f"Backup job {job_id} not found.")
    return json.dumps(job)


def response_list_backup_jobs(self: BackupResponse) -> str:
    return json.dumps(list_backup_jobs(self.backup_backend, parse_qs(self.parsed_url.query)))


_RESPONSES = {
    "start_backup_job": response_start_backup_job,
    "describe_backup_job": response_describe_backup_job,
    "list_backup_jobs": response_list_backup_jobs,
}


def apply() -> None:
    """Add the operations and their routes to moto (idempotent; this process only)."""
    backup_urls.url_paths["{0}/backup-jobs/?$"] = backup_urls.response.dispatch
    backup_urls.url_paths["{0}/backup-jobs/(?P<job>[^/]+)$"] = backup_urls.response.dispatch
    for name, function in _RESPONSES.items():
        setattr(BackupResponse, name, function)


def is_applied() -> bool:
    return getattr(BackupResponse, "list_backup_jobs", None) is response_list_backup_jobs
