"""Issue: the template bucket and its twelve templates, applied for real on the sandbox."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bbws_infra.core.paths import REPO_ROOT
from bbws_infra.core.registry import COMPONENTS, load_environment
from bbws_infra.plans import operations
from bbws_infra.release import verify
from bbws_infra.targets import sandbox, targets
from tests.support.cli import invoke

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
    return env, session


def _checks(dev) -> list[verify.Check]:
    env, session = dev
    return verify.resource_checks(session, env, COMPONENTS["templates"], REPO_ROOT)


def test_bucket_settings(dev):
    checks = _checks(dev)
    assert [c for c in checks if not c.ok] == []

    by_name = {c.name: c for c in checks}
    settings = ("region", "versioning", "encryption", "public access block", "TLS-only policy",
                "noncurrent version expiration", "expiration", "tag Environment",
                "tag Component")
    for bucket in ("bbws-templates-dev", "bbws-templates-dev-logs"):
        assert {f"bucket {bucket}: {s}" for s in settings} <= set(by_name), bucket
    assert by_name["bucket bbws-templates-dev: noncurrent version expiration"].found == "30 days"
    assert by_name["bucket bbws-templates-dev: access logging"].found == \
        "to bbws-templates-dev-logs/bbws-templates-dev/"
    assert "bucket bbws-templates-dev-logs: log delivery" in by_name
    # no replication outside PROD
    assert by_name["bucket bbws-templates-dev: replication"].found == "none"
    assert not any("-replica" in name for name in by_name)


def test_every_object_equals_the_repository_file(dev):
    checks = _checks(dev)
    assert [c for c in checks if not c.ok] == []

    expected = {p.relative_to(TEMPLATE_DIR).as_posix() for p in TEMPLATE_FILES}
    assert len([k for k in expected if k.endswith(".html")]) == 12
    objects = {c.name for c in checks if c.name.startswith("object ")}
    assert objects == {f"object {key}: {what}" for key in expected
                       for what in ("bytes", "content type")}


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
    assert [c[:3] for c in summary.changes] == [
        ("update", 'aws_s3_bucket_object.template["receipts/receipt.html"]',
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
