"""Before the first real apply, on the sandbox with the answers AWS gives: the account checks
of `invoke doctor --target aws` and `invoke bootstrap --target aws` (each failing answer
reported with its fix, each passing one not; bootstrap refuses, creating nothing), the state
bucket's hardening (read back with boto3, re-run idempotent, an old bucket hardened), and
both state locks (the lock object is taken and released by a real plan).

`--target aws` reaches the sandbox here the way the AWS SDKs let any caller choose an
endpoint (AWS_ENDPOINT_URL), with the sandbox's key of the env's account: the task runs its
real AWS path."""

from __future__ import annotations

import base64
import json
import os
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from bbws_infra.core.registry import COMPONENTS, load_environment
from bbws_infra.state import state_bucket
from bbws_infra.state.planned_buckets import planned_buckets
from bbws_infra.targets import moto_account, sandbox
from tests.support.aws_requests import load_recording
from tests.support.cli import invoke
from tests.support.work_dirs import using_work_dir

pytestmark = pytest.mark.e2e

DEV = load_environment("dev")


def _aws(work: Path, env_name: str = "dev") -> dict[str, str | None]:
    """The CLI's environment for --target aws against this work directory's sandbox, as the
    env's account."""
    with using_work_dir(work):
        _, session, _ = sandbox.session_for(load_environment(env_name))
    return {"BBWS_WORK_DIR": str(work), "AWS_ENDPOINT_URL": session.endpoint,
            "AWS_ACCESS_KEY_ID": session.access_key, "AWS_SECRET_ACCESS_KEY": session.secret_key,
            "AWS_PROFILE": None, "AWS_SESSION_TOKEN": None, "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "COLUMNS": "200"}


def _client(work: Path, service: str, env_name: str = "dev", region: str | None = None) -> Any:
    with using_work_dir(work):
        _, session, _ = sandbox.session_for(load_environment(env_name))
    return session.client(service, region_name=region)


def _account_findings(work: Path) -> tuple[int, dict[str, dict[str, Any]]]:
    result = invoke("doctor", "--env", "dev", "--component", "tenants", "--target", "aws",
                    "--json", env=_aws(work))
    assert "Traceback" not in result.stderr, result.stderr
    findings = {f["check"]: f for f in json.loads(result.stdout)
                if f["component"] == "(account)"}
    return result.returncode, findings


def _moto_api(work: Path, path: str, body: dict[str, Any]) -> None:
    with using_work_dir(work):
        endpoint = sandbox.ensure_running().endpoint
    request = urllib.request.Request(f"{endpoint}/moto-api/{path}", method="POST",
                                     data=json.dumps(body).encode())
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()


def test_each_account_check_passes_on_a_ready_account_and_fails_on_each_bad_answer(own_work):
    code, ready = _account_findings(own_work)
    assert code == 0, ready
    assert list(ready) == ["region af-south-1", "backup DynamoDB opt-in",
                           "backup advanced DynamoDB",
                           *(f"bucket {name}" for name in planned_buckets(DEV))]
    assert all(f["ok"] and not f["fix"] for f in ready.values())
    assert ready["region af-south-1"]["found"] == "ENABLED"

    account = _client(own_work, "account", region="us-east-1")
    account.disable_region(RegionName="af-south-1")
    code, found = _account_findings(own_work)
    assert code == 1 and list(found) == ["region af-south-1"]  # nothing else is asked
    assert found["region af-south-1"]["found"] == "DISABLED"
    assert "aws account enable-region --region-name af-south-1" in found[
        "region af-south-1"]["fix"]

    # enabling takes a while on AWS: the sandbox keeps it ENABLING for as many reads as asked
    _moto_api(own_work, "state-manager/set-transition", {
        "model_name": moto_account.MODEL, "transition": {"progression": "manual", "times": 1}})
    account.enable_region(RegionName="af-south-1")
    code, found = _account_findings(own_work)
    assert code == 1 and found["region af-south-1"]["found"] == "ENABLING"
    assert found["region af-south-1"]["fix"].startswith("wait until AWS finishes enabling")
    code, found = _account_findings(own_work)
    assert code == 0 and found["region af-south-1"]["found"] == "ENABLED"

    backup = _client(own_work, "backup")
    for key, check in (("ResourceTypeManagementPreference", "backup advanced DynamoDB"),
                       ("ResourceTypeOptInPreference", "backup DynamoDB opt-in")):
        backup.update_region_settings(**{key: {"DynamoDB": False}})
        code, found = _account_findings(own_work)
        failed = [name for name, f in found.items() if not f["ok"]]
        assert code == 1 and failed == [check], failed
        assert "aws backup update-region-settings --region af-south-1" in found[check]["fix"]
        backup.update_region_settings(**{key: {"DynamoDB": True}})

    # a bucket name another account holds (here: sit's account takes dev's template bucket)
    _client(own_work, "s3", "sit").create_bucket(
        Bucket="bbws-templates-dev", CreateBucketConfiguration={"LocationConstraint": DEV.region})
    code, found = _account_findings(own_work)
    failed = [name for name, f in found.items() if not f["ok"]]
    assert code == 1 and failed == ["bucket bbws-templates-dev"]
    assert found["bucket bbws-templates-dev"]["found"].startswith("owned by another account")
    assert "bbws-templates-dev is taken" in found["bucket bbws-templates-dev"]["fix"]


def test_doctor_on_the_sandbox_skips_the_account_checks_with_one_note(own_work):
    result = invoke("doctor", "--env", "dev", "--component", "tenants",
                    env={"BBWS_WORK_DIR": str(own_work), "COLUMNS": "200"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("skipped on the sandbox") == 1
    assert "(account)" not in result.stdout and "(state bucket)" in result.stdout


def _bucket_settings(s3: Any, bucket: str) -> dict[str, Any]:
    def read(call: Any) -> Any:
        try:
            answer = call(Bucket=bucket)
            answer.pop("ResponseMetadata", None)
            return answer
        except s3.exceptions.ClientError as error:
            return error.response["Error"]["Code"]

    return {
        "versioning": read(s3.get_bucket_versioning).get("Status"),
        "encryption": read(s3.get_bucket_encryption),
        "public access block": read(s3.get_public_access_block),
        "policy": read(s3.get_bucket_policy),
        "logging": read(s3.get_bucket_logging).get("LoggingEnabled"),
    }


def _as_the_old_code_left_it(s3: Any, dynamodb: Any) -> None:
    """dev's state backend gone, then a state bucket made as bootstrap made it before the
    hardening (versioned, encrypted, private; no policy, no access logs)."""
    for bucket in (DEV.state_bucket, state_bucket.log_bucket(DEV)):
        listed = s3.list_object_versions(Bucket=bucket)
        for version in listed.get("Versions", []) + listed.get("DeleteMarkers", []):
            s3.delete_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])
        s3.delete_bucket(Bucket=bucket)
    dynamodb.delete_table(TableName=DEV.lock_table)
    s3.create_bucket(Bucket=DEV.state_bucket,
                     CreateBucketConfiguration={"LocationConstraint": DEV.region})
    s3.put_bucket_versioning(Bucket=DEV.state_bucket,
                             VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_encryption(Bucket=DEV.state_bucket,
                             ServerSideEncryptionConfiguration=state_bucket.SSE)
    s3.put_public_access_block(Bucket=DEV.state_bucket,
                               PublicAccessBlockConfiguration=state_bucket.NO_PUBLIC_ACCESS)


def test_bootstrap_refuses_an_account_that_is_not_ready_then_hardens_an_old_bucket(own_work):
    # every client and key first: the sandbox's own session would re-create what is missing
    aws = _aws(own_work)
    s3, dynamodb = _client(own_work, "s3"), _client(own_work, "dynamodb")
    account = _client(own_work, "account", region="us-east-1")
    _as_the_old_code_left_it(s3, dynamodb)
    old = _bucket_settings(s3, DEV.state_bucket)

    doctor = invoke("doctor", "--env", "dev", "--component", "tenants", "--target", "aws",
                    "--json", env=aws)
    (hardened,) = [f for f in json.loads(doctor.stdout) if f["component"] == "(state bucket)"]
    assert doctor.returncode == 1 and not hardened["ok"]
    assert "no TLS-only bucket policy" in hardened["found"]
    assert hardened["fix"].startswith("invoke bootstrap --env dev --target aws")

    account.disable_region(RegionName="af-south-1")
    refused = invoke("bootstrap", "--env", "dev", "--target", "aws", env=aws)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    message = " ".join(refused.stderr.split())
    assert "dev: account 536580886816 is not ready; nothing was created." in message
    assert "region af-south-1: DISABLED; enable af-south-1" in message
    assert _bucket_settings(s3, DEV.state_bucket) == old
    assert state_bucket.log_bucket(DEV) not in {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert DEV.lock_table not in dynamodb.list_tables()["TableNames"]

    account.enable_region(RegionName="af-south-1")
    first = invoke("bootstrap", "--env", "dev", "--target", "aws", env=aws)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "created access-log bucket bbws-terraform-state-dev-logs" in first.stdout
    assert "created lock table terraform-state-lock-dev" in first.stdout

    hardened_settings = _bucket_settings(s3, DEV.state_bucket)
    assert hardened_settings["versioning"] == "Enabled"
    assert hardened_settings["public access block"]["PublicAccessBlockConfiguration"] == (
        state_bucket.NO_PUBLIC_ACCESS)
    (deny,) = json.loads(hardened_settings["policy"]["Policy"])["Statement"]
    assert deny["Sid"] == "DenyInsecureTransport" and deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": ["false"]}}
    assert hardened_settings["logging"] == {"TargetBucket": "bbws-terraform-state-dev-logs",
                                            "TargetPrefix": "bbws-terraform-state-dev/"}
    logs = _bucket_settings(s3, state_bucket.log_bucket(DEV))
    assert logs["public access block"]["PublicAccessBlockConfiguration"] == (
        state_bucket.NO_PUBLIC_ACCESS)
    (rule,) = logs["encryption"]["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    delivery = json.loads(logs["policy"]["Policy"])["Statement"][1]
    assert delivery["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert delivery["Condition"]["ArnLike"] == {
        "aws:SourceArn": "arn:aws:s3:::bbws-terraform-state-dev"}

    again = invoke("bootstrap", "--env", "dev", "--target", "aws", env=aws)
    assert again.returncode == 0 and "created" not in again.stdout
    assert _bucket_settings(s3, DEV.state_bucket) == hardened_settings
    assert _bucket_settings(s3, state_bucket.log_bucket(DEV)) == logs
    doctor = invoke("doctor", "--env", "dev", "--component", "tenants", "--target", "aws",
                    "--json", env=aws)
    assert doctor.returncode == 0, doctor.stdout
    assert all(f["ok"] for f in json.loads(doctor.stdout))


def _recorder(endpoint: str, verb: str, method: str = "POST") -> str:
    request = urllib.request.Request(f"{endpoint}/moto-api/recorder/{verb}", method=method)
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.read().decode()


def _text(entry: dict[str, Any]) -> str:
    body = entry.get("body") or ""
    return base64.b64decode(body).decode() if entry.get("body_encoded") else str(body)


def test_a_plan_takes_and_releases_both_locks(own_work):
    key = COMPONENTS["tenants"].state_key
    with using_work_dir(own_work):
        server, session, _ = sandbox.session_for(DEV)
    _recorder(server.endpoint, "reset-recording")
    _recorder(server.endpoint, "start-recording")
    try:
        result = invoke("plan", "--env", "dev", "--component", "tenants",
                        env={"BBWS_WORK_DIR": str(own_work)})
    finally:
        _recorder(server.endpoint, "stop-recording")
    assert result.returncode == 0, result.stdout + result.stderr
    made = load_recording(_recorder(server.endpoint, "download-recording", "GET"))
    lock_object = [e for e in made if e["url"].split("?")[0].endswith(f"/{key}.tflock")]
    taken = [e for e in lock_object if e["method"] == "PUT"]
    released = [e for e in lock_object if e["method"] == "DELETE"]
    assert taken and released, [(e["method"], e["url"]) for e in lock_object]
    # taken with a conditional write: S3 refuses it (412) while another run holds the lock
    assert all({k.lower(): v for k, v in e["headers"].items()}.get("if-none-match") == "*"
               for e in taken)
    lock_items = [e for e in made if "DynamoDB_20120810.PutItem" in json.dumps(e["headers"])
                  and f'"{DEV.state_bucket}/{key}"' in _text(e)]
    assert lock_items, "the lock table's item is taken too"
    s3 = session.client("s3")
    assert "Contents" not in s3.list_objects_v2(Bucket=DEV.state_bucket, Prefix=f"{key}.tflock")

    # Terraform 1.15 still names dynamodb_table deprecated while it is set (both locks): the
    # one warning of the run, until the lock table is dropped (docs/decisions/state-locking.md)
    log = (own_work / "logs" / "sandbox" / "dev" / "tenants.log").read_text()
    warnings = [line for line in log.splitlines() if line.startswith("Warning:")]
    assert warnings and set(warnings) == {"Warning: Deprecated Parameter"}
    assert log.count('The parameter "dynamodb_table" is deprecated.') == len(warnings)


@pytest.mark.parametrize("left", ["lock item", "lock object"])
def test_doctor_sees_and_unlock_releases_a_lock_of_which_only_one_half_was_left(own_work,
                                                                                left):
    """A run with other lock settings (or one that died between taking the two) leaves one
    of them: doctor reports it, and unlock releases it although Terraform's force-unlock
    fails on the half that was never taken."""
    key = COMPONENTS["campaigns"].state_key
    with using_work_dir(own_work):
        _, session, _ = sandbox.session_for(DEV)
    info = {"ID": "5d2c7e1a-0000-4000-8000-00000000a11e", "Operation": "OperationTypeApply",
            "Who": "ci@runner", "Version": "1.15.5", "Created": "2026-11-22T02:00:00Z",
            "Path": f"{DEV.state_bucket}/{key}"}
    dynamodb, s3 = session.client("dynamodb"), session.client("s3")
    if left == "lock item":
        dynamodb.put_item(TableName=DEV.lock_table, Item={
            "LockID": {"S": f"{DEV.state_bucket}/{key}"}, "Info": {"S": json.dumps(info)}})
    else:
        s3.put_object(Bucket=DEV.state_bucket, Key=f"{key}.tflock",
                      Body=json.dumps(info).encode())
    cli = {"BBWS_WORK_DIR": str(own_work)}

    doctor = invoke("doctor", "--env", "dev", "--component", "campaigns", "--json", env=cli)
    lock = {f["check"]: f for f in json.loads(doctor.stdout)}["lock"]
    assert doctor.returncode == 1 and not lock["ok"] and info["ID"] in lock["found"]

    released = invoke("unlock", "--env", "dev", "--component", "campaigns", "--lock-id",
                      info["ID"], env=cli)
    assert released.returncode == 0, released.stdout + released.stderr
    assert "Item" not in dynamodb.get_item(TableName=DEV.lock_table,
                                           Key={"LockID": {"S": f"{DEV.state_bucket}/{key}"}})
    assert "Contents" not in s3.list_objects_v2(Bucket=DEV.state_bucket, Prefix=f"{key}.tflock")
    assert invoke("doctor", "--env", "dev", "--component", "campaigns", env=cli).returncode == 0
