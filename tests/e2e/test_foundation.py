"""The foundation as a user meets it: the real CLI, real Terraform, the moto sandbox.
(Ctrl-C, a dying emulator and broken input files: test_hardening.py.)"""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from pathlib import Path

import pytest

from bbws_infra.core.registry import load_environment
from bbws_infra.plans.bundle import sha256_file
from bbws_infra.targets import sandbox
from tests.support.cli import git_status, invoke
from tests.support.work_dirs import fresh_work_dir

pytestmark = pytest.mark.e2e


def test_plan_on_the_sandbox_bootstraps_the_state_backend(work: Path):
    before = git_status()
    result = invoke("plan", "--env", "dev", "--component", "tenants")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "tenants:" in result.stdout and "to add" in result.stdout

    plan_dir = work / "plans" / "sandbox" / "dev" / "tenants"
    assert {p.name for p in plan_dir.iterdir()} >= {"tfplan", "plan.json", "summary.txt",
                                                    "summary.md", "bundle.json"}
    assert not (plan_dir / ".incoming").exists()
    record = json.loads((plan_dir / "bundle.json").read_text())
    assert (record["target"], record["env"], record["component"]) == ("sandbox", "dev",
                                                                       "tenants")
    assert record["plan_sha256"] == sha256_file(plan_dir / "tfplan")
    assert record["plan_json_sha256"] == sha256_file(plan_dir / "plan.json")
    assert f"bundle in {plan_dir}/" in " ".join(result.stdout.split())
    assert (plan_dir / "summary.txt").read_text().startswith("tenants in dev (sandbox): ")

    env = load_environment("dev")
    _, session, created = sandbox.session_for(env)
    assert created == []  # the plan already made everything
    s3 = session.client("s3")
    assert s3.get_bucket_versioning(Bucket=env.state_bucket)["Status"] == "Enabled"
    rule = s3.get_bucket_encryption(Bucket=env.state_bucket)[
        "ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    block = s3.get_public_access_block(Bucket=env.state_bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values()) and len(block) == 4
    table = session.client("dynamodb").describe_table(TableName=env.lock_table)["Table"]
    assert table["KeySchema"] == [{"AttributeName": "LockID", "KeyType": "HASH"}]
    # the sandbox answers as the environment's own account
    assert session.client("sts").get_caller_identity()["Account"] == env.account_id

    # shell exports let a person look inside with the AWS CLI or boto3
    exports = invoke("sandbox.env", "--env", "dev")
    assert exports.returncode == 0
    assert f"export AWS_ACCESS_KEY_ID={session.access_key}" in exports.stdout
    assert "export AWS_ENDPOINT_URL=http://127.0.0.1:" in exports.stdout

    assert git_status() == before, "running tasks must not write into the repository"


def test_detailed_exitcode_reports_changes_as_2(work: Path):
    result = invoke("plan", "--env", "dev", "--component", "tenants", "--detailed-exitcode")
    plan = json.loads(
        (work / "plans" / "sandbox" / "dev" / "tenants" / "bundle.json").read_text())
    expected = 2 if plan["add"] + plan["change"] + plan["destroy"] else 0
    assert result.returncode == expected, result.stdout + result.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["plan", "--env", "qa"], "Unknown environment 'qa'; choose one of: dev, sit, prod."),
    (["plan", "--env", "dev", "--component", "orders"],
     "Unknown component 'orders'; choose one of: campaigns, products, tenants, templates"),
    (["plan", "--env", "dev", "--target", "cloud"],
     "Unknown target 'cloud'; choose one of: sandbox, aws."),
    (["apply", "--env", "dev"], "Applying to dev needs --confirm deploy-dev"),
    (["apply", "--env", "prod", "--confirm", "deploy-dev"],
     "Applying to prod needs --confirm promote-prod"),
])
def test_bad_input_is_refused_before_anything_starts(tmp_path: Path, args, message):
    untouched = tmp_path / "work"
    result = invoke(*args, env={"BBWS_WORK_DIR": str(untouched)})
    assert result.returncode == 2
    assert message in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr
    assert not (untouched / "sandbox").exists(), "no emulator may start on bad input"


