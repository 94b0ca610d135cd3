"""verify.resource_checks against resources built with boto3 in moto (in-process): what matches
the repository passes, and each thing broken fails exactly its own checks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from bbws_infra.core.paths import REPO_ROOT
from bbws_infra.core.registry import COMPONENTS, Environment, load_environment
from bbws_infra.inputs.schemas import load_table_definition
from bbws_infra.release import verify
from bbws_infra.targets import moto_backup, moto_s3_rules

TABLES = ("tenants", "products", "campaigns")
TEMPLATE_DIR = REPO_ROOT / "s3" / "templates" / "templates"
CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".txt": "text/plain; charset=utf-8"}

# The backup selection calls, as the sandbox answers them.
moto_backup.apply()


class Session:
    """The slice of boto3.Session verify uses, with dummy credentials."""

    def __init__(self, region: str) -> None:
        self.region = region

    def client(self, service: str, region_name: str | None = None) -> Any:
        return boto3.client(service, region_name=region_name or self.region,
                            aws_access_key_id="testing", aws_secret_access_key="testing")


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    # S3 as the sandbox answers it: the TLS-only policy's condition evaluated, not ignored.
    moto_s3_rules.apply()
    try:
        with mock_aws():
            yield
    finally:
        moto_s3_rules.restore()


def _in_account(monkeypatch: pytest.MonkeyPatch, env: Environment) -> Session:
    monkeypatch.setenv("MOTO_ACCOUNT_ID", env.account_id)  # moto answers as the env's account
    return Session(env.region)


def _tags(env: Environment, component: str) -> dict[str, str]:
    kind = COMPONENTS[component].kind
    tags = {**env.values["tags"], "Environment": env.name, "Component": kind}
    if kind == "dynamodb":
        tags["BackupPolicy"] = env.values["backup_policy"]
    return tags


# --- what Terraform builds, with boto3 ------------------------------------------------------


def _schema(component: str):
    return load_table_definition(next((REPO_ROOT / "dynamodb" / component).glob("*.schema.json")))


def _create_table(session: Session, env: Environment, component: str,
                  projection: dict[str, dict[str, Any]] | None = None,
                  copy_to_dr: bool | None = None, selected: list[str] | None = None) -> str:
    """The table, its backup plan and selection as dynamodb/table_main.tf makes them;
    `projection` overrides the projection of the named indexes, `copy_to_dr` the env's value,
    `selected` the selection's resources (the table's ARN)."""
    definition = _schema(component)
    dynamodb = session.client("dynamodb")

    def keys(hash_key: str, range_key: str | None) -> list[dict[str, str]]:
        return [{"AttributeName": hash_key, "KeyType": "HASH"}] + (
            [{"AttributeName": range_key, "KeyType": "RANGE"}] if range_key else [])

    gsis = []
    for gsi in definition.gsis:
        shape: dict[str, Any] = {"ProjectionType": gsi.projection_type}
        if gsi.non_key_attributes:
            shape["NonKeyAttributes"] = gsi.non_key_attributes
        gsis.append({"IndexName": gsi.name, "KeySchema": keys(gsi.hash_key, gsi.range_key),
                     "Projection": (projection or {}).get(gsi.name, shape)})
    arn = dynamodb.create_table(
        TableName=definition.table_name, BillingMode="PAY_PER_REQUEST",
        KeySchema=keys(definition.hash_key, definition.range_key),
        AttributeDefinitions=[{"AttributeName": k, "AttributeType": t}
                              for k, t in definition.attribute_types.items()],
        GlobalSecondaryIndexes=gsis,
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        SSESpecification={"Enabled": True},
        Tags=[{"Key": k, "Value": v} for k, v in _tags(env, component).items()],
    )["TableDescription"]["TableArn"]
    dynamodb.update_continuous_backups(
        TableName=definition.table_name,
        PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})

    name = f"bbws-{component}-{env.name}"
    backup = session.client("backup")
    backup.create_backup_vault(BackupVaultName=name)
    retention = {"DeleteAfterDays": env.values["backup_retention_days"]}
    rule: dict[str, Any] = {"RuleName": "scheduled-backup", "TargetBackupVaultName": name,
                            "ScheduleExpression": env.values["backup_schedule"],
                            "StartWindowMinutes": 60, "CompletionWindowMinutes": 180,
                            "Lifecycle": retention}
    if env.values["backup_copy_to_dr"] if copy_to_dr is None else copy_to_dr:
        dr = session.client("backup", region_name=env.dr_region)
        dr_arn = dr.create_backup_vault(BackupVaultName=f"{name}-dr")["BackupVaultArn"]
        rule["CopyActions"] = [{"DestinationBackupVaultArn": dr_arn, "Lifecycle": retention}]
    plan = backup.create_backup_plan(BackupPlan={"BackupPlanName": name, "Rules": [rule]})
    _backup_role(session, f"{name}-backup")
    backup.create_backup_selection(BackupPlanId=plan["BackupPlanId"], BackupSelection={
        "SelectionName": name, "IamRoleArn": f"arn:aws:iam::{env.account_id}:role/{name}-backup",
        "Resources": [arn] if selected is None else selected, "ListOfTags": []})
    return arn


def _tls_only(bucket: str) -> dict[str, Any]:
    # As modules/bucket_policy renders it.
    return {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": {"AWS": "*"},
            "Action": "s3:*", "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}}


def _create_bucket(session: Session, env: Environment, name: str, region: str,
                   noncurrent_days: int, expiration_days: int | None = None,
                   statements: tuple[dict[str, Any], ...] = ()) -> Any:
    """A bucket as modules/s3_bucket and modules/bucket_policy make it (object ownership as AWS
    sets it for a new bucket; plain moto has no default)."""
    s3 = session.client("s3", region_name=region)
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region},
                     ObjectOwnership="BucketOwnerEnforced")
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
    s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True})
    rule: dict[str, Any] = {
        "ID": "housekeeping", "Status": "Enabled", "Filter": {"Prefix": ""},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
        "NoncurrentVersionExpiration": {"NoncurrentDays": noncurrent_days}}
    if expiration_days:
        rule["Expiration"] = {"Days": expiration_days}
    s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": [rule]})
    s3.put_bucket_policy(Bucket=name, Policy=json.dumps(
        {"Version": "2012-10-17", "Statement": [*statements, _tls_only(name)]}))
    s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": [
        {"Key": k, "Value": v} for k, v in _tags(env, "templates").items()]})
    return s3


def _create_templates(session: Session, env: Environment) -> Any:
    """The templates component as s3/templates/main.tf makes it."""
    name = f"bbws-templates-{env.name}"
    days = env.values["noncurrent_version_expiration_days"]
    delivery = {"Sid": "AllowS3ServerAccessLogDelivery", "Effect": "Allow",
                "Principal": {"Service": "logging.s3.amazonaws.com"}, "Action": "s3:PutObject",
                "Resource": f"arn:aws:s3:::{name}-logs/{name}/*",
                "Condition": {"ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{name}"},
                              "StringEquals": {"aws:SourceAccount": env.account_id}}}
    _create_bucket(session, env, f"{name}-logs", env.region, 1, days, (delivery,))
    s3 = _create_bucket(session, env, name, env.region, days)
    s3.put_bucket_logging(Bucket=name, BucketLoggingStatus={"LoggingEnabled": {
        "TargetBucket": f"{name}-logs", "TargetPrefix": f"{name}/"}})
    if env.values["replication_enabled"]:
        _create_bucket(session, env, f"{name}-replica", env.dr_region, days)
        s3.put_bucket_replication(Bucket=name, ReplicationConfiguration={
            "Role": f"arn:aws:iam::{env.account_id}:role/{name}-replication",
            "Rules": [{"ID": "replicate-every-object", "Status": "Enabled", "Priority": 1,
                       "Filter": {"Prefix": ""},
                       "DeleteMarkerReplication": {"Status": "Disabled"},
                       "Destination": {"Bucket": f"arn:aws:s3:::{name}-replica",
                                       "StorageClass": "STANDARD"}}]})
    for path in sorted(TEMPLATE_DIR.rglob("*")):
        if path.suffix in CONTENT_TYPES:
            s3.put_object(Bucket=name, Key=path.relative_to(TEMPLATE_DIR).as_posix(),
                          Body=path.read_bytes(), ContentType=CONTENT_TYPES[path.suffix])
    return s3



def _backup_role(session: Session, name: str) -> None:
    """A role AWS Backup can assume: the sandbox refuses a selection with any other, as AWS."""
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "backup.amazonaws.com"},
        "Action": "sts:AssumeRole"}]}
    session.client("iam").create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))


def _check(session: Session, env: Environment, component: str) -> list[verify.Check]:
    return verify.resource_checks(session, env, COMPONENTS[component], REPO_ROOT)


def _failed(checks: list[verify.Check]) -> dict[str, tuple[str, str]]:
    return {c.name: (c.expected, c.found) for c in checks if not c.ok}


# --- tests ----------------------------------------------------------------------------------


def test_dev_as_the_repository_says_passes_every_check(aws, monkeypatch):
    env = load_environment("dev")
    session = _in_account(monkeypatch, env)
    for table in TABLES:
        _create_table(session, env, table)
    _create_templates(session, env)

    tenants = _check(session, env, "tenants")
    assert _failed(tenants) == {}
    names = {c.name for c in tenants}
    for gsi in _schema("tenants").gsis:
        assert {f"table tenants: index {gsi.name} keys",
                f"table tenants: index {gsi.name} projection"} <= names
    assert "table tenants: point-in-time recovery" in names
    assert "backup plan bbws-tenants-dev: DR copy" in names
    assert "backup plan bbws-tenants-dev: selection" in names
    assert {c.component for c in tenants} == {"tenants"}
    for table in ("products", "campaigns"):
        assert _failed(_check(session, env, table)) == {}

    templates = _check(session, env, "templates")
    assert _failed(templates) == {}
    files = [p for p in TEMPLATE_DIR.rglob("*") if p.suffix in CONTENT_TYPES]
    objects = [c for c in templates if c.name.startswith("object ")]
    assert len(objects) == 2 * len(files) == 48
    assert {c.name for c in templates} >= {
        "bucket bbws-templates-dev: TLS-only policy",
        "bucket bbws-templates-dev-logs: TLS-only policy",
        "bucket bbws-templates-dev: access logging", "bucket bbws-templates-dev: replication",
        "bucket bbws-templates-dev: object ownership",
        "bucket bbws-templates-dev-logs: object ownership"}
    receipt = next(c for c in templates if c.name == "object receipts/receipt.html: content type")
    assert receipt.expected == "text/html; charset=utf-8"
    assert not any("-replica" in c.name for c in templates)  # no DR region in dev


def test_nothing_deployed_fails_every_check_without_raising(aws, monkeypatch):
    env = load_environment("dev")
    session = _in_account(monkeypatch, env)
    for component in ("tenants", "templates"):
        checks = _check(session, env, component)
        assert checks and all(not c.ok for c in checks), component
        assert {c.found for c in checks} == {"missing"}, component

    # the same checks run whether or not anything exists, so reports line up
    before = [c.name for c in _check(session, env, "tenants")]
    _create_table(session, env, "tenants")
    assert [c.name for c in _check(session, env, "tenants")] == before


def test_pitr_off_and_a_changed_projection_fail_exactly_those_checks(aws, monkeypatch):
    env = load_environment("dev")
    session = _in_account(monkeypatch, env)
    _create_table(session, env, "tenants",
                  projection={"TenantStatusIndex": {"ProjectionType": "KEYS_ONLY"}})
    session.client("dynamodb").update_continuous_backups(
        TableName="tenants",
        PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False})

    assert _failed(_check(session, env, "tenants")) == {
        "table tenants: point-in-time recovery": ("ENABLED", "DISABLED"),
        "table tenants: index TenantStatusIndex projection": (
            "INCLUDE: active, email, id, organizationName", "KEYS_ONLY"),
    }


def test_acls_enabled_or_no_ownership_controls_fail_the_object_ownership_check(aws, monkeypatch):
    """Provider 3.39 cannot state BucketOwnerEnforced: verify is where a bucket with ACLs enabled
    (ownership changed by hand, or created that way) shows."""
    env = load_environment("dev")
    session = _in_account(monkeypatch, env)
    s3 = _create_templates(session, env)
    s3.put_bucket_ownership_controls(Bucket="bbws-templates-dev", OwnershipControls={
        "Rules": [{"ObjectOwnership": "BucketOwnerPreferred"}]})
    s3.delete_bucket_ownership_controls(Bucket="bbws-templates-dev-logs")

    assert _failed(_check(session, env, "templates")) == {
        "bucket bbws-templates-dev: object ownership": ("BucketOwnerEnforced",
                                                        "BucketOwnerPreferred"),
        "bucket bbws-templates-dev-logs: object ownership": ("BucketOwnerEnforced", "none"),
    }


def test_an_overwritten_template_and_an_extra_object_fail(aws, monkeypatch):
    env = load_environment("dev")
    session = _in_account(monkeypatch, env)
    s3 = _create_templates(session, env)
    original = (TEMPLATE_DIR / "receipts" / "receipt.html").read_bytes()
    s3.put_object(Bucket="bbws-templates-dev", Key="receipts/receipt.html",
                  Body=original + b"<!-- edited in the console -->",
                  ContentType="text/html; charset=utf-8")
    s3.put_object(Bucket="bbws-templates-dev", Key="receipts/draft.html", Body=b"<p>draft</p>")

    failed = _failed(_check(session, env, "templates"))
    assert set(failed) == {"object receipts/receipt.html: bytes", "object receipts/draft.html"}
    assert failed["object receipts/draft.html"] == ("absent", "12 B")
    expected, found = failed["object receipts/receipt.html: bytes"]
    assert expected.startswith(f"{len(original)} B, sha256 ") and found.startswith(
        f"{len(original) + 30} B, sha256 ")


def test_prod_replication_and_dr_copies_pass_and_a_missing_replication_fails(aws, monkeypatch):
    env = load_environment("prod")
    session = _in_account(monkeypatch, env)
    _create_table(session, env, "tenants")
    _create_templates(session, env)

    tenants = _check(session, env, "tenants")
    assert _failed(tenants) == {}
    copy = next(c for c in tenants if c.name == "backup plan bbws-tenants-prod: DR copy")
    assert copy.found == f"bbws-tenants-prod-dr in {env.dr_region}, " \
        f"{env.values['backup_retention_days']} days"
    assert "backup vault bbws-tenants-prod-dr" in {c.name for c in tenants}

    templates = _check(session, env, "templates")
    assert _failed(templates) == {}
    replica = [c for c in templates if c.name.startswith("bucket bbws-templates-prod-replica:")]
    assert {"bucket bbws-templates-prod-replica: region",
            "bucket bbws-templates-prod-replica: versioning",
            "bucket bbws-templates-prod-replica: encryption"} <= {c.name for c in replica}
    assert next(c for c in replica if c.name.endswith(": region")).found == env.dr_region

    session.client("s3").delete_bucket_replication(Bucket="bbws-templates-prod")
    assert _failed(_check(session, env, "templates")) == {
        "bucket bbws-templates-prod: replication": (
            "to bbws-templates-prod-replica, Enabled", "none"),
        "bucket bbws-templates-prod: replication role": (
            "bbws-templates-prod-replication", "none"),
    }


def test_a_dr_copy_where_the_env_asks_for_none_fails(aws, monkeypatch):
    env = load_environment("dev")
    session = _in_account(monkeypatch, env)
    _create_table(session, env, "tenants", copy_to_dr=True)
    assert _failed(_check(session, env, "tenants")) == {
        "backup plan bbws-tenants-dev: DR copy": (
            "none", f"bbws-tenants-dev-dr in {env.dr_region}, 7 days")}


def test_a_selection_without_the_table_fails(aws, monkeypatch):
    env = load_environment("dev")
    session = _in_account(monkeypatch, env)
    _create_table(session, env, "tenants")
    selection = next(c for c in _check(session, env, "tenants")
                     if c.name == "backup plan bbws-tenants-dev: selection")
    assert (selection.ok, selection.found) == (True, "covers table tenants")

    backup = session.client("backup")
    (plan,) = backup.list_backup_plans()["BackupPlansList"]
    plan_id = plan["BackupPlanId"]
    (made,) = backup.list_backup_selections(BackupPlanId=plan_id)["BackupSelectionsList"]
    backup.delete_backup_selection(BackupPlanId=plan_id, SelectionId=made["SelectionId"])
    lacks = {"backup plan bbws-tenants-dev: selection": ("covers table tenants",
                                                         "lacks table tenants")}
    assert _failed(_check(session, env, "tenants")) == lacks

    _backup_role(session, "other")
    backup.create_backup_selection(BackupPlanId=plan_id, BackupSelection={
        "SelectionName": "other", "IamRoleArn": f"arn:aws:iam::{env.account_id}:role/other",
        "Resources": ["arn:aws:dynamodb:af-south-1:1:table/other"]})
    assert _failed(_check(session, env, "tenants")) == lacks


def test_failed_checks_print_as_plain_lines_and_json():
    failed = verify.Check("products", "table products: stream", "NEW_AND_OLD_IMAGES",
                          "disabled", False)
    assert verify.table_text([failed]) == ("  FAIL products: table products: stream: expected "
                                           "NEW_AND_OLD_IMAGES, found disabled")
    assert json.loads(verify.to_json([failed])) == [{
        "component": "products", "name": "table products: stream",
        "expected": "NEW_AND_OLD_IMAGES", "found": "disabled", "ok": False}]


def _policy(bucket: str, *extra: dict[str, Any]) -> str:
    tls = {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": {"AWS": "*"},
           "Action": "s3:*", "Resource": [f"arn:aws:s3:::{bucket}/*", f"arn:aws:s3:::{bucket}"],
           "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
    return json.dumps({"Version": "2012-10-17", "Statement": [tls, *extra]})


def test_the_whole_bucket_policy_must_be_the_one_the_source_produces(aws, monkeypatch):
    """Not only the TLS statement: a statement added outside the source (an ignored override
    applied once) fails verification."""
    env = load_environment("dev")
    session = _in_account(monkeypatch, env)
    bucket = "bbws-templates-dev"
    s3 = session.client("s3")
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": env.region})
    planned = {"planned_values": {"root_module": {"child_modules": [{"resources": [{
        "address": "module.templates_bucket.module.policy.aws_s3_bucket_policy.this",
        "mode": "managed", "type": "aws_s3_bucket_policy",
        "values": {"bucket": bucket, "policy": _policy(bucket)}}]}]}}}
    templates = COMPONENTS["templates"]
    (missing,) = verify.policy_checks(session, env, templates, planned)
    assert (missing.ok, missing.found) == (False, "none")

    # the same document, as S3 may hand it back (other order, lists of one as lists)
    same = json.loads(_policy(bucket))
    same["Statement"][0]["Action"] = ["s3:*"]
    same["Statement"][0]["Resource"].reverse()
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(same))
    (passed,) = verify.policy_checks(session, env, templates, planned)
    assert passed.ok and passed.name == f"bucket {bucket}: whole policy"

    foreign = {"Sid": "Foreign", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::"
               f"{env.account_id}:root"}, "Action": "s3:PutObject",
               "Resource": f"arn:aws:s3:::{bucket}/*"}
    s3.put_bucket_policy(Bucket=bucket, Policy=_policy(bucket, foreign))
    (failed,) = verify.policy_checks(session, env, templates, planned)
    assert not failed.ok and "Foreign" in failed.found
