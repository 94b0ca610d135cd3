"""S3 as AWS enforces it, on the sandbox (bbws_infra.targets.moto_s3_rules): buckets are
BucketOwnerEnforced by default, ACL-setting requests are refused with AWS's errors, and the
templates component deploys into such a bucket, from scratch and over objects an earlier
configuration uploaded with acl "private".

Runs in a throw-away git copy of the repository with its own sandbox, because it commits changes
to s3/templates/main.tf.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.support.aws_errors import refusal, send_as_insecure
from tests.support.repo_copies import Copy, make_copy

pytestmark = pytest.mark.e2e

BUCKET = "bbws-templates-dev"
ACL_LINE = '  acl  = "bucket-owner-full-control"\n'
ACL_ERROR = ("AccessControlListNotSupported", "The bucket does not allow ACLs", 400)


@pytest.fixture(scope="module")
def copy(work: Path, tmp_path_factory: pytest.TempPathFactory):
    yield from make_copy("sandbox-s3-rules", work, tmp_path_factory)


def _ownership(s3: Any, bucket: str) -> str:
    rules = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"]
    return str(rules[0]["ObjectOwnership"])


def _drop_template_acl(copy: Copy) -> str:
    """Remove the template objects' acl from s3/templates/main.tf; returns the file's text."""
    main = copy.root / "s3" / "templates" / "main.tf"
    text = main.read_text()
    assert ACL_LINE in text, "s3/templates/main.tf no longer sets the template objects' acl"
    main.write_text(text.replace(ACL_LINE, ""))
    return text


def test_templates_deploy_into_an_owner_enforced_bucket_and_over_private_objects(copy: Copy):
    # The configuration before this change: provider 3.39 sends x-amz-acl: private with every
    # upload, which an owner-enforced bucket refuses, as AWS does.
    main_tf = _drop_template_acl(copy)
    copy.commit("templates without an object acl")
    copy.ok("plan", "--env", "dev", "--component", "templates")
    failed = copy.invoke("apply", "--env", "dev", "--component", "templates", "--confirm",
                         "deploy-dev")
    assert failed.returncode != 0
    assert "AccessControlListNotSupported" in failed.stdout + failed.stderr

    session = copy.session("dev")
    s3 = session.client("s3")
    assert _ownership(s3, BUCKET) == "BucketOwnerEnforced"
    assert _ownership(s3, f"{BUCKET}-logs") == "BucketOwnerEnforced"

    # Objects uploaded with acl "private" while ACLs were enabled, then ACLs disabled again:
    # the state of a deployment made before this change.
    s3.put_bucket_ownership_controls(Bucket=BUCKET, OwnershipControls={
        "Rules": [{"ObjectOwnership": "ObjectWriter"}]})
    copy.ok("plan", "--env", "dev", "--component", "templates")
    uploaded = copy.invoke("apply", "--env", "dev", "--component", "templates", "--confirm",
                           "deploy-dev")
    # applied; the post-apply verification flags the bucket with ACLs enabled, and only that
    output = uploaded.stdout + uploaded.stderr
    fails = [line.strip() for line in output.splitlines() if line.strip().startswith("FAIL ")]
    assert fails == [f"FAIL templates: bucket {BUCKET}: object ownership: expected "
                     "BucketOwnerEnforced, found ObjectWriter"], output
    s3.put_bucket_ownership_controls(Bucket=BUCKET, OwnershipControls={
        "Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})

    # This change: acl bucket-owner-full-control, an in-place update (PutObjectAcl) of every
    # template, which the owner-enforced bucket accepts.
    (copy.root / "s3" / "templates" / "main.tf").write_text(main_tf)
    copy.commit("templates with acl bucket-owner-full-control")
    planned = copy.ok("plan", "--env", "dev", "--component", "templates")
    changed = re.search(r"templates: 0 to add, (\d+) to change, 0 to destroy", planned)
    assert changed and int(changed.group(1)) > 0, planned
    copy.ok("apply", "--env", "dev", "--component", "templates", "--confirm", "deploy-dev")
    again = copy.ok("plan", "--env", "dev", "--component", "templates")
    assert "templates: 0 to add, 0 to change, 0 to destroy" in again, again

    verified = copy.ok("verify", "--env", "dev", "--component", "templates")
    assert "FAIL" not in verified


def test_refused_requests_carry_aws_errors_and_accepted_variants_pass(copy: Copy):
    session = copy.session("dev")
    s3 = session.client("s3")
    region = session.client("s3").meta.region_name
    where = {"LocationConstraint": region}

    # CreateBucket: private is accepted (and the bucket is owner-enforced), public-read is not
    s3.create_bucket(Bucket="bbws-rules-private", ACL="private", CreateBucketConfiguration=where)
    assert _ownership(s3, "bbws-rules-private") == "BucketOwnerEnforced"
    assert refusal(s3.create_bucket, Bucket="bbws-rules-public", ACL="public-read",
                  CreateBucketConfiguration=where) == (
        "InvalidBucketAclWithObjectOwnership",
        "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting", 400)

    # Object and bucket ACLs on the deployed, owner-enforced template bucket
    s3.put_object(Bucket=BUCKET, Key="rules/owner.txt", Body=b"x",
                  ACL="bucket-owner-full-control")
    assert refusal(s3.put_object, Bucket=BUCKET, Key="rules/private.txt", Body=b"x",
                  ACL="private") == ACL_ERROR
    assert refusal(s3.create_multipart_upload, Bucket=BUCKET, Key="rules/mp.txt",
                  ACL="public-read") == ACL_ERROR
    assert refusal(s3.put_object_acl, Bucket=BUCKET, Key="rules/owner.txt",
                  ACL="private") == ACL_ERROR
    assert refusal(s3.put_bucket_acl, Bucket=BUCKET, ACL="log-delivery-write") == ACL_ERROR

    # Lifecycle and policy rules
    assert refusal(s3.put_bucket_lifecycle_configuration, Bucket="bbws-rules-private",
                  LifecycleConfiguration={"Rules": [{"ID": "r", "Status": "Enabled",
                                                     "Filter": {"Prefix": ""},
                                                     "Expiration": {"Days": 0}}]}) == (
        "InvalidArgument", "'Days' for Expiration action must be a positive integer", 400)
    account = session.client("sts").get_caller_identity()["Account"]
    for principal in (f"arn:aws:iam::{account}:role/bbws-no-such-role", "999999999999"):
        assert refusal(s3.put_bucket_policy, Bucket="bbws-rules-private", Policy=json.dumps({
            "Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"AWS": principal}, "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::bbws-rules-private/*"}]})) == (
            "MalformedPolicy", "Invalid principal in policy", 400)

    # The deployed TLS-only policy (s3:*) lets sandbox requests through and denies the ones
    # marked as plain HTTP.
    policy = json.loads(s3.get_bucket_policy(Bucket=BUCKET)["Policy"])
    assert any(s.get("Action") in ("s3:*", ["s3:*"]) for s in policy["Statement"])
    assert s3.get_object(Bucket=BUCKET, Key="rules/owner.txt")["Body"].read() == b"x"

    insecure = session.client("s3")

    send_as_insecure(insecure)
    denied = ("AccessDenied", "Access Denied", 403)
    assert refusal(insecure.get_object, Bucket=BUCKET, Key="rules/owner.txt") == denied
    assert refusal(insecure.put_object, Bucket=BUCKET, Key="rules/plain.txt", Body=b"x") == denied
    assert refusal(insecure.get_bucket_policy, Bucket=BUCKET) == denied
    # a bucket without the policy is not affected
    insecure.put_object(Bucket="bbws-rules-private", Key="plain.txt", Body=b"x")
