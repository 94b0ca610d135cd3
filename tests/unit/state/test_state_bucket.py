"""The state bucket's protections (bbws_infra.state.state_bucket) against an in-process S3
(moto): what a bare bucket lacks, what bootstrap sets, and that setting it again changes
nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from moto import mock_aws

from bbws_infra.core.registry import load_environment
from bbws_infra.state import state_backend, state_bucket
from tests.support.moto_session import MotoSession

DEV = load_environment("dev")


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        client = MotoSession().client("s3", region_name=DEV.region)
        client.create_bucket(Bucket=DEV.state_bucket,
                             CreateBucketConfiguration={"LocationConstraint": DEV.region})
        yield client


def test_a_bucket_made_before_the_hardening_is_reported(s3):
    assert state_bucket.hardening_problems(s3, DEV) == [
        "versioning is not enabled", "no default encryption", "public access not fully blocked",
        "no TLS-only bucket policy",
        "access logs do not go to bbws-terraform-state-dev-logs/bbws-terraform-state-dev/",
        "log bucket bbws-terraform-state-dev-logs does not exist"]


def test_bootstrap_hardens_an_existing_bucket_and_again_changes_nothing(s3):
    session = MotoSession()
    created = state_backend.ensure_state_backend(session, DEV, enforce=True)
    assert created == ["access-log bucket bbws-terraform-state-dev-logs",
                       "lock table terraform-state-lock-dev"]
    assert state_bucket.hardening_problems(s3, DEV) == []
    settings = _settings(s3)
    assert state_backend.ensure_state_backend(session, DEV, enforce=True) == []
    assert _settings(s3) == settings


def _settings(s3: Any) -> list[Any]:
    read = []
    for bucket in (DEV.state_bucket, state_bucket.log_bucket(DEV)):
        read += [json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"]),
                 s3.get_bucket_logging(Bucket=bucket).get("LoggingEnabled"),
                 s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"],
                 s3.get_bucket_versioning(Bucket=bucket).get("Status")]
    return read


def test_the_tls_only_statement_is_the_modules_own():
    statement = state_bucket.tls_only_statement("b")
    assert statement["Sid"] == "DenyInsecureTransport" and statement["Effect"] == "Deny"
    # the spelling modules/bucket_policy uses, whatever it is
    assert [a.lower() for a in statement["Action"]] == ["s3:*"]
    assert statement["Principal"] == {"AWS": ["*"]}
    assert statement["Resource"] == ["arn:aws:s3:::b", "arn:aws:s3:::b/*"]
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": ["false"]}}


def test_a_policy_read_back_in_aws_shape_still_counts(s3):
    """AWS returns a one-element list as a plain string: the same statement."""
    statement = state_bucket.tls_only_statement(DEV.state_bucket)
    statement["Condition"] = {"Bool": {"aws:SecureTransport": "false"}}
    statement["Action"] = "s3:*"
    s3.put_bucket_policy(Bucket=DEV.state_bucket, Policy=json.dumps(
        {"Version": "2012-10-17", "Statement": [statement]}))
    assert "no TLS-only bucket policy" not in state_bucket.hardening_problems(s3, DEV)


def test_log_delivery_is_for_this_bucket_and_account_only():
    statement = state_bucket.log_delivery_statement(DEV)
    assert statement["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert statement["Resource"] == ("arn:aws:s3:::bbws-terraform-state-dev-logs/"
                                     "bbws-terraform-state-dev/*")
    assert statement["Condition"] == {
        "ArnLike": {"aws:SourceArn": "arn:aws:s3:::bbws-terraform-state-dev"},
        "StringEquals": {"aws:SourceAccount": DEV.account_id}}


def test_a_lock_object_alone_is_a_held_lock(s3):
    session = MotoSession()
    session.client("dynamodb", region_name=DEV.region).create_table(
        TableName=DEV.lock_table, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "LockID", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "LockID", "KeyType": "HASH"}])
    key = "2_1_bbws_dynamodb_schemas/tenants/terraform.tfstate"
    assert state_backend.read_lock(session, DEV, key) is None
    s3.put_object(Bucket=DEV.state_bucket, Key=f"{key}.tflock", Body=json.dumps(
        {"ID": "abc", "Operation": "OperationTypePlan", "Who": "me@host",
         "Created": "2026-11-26T09:41:47Z"}).encode())
    held = state_backend.read_lock(session, DEV, key)
    assert held is not None and (held.id, held.who) == ("abc", "me@host")


def test_bootstrap_keeps_the_other_statements_of_the_bucket_policy(s3):
    """The next env's ledger-read statements live in the same policy (docs/github.md)."""
    reader = {"Sid": "SitPromoteReadsLedger", "Effect": "Allow", "Action": "s3:GetObject",
              "Principal": {"AWS": "arn:aws:iam::815856636111:root"},
              "Resource": f"arn:aws:s3:::{DEV.state_bucket}/ledger/*"}
    s3.put_bucket_policy(Bucket=DEV.state_bucket, Policy=json.dumps(
        {"Version": "2012-10-17", "Statement": [reader]}))
    for _ in range(2):
        state_bucket.ensure_log_bucket(s3, DEV, [])
        state_bucket.protect_state_bucket(s3, DEV, [])
    statements = json.loads(s3.get_bucket_policy(Bucket=DEV.state_bucket)["Policy"])["Statement"]
    assert [s["Sid"] for s in statements] == ["SitPromoteReadsLedger", "DenyInsecureTransport"]
