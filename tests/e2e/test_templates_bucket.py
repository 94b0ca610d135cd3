"""Issue: the template bucket and its twelve templates, applied for real on the sandbox."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bbws_infra import operations, sandbox, targets
from bbws_infra.paths import REPO_ROOT
from bbws_infra.registry import COMPONENTS, load_environment
from tests.conftest import invoke

pytestmark = pytest.mark.e2e

TEMPLATE_DIR = REPO_ROOT / "s3" / "templates" / "templates"
TEMPLATE_FILES = sorted(p for p in TEMPLATE_DIR.rglob("*") if p.suffix in (".html", ".txt"))


@pytest.fixture(scope="module")
def dev(work: Path):
    planned = invoke("plan", "--env", "dev", "--component", "templates")
    assert planned.returncode == 0, planned.stdout + planned.stderr
    applied = invoke("apply", "--env", "dev", "--component", "templates", "--confirm",
                     "deploy-dev")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    env = load_environment("dev")
    _, session, _ = sandbox.session_for(env)
    return env, session.client("s3")


def test_bucket_settings(dev):
    env, s3 = dev
    bucket = "bbws-templates-dev"
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert block == {"BlockPublicAcls": True, "IgnorePublicAcls": True,
                     "BlockPublicPolicy": True, "RestrictPublicBuckets": True}

    rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    noncurrent = [r["NoncurrentVersionExpiration"]["NoncurrentDays"] for r in rules
                  if r["Status"] == "Enabled" and "NoncurrentVersionExpiration" in r]
    assert noncurrent == [30] == [env.values["noncurrent_version_expiration_days"]]

    logging = s3.get_bucket_logging(Bucket=bucket)["LoggingEnabled"]
    assert logging["TargetBucket"] == "bbws-templates-dev-logs"
    log_block = s3.get_public_access_block(Bucket="bbws-templates-dev-logs")
    assert all(log_block["PublicAccessBlockConfiguration"].values())
    log_rule = s3.get_bucket_encryption(Bucket="bbws-templates-dev-logs")[
        "ServerSideEncryptionConfiguration"]["Rules"][0]
    assert log_rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"

    for name in (bucket, "bbws-templates-dev-logs"):
        policy = json.loads(s3.get_bucket_policy(Bucket=name)["Policy"])
        deny = [s for s in policy["Statement"] if s["Effect"] == "Deny"]
        assert any(s["Condition"]["Bool"]["aws:SecureTransport"] in ("false", ["false"])
                   and s["Action"].lower() == "s3:*" for s in deny), name

    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=bucket)["TagSet"]}
    assert tags["Component"] == "s3" and tags["Environment"] == "dev"
    assert {k: tags[k] for k in env.values["tags"]} == env.values["tags"]

    # no replication outside PROD
    with pytest.raises(s3.exceptions.ClientError):
        s3.get_bucket_replication(Bucket=bucket)


def test_every_object_equals_the_repository_file(dev):
    _, s3 = dev
    listed = {o["Key"] for o in s3.list_objects_v2(Bucket="bbws-templates-dev")["Contents"]}
    expected = {p.relative_to(TEMPLATE_DIR).as_posix() for p in TEMPLATE_FILES}
    assert listed == expected
    assert len([k for k in expected if k.endswith(".html")]) == 12
    for path in TEMPLATE_FILES:
        key = path.relative_to(TEMPLATE_DIR).as_posix()
        got = s3.get_object(Bucket="bbws-templates-dev", Key=key)
        assert got["Body"].read() == path.read_bytes(), key
        kind = "html" if path.suffix == ".html" else "plain"
        assert got["ContentType"] == f"text/{kind}; charset=utf-8", key


def test_changing_one_template_plans_exactly_one_update(dev):
    env, _ = dev
    ctx = targets.prepare("sandbox", env)
    templates = COMPONENTS["templates"]
    targets.stage(ctx, [templates])
    staged = ctx.root_dir(templates) / "templates" / "receipts" / "receipt.html"
    staged.write_text(staged.read_text() + "<!-- wording change -->\n")
    try:
        summary = operations.plan(ctx, templates).summary
    finally:
        targets.stage(ctx, [templates])  # back to the repository's content
    assert (summary.add, summary.change, summary.destroy) == (0, 1, 0)
    assert summary.changes == [("update", 'aws_s3_bucket_object.template["receipts/receipt.html"]',
                                "aws_s3_bucket_object")]
    assert operations.plan(ctx, templates).summary.has_changes is False


def test_prod_plan_replicates_to_the_dr_region(work: Path):
    planned = invoke("plan", "--env", "prod", "--component", "templates")
    assert planned.returncode == 0, planned.stdout + planned.stderr
    plan = json.loads((work / "plans" / "sandbox" / "prod" / "templates" / "plan.json").read_text())
    created = {c["address"]: c["change"]["after"] for c in plan["resource_changes"]
               if c["change"]["actions"] == ["create"]}

    buckets = {after["bucket"]: after for address, after in created.items()
               if address.endswith("aws_s3_bucket.this")}
    assert set(buckets) == {"bbws-templates-prod", "bbws-templates-prod-logs",
                            "bbws-templates-prod-replica"}
    (replication,) = buckets["bbws-templates-prod"]["replication_configuration"]
    (rule,) = replication["rules"]
    assert rule["status"] == "Enabled"
    (destination,) = rule["destination"]
    assert destination["storage_class"] == "STANDARD"
    replica = buckets["bbws-templates-prod-replica"]
    assert replica["versioning"][0]["enabled"] is True
    sse = replica["server_side_encryption_configuration"][0]["rule"][0]
    assert sse["apply_server_side_encryption_by_default"][0]["sse_algorithm"] == "AES256"

    # the replica lives in the DR region: its module uses the aws.dr provider (eu-west-1)
    config = plan["configuration"]["provider_config"]
    assert config["aws.dr"]["expressions"]["region"]["references"] == ["var.dr_region"]
    assert load_environment("prod").dr_region == "eu-west-1"
    replica_address = next(a for a, after in created.items()
                           if after.get("bucket") == "bbws-templates-prod-replica")
    assert replica_address.startswith("module.replication[0].")

    noncurrent = [r["noncurrent_version_expiration"][0]["days"]
                  for r in buckets["bbws-templates-prod"]["lifecycle_rule"]
                  if r.get("noncurrent_version_expiration")]
    assert noncurrent == [90]
