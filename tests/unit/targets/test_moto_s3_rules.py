"""bbws_infra.targets.moto_s3_rules and moto_s3_policy: the rule functions on their own, and the
rules wired into moto in-process (boto3 against mock_aws), refusing what AWS refuses."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws
from moto.s3.models import OWNER

from bbws_infra.targets import moto_s3_policy, moto_s3_rules
from tests.support.aws_errors import refusal, send_as_insecure
from tests.support.moto_session import MotoSession

BUCKET = "bbws-templates-dev"
ARN = f"arn:aws:s3:::{BUCKET}"
REGION = "af-south-1"
TLS_ONLY = {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": {"AWS": "*"},
            "Action": "s3:*", "Resource": [ARN, f"{ARN}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}}


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    moto_s3_rules.apply()
    try:
        with mock_aws():
            client = MotoSession().client("s3")
            client.create_bucket(Bucket=BUCKET,
                                 CreateBucketConfiguration={"LocationConstraint": REGION})
            yield client
    finally:
        moto_s3_rules.restore()


ACL_ERROR = ("AccessControlListNotSupported", "The bucket does not allow ACLs", 400)
BUCKET_ACL_ERROR = ("InvalidBucketAclWithObjectOwnership", "Bucket cannot have ACLs set with "
                    "ObjectOwnership's BucketOwnerEnforced setting", 400)


# --- rule functions -------------------------------------------------------------------------

def test_object_acl_rule_accepts_only_bucket_owner_full_control():
    assert not moto_s3_rules.object_acl_refused({})
    assert not moto_s3_rules.object_acl_refused({"x-amz-acl": "bucket-owner-full-control"})
    assert not moto_s3_rules.object_acl_refused({"x-amz-grant-full-control": f'id="{OWNER}"'})
    assert moto_s3_rules.object_acl_refused({"X-Amz-Acl": "private"})
    assert moto_s3_rules.object_acl_refused({"x-amz-grant-read": f'id="{OWNER}"'})
    assert moto_s3_rules.object_acl_refused(
        {"x-amz-grant-full-control": f'id="{OWNER}", uri="http://acs.amazonaws.com/groups/'
                                     'global/AllUsers"'})


def test_bucket_acl_rule_on_create_depends_on_the_ownership():
    refused = moto_s3_rules.create_bucket_acl_refused
    for owner_only in ("private", "bucket-owner-full-control", "bucket-owner-read"):
        assert not refused({"x-amz-acl": owner_only}, "BucketOwnerEnforced"), owner_only
    for shared in ("public-read", "log-delivery-write", "authenticated-read"):
        assert refused({"x-amz-acl": shared}, "BucketOwnerEnforced"), shared
        assert not refused({"x-amz-acl": shared}, "ObjectWriter"), shared


def test_an_acl_document_is_owner_full_control_only_or_not():
    def document(*grants: tuple[str, str]) -> bytes:
        body = "".join(f"<Grant><Grantee><ID>{who}</ID></Grantee><Permission>{what}"
                       "</Permission></Grant>" for who, what in grants)
        return (f"<AccessControlPolicy><Owner><ID>{OWNER}</ID></Owner><AccessControlList>"
                f"{body}</AccessControlList></AccessControlPolicy>").encode()

    assert moto_s3_rules.acl_body_owner_full_control_only(document((OWNER, "FULL_CONTROL")))
    assert not moto_s3_rules.acl_body_owner_full_control_only(document((OWNER, "READ")))
    assert not moto_s3_rules.acl_body_owner_full_control_only(
        document((OWNER, "FULL_CONTROL"), ("someone-else", "READ")))
    assert not moto_s3_rules.acl_body_owner_full_control_only(b"not xml")


def _lifecycle(action: str) -> bytes:
    return (f"<LifecycleConfiguration><Rule><ID>r</ID><Status>Enabled</Status>{action}</Rule>"
            "</LifecycleConfiguration>").encode()


def test_lifecycle_day_counts_aws_refuses():
    error = moto_s3_rules.lifecycle_error
    assert error(_lifecycle("<Expiration><Days>0</Days></Expiration>")) == \
        "'Days' for Expiration action must be a positive integer"
    assert error(_lifecycle("<NoncurrentVersionExpiration><NoncurrentDays>0</NoncurrentDays>"
                            "</NoncurrentVersionExpiration>")) == \
        "'NoncurrentDays' for NoncurrentVersionExpiration action must be a positive integer"
    assert error(_lifecycle("<AbortIncompleteMultipartUpload><DaysAfterInitiation>0"
                            "</DaysAfterInitiation></AbortIncompleteMultipartUpload>")) == \
        "'DaysAfterInitiation' for AbortIncompleteMultipartUpload action must be a positive " \
        "integer"
    assert error(_lifecycle("<Transition><Days>0</Days><StorageClass>STANDARD_IA</StorageClass>"
                            "</Transition>")) == ("'Days' in Transition action must be greater "
                                                  "than or equal to 30 for storageClass "
                                                  "'STANDARD_IA'")
    # AWS allows 0 days for a transition to Glacier, and any positive expiration
    assert error(_lifecycle("<Transition><Days>0</Days><StorageClass>GLACIER</StorageClass>"
                            "</Transition><Expiration><Days>1</Days></Expiration>")) is None


def test_principals_aws_refuses():
    def policy(*principals: object) -> dict[str, Any]:
        return {"Statement": [{"Effect": "Allow", "Principal": p, "Action": "s3:GetObject",
                               "Resource": f"{ARN}/*"} for p in principals]}

    def known(account: str) -> bool:
        return account == "111111111111"

    def exists(account: str, kind: str, name: str) -> bool:
        return (kind, name) == ("role", "replication")

    invalid = moto_s3_policy.invalid_principals
    assert invalid(policy("*", {"AWS": "*"}, {"Service": "logging.s3.amazonaws.com"},
                          {"AWS": ["111111111111", "arn:aws:iam::111111111111:root",
                                   "arn:aws:iam::111111111111:role/service/replication"]}),
                   known, exists) == []
    assert invalid(policy({"AWS": ["arn:aws:iam::111111111111:role/missing",
                                   "arn:aws:iam::111111111111:user/replication",
                                   "222222222222", "arn:aws:iam::222222222222:root"]}),
                   known, exists) == ["arn:aws:iam::111111111111:role/missing",
                                      "arn:aws:iam::111111111111:user/replication",
                                      "222222222222", "arn:aws:iam::222222222222:root"]


def test_the_tls_only_statement_denies_only_insecure_requests():
    policy = {"Statement": [TLS_ONLY]}
    secure, insecure = moto_s3_policy.context(True), moto_s3_policy.context(False)
    for action in ("s3:GetObject", "S3:PutObject", "s3:ListBucket"):
        assert moto_s3_policy.decision(policy, action, f"{ARN}/k", secure) is None
        assert moto_s3_policy.decision(policy, action, f"{ARN}/k", insecure) == "Deny"
    assert moto_s3_policy.decision(policy, "s3:GetObject", "arn:aws:s3:::other/k",
                                   insecure) is None


def test_conditions_on_keys_a_request_lacks():
    ctx = moto_s3_policy.context(True)
    met = moto_s3_policy.conditions_met
    assert not met({"ArnLike": {"aws:SourceArn": ARN}}, ctx)
    assert met({"StringNotEquals": {"aws:SourceAccount": "1"}}, ctx)
    assert met({"StringEqualsIfExists": {"aws:SourceAccount": "1"}}, ctx)
    assert met({"Null": {"aws:SourceArn": "true"}}, ctx)
    assert met({"Bool": {"AWS:SecureTransport": ["true"]}}, ctx)
    # a service-principal statement never applies to a sandbox caller
    service = {"Statement": [{"Effect": "Deny", "Principal": {"Service": "s3.amazonaws.com"},
                              "Action": "s3:*", "Resource": f"{ARN}/*"}]}
    assert moto_s3_policy.decision(service, "s3:GetObject", f"{ARN}/k", ctx) is None


# --- wired into moto ------------------------------------------------------------------------

def test_a_new_bucket_is_owner_enforced_and_an_explicit_setting_is_kept(s3):
    def owner(bucket: str) -> str:
        rules = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"]
        return str(rules[0]["ObjectOwnership"])

    assert owner(BUCKET) == "BucketOwnerEnforced"
    s3.create_bucket(Bucket="bbws-writer", ObjectOwnership="ObjectWriter", ACL="public-read",
                     CreateBucketConfiguration={"LocationConstraint": REGION})
    assert owner("bbws-writer") == "ObjectWriter"
    s3.create_bucket(Bucket="bbws-private", ACL="private",
                     CreateBucketConfiguration={"LocationConstraint": REGION})
    assert owner("bbws-private") == "BucketOwnerEnforced"
    assert refusal(s3.create_bucket, Bucket="bbws-public", ACL="public-read",
                  CreateBucketConfiguration={"LocationConstraint": REGION}) == BUCKET_ACL_ERROR
    assert "bbws-public" not in {b["Name"] for b in s3.list_buckets()["Buckets"]}


def test_acl_setting_requests_are_refused_while_enforced(s3):
    s3.put_object(Bucket=BUCKET, Key="a.txt", Body=b"a")
    s3.put_object(Bucket=BUCKET, Key="b.txt", Body=b"b", ACL="bucket-owner-full-control")
    assert refusal(s3.put_object, Bucket=BUCKET, Key="c.txt", Body=b"c", ACL="private") == \
        ACL_ERROR
    assert refusal(s3.copy_object, Bucket=BUCKET, Key="d.txt", ACL="public-read",
                  CopySource={"Bucket": BUCKET, "Key": "a.txt"}) == ACL_ERROR
    assert refusal(s3.create_multipart_upload, Bucket=BUCKET, Key="e.txt",
                  ACL="private") == ACL_ERROR
    assert refusal(s3.put_object_acl, Bucket=BUCKET, Key="a.txt", ACL="private") == ACL_ERROR
    s3.put_object_acl(Bucket=BUCKET, Key="a.txt", ACL="bucket-owner-full-control")
    assert refusal(s3.put_bucket_acl, Bucket=BUCKET, ACL="private") == ACL_ERROR
    assert refusal(s3.put_bucket_acl, Bucket=BUCKET, ACL="log-delivery-write") == ACL_ERROR
    assert s3.get_bucket_acl(Bucket=BUCKET)["Grants"]  # reading ACLs still works

    s3.put_bucket_ownership_controls(Bucket=BUCKET, OwnershipControls={
        "Rules": [{"ObjectOwnership": "BucketOwnerPreferred"}]})
    s3.put_object(Bucket=BUCKET, Key="c.txt", Body=b"c", ACL="private")
    s3.put_bucket_acl(Bucket=BUCKET, ACL="public-read")
    # back to enforced is refused while the bucket ACL still shares the bucket
    assert refusal(s3.put_bucket_ownership_controls, Bucket=BUCKET, OwnershipControls={
        "Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}) == BUCKET_ACL_ERROR
    s3.put_bucket_acl(Bucket=BUCKET, ACL="private")
    s3.put_bucket_ownership_controls(Bucket=BUCKET, OwnershipControls={
        "Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
    assert refusal(s3.put_object, Bucket=BUCKET, Key="c.txt", Body=b"c", ACL="private") == \
        ACL_ERROR


def test_lifecycle_with_zero_days_is_invalid_argument(s3):
    rule = {"ID": "r", "Status": "Enabled", "Filter": {"Prefix": ""}}
    assert refusal(s3.put_bucket_lifecycle_configuration, Bucket=BUCKET, LifecycleConfiguration={
        "Rules": [{**rule, "Expiration": {"Days": 0}}]}) == (
        "InvalidArgument", "'Days' for Expiration action must be a positive integer", 400)
    s3.put_bucket_lifecycle_configuration(Bucket=BUCKET, LifecycleConfiguration={
        "Rules": [{**rule, "NoncurrentVersionExpiration": {"NoncurrentDays": 1}}]})


def test_a_policy_naming_a_missing_principal_is_malformed(s3):
    iam = MotoSession().client("iam")
    iam.create_role(RoleName="replication", AssumeRolePolicyDocument="{}")

    def put(principal: object) -> None:
        s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps({"Statement": [{
            "Effect": "Allow", "Principal": principal, "Action": "s3:GetObject",
            "Resource": f"{ARN}/*"}]}))

    for fine in ("*", {"AWS": "*"}, {"Service": "logging.s3.amazonaws.com"},
                 {"AWS": "arn:aws:iam::123456789012:role/replication"},
                 {"AWS": "arn:aws:iam::123456789012:root"}):
        put(fine)
    for missing in ("arn:aws:iam::123456789012:role/missing", "999999999999"):
        assert refusal(put, principal={"AWS": missing}) == (
            "MalformedPolicy", "Invalid principal in policy", 400)


def test_the_tls_only_policy_refuses_only_requests_marked_insecure(s3):
    s3.put_object(Bucket=BUCKET, Key="a.txt", Body=b"a")
    s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps({"Statement": [TLS_ONLY]}))
    assert s3.get_object(Bucket=BUCKET, Key="a.txt")["Body"].read() == b"a"
    s3.put_object(Bucket=BUCKET, Key="b.txt", Body=b"b")
    s3.get_bucket_policy(Bucket=BUCKET)

    send_as_insecure(s3)
    denied = ("AccessDenied", "Access Denied", 403)
    assert refusal(s3.get_object, Bucket=BUCKET, Key="a.txt") == denied
    assert refusal(s3.put_object, Bucket=BUCKET, Key="c.txt", Body=b"c") == denied
    assert refusal(s3.get_bucket_policy, Bucket=BUCKET) == denied