def test_aws_target_without_credentials_runs_nothing(tmp_path: Path):
    untouched = tmp_path / "work"
    no_credentials = {
        "BBWS_WORK_DIR": str(untouched), "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_EC2_METADATA_DISABLED": "true",
        **dict.fromkeys(("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE",
                         "AWS_SESSION_TOKEN", "AWS_WEB_IDENTITY_TOKEN_FILE",
                         "AWS_CONTAINER_CREDENTIALS_FULL_URI")),
    }
    result = invoke("plan", "--env", "dev", "--target", "aws", env=no_credentials)
    assert result.returncode == 2, result.stderr
    assert "--target aws needs AWS credentials" in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 2
    assert not (untouched / "logs").exists() and not (untouched / "sandbox").exists()


def test_port_in_use_is_a_clear_error(work: Path, tmp_path: Path):
    own = fresh_work_dir(tmp_path / "work", work)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = invoke("sandbox.up", "--port", str(port), env={"BBWS_WORK_DIR": str(own)})
    assert result.returncode == 1
    assert f"Port {port} on 127.0.0.1 is already in use" in result.stderr


def test_dead_emulator_is_reported_then_replaced(work: Path, tmp_path: Path):
    own = {"BBWS_WORK_DIR": str(fresh_work_dir(tmp_path / "work", work))}
    try:
        assert invoke("sandbox.up", env=own).returncode == 0
        record = json.loads((Path(own["BBWS_WORK_DIR"]) / "sandbox" / "server.json").read_text())
        os.kill(record["pid"], signal.SIGKILL)
        time.sleep(0.5)

        status = invoke("sandbox.status", env=own)
        assert status.returncode == 1 and "is not answering" in status.stdout

        failed = invoke("plan", "--env", "sit", "--component", "tenants", env=own)
        assert failed.returncode == 1
        assert "is not answering" in failed.stderr and "run the command again" in failed.stderr

        again = invoke("plan", "--env", "sit", "--component", "tenants", env=own)
        assert again.returncode == 0, again.stderr
    finally:
        invoke("sandbox.down", env=own)


def test_aws_target_refuses_credentials_of_another_account(work: Path):
    # The sandbox stands in for AWS here: boto3 honours AWS_ENDPOINT_URL, and moto answers
    # GetCallerIdentity with the account that owns the key (dev's).
    _, session, _ = sandbox.session_for(load_environment("dev"))
    as_dev = {"AWS_ENDPOINT_URL": session.endpoint, "AWS_ACCESS_KEY_ID": session.access_key,
              "AWS_SECRET_ACCESS_KEY": session.secret_key, "AWS_PROFILE": None,
              "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}
    result = invoke("plan", "--env", "sit", "--target", "aws", env=as_dev)
    assert result.returncode == 2, result.stderr
    assert ("Your AWS credentials belong to account 536580886816, but sit is account "
            "815856636111; nothing was run.") in " ".join(result.stderr.split())


def test_unlock_releases_a_lock_left_behind(work: Path):
    env = load_environment("dev")
    _, session, _ = sandbox.session_for(env)
    dynamodb = session.client("dynamodb")
    lock_key = f"{env.state_bucket}/2_1_bbws_dynamodb_schemas/campaigns/terraform.tfstate"
    info = {"ID": "3f1b1e52-9d7a-4c1e-8a57-5d9f6f0b6a01", "Operation": "OperationTypeApply",
            "Who": "ci@runner", "Version": "1.15.5", "Created": "2026-11-22T02:00:00Z",
            "Path": lock_key}
    dynamodb.put_item(TableName=env.lock_table, Item={
        "LockID": {"S": lock_key}, "Info": {"S": json.dumps(info)}})

    wrong = invoke("unlock", "--env", "dev", "--component", "campaigns", "--lock-id", "nope")
    assert wrong.returncode == 1 and "force-unlock failed" in wrong.stderr
    released = invoke("unlock", "--env", "dev", "--component", "campaigns", "--lock-id",
                      info["ID"])
    assert released.returncode == 0, released.stderr
    assert "Item" not in dynamodb.get_item(TableName=env.lock_table,
                                           Key={"LockID": {"S": lock_key}})


def test_apply_without_a_saved_plan_starts_nothing(tmp_path: Path):
    untouched = tmp_path / "work"
    result = invoke("apply", "--env", "sit", "--component", "products", "--confirm",
                    "promote-sit", env={"BBWS_WORK_DIR": str(untouched)})
    assert result.returncode == 2
    assert ("No saved plan for products in sit (sandbox); run: invoke plan --env sit "
            "--component products --target sandbox") in " ".join(result.stderr.split())
    assert not (untouched / "sandbox").exists()
