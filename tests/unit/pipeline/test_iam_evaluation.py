"""The tests' IAM evaluator (tests/support/iam_evaluation.py, @cloud-copilot/iam-simulate) and
the mapping of recorded requests to what IAM authorises (tests/support/aws_requests.py): the
semantics the policy tests rely on, each shown on a small case."""

from __future__ import annotations

import json

from bbws_infra.core.registry import load_environment
from tests.support.aws_requests import calls, load_recording
from tests.support.iam_evaluation import (
    ALLOW,
    DENY,
    IMPLICIT_DENY,
    NOT_APPLICABLE,
    Evaluation,
    Request,
    access_level,
    could_allow,
    decide,
    evaluate,
    is_write,
    write_actions,
)

ACCOUNT = "111111111111"
BUCKET = "arn:aws:s3:::b"
POLICY = {"Version": "2012-10-17", "Statement": [
    {"Sid": "Objects", "Effect": "Allow", "Action": ["s3:Get*", "s3:PutObject"],
     "Resource": [f"{BUCKET}/*"]},
    {"Sid": "NewOnly", "Effect": "Deny", "Action": ["s3:PutObject"], "Resource": [f"{BUCKET}/l/*"],
     "Condition": {"Null": {"s3:if-none-match": "true"}}},
    {"Sid": "Locks", "Effect": "Allow", "Action": ["dynamodb:PutItem"],
     "Resource": [f"arn:aws:dynamodb:af-south-1:{ACCOUNT}:table/t"],
     "Condition": {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["k"]},
                   "Null": {"dynamodb:LeadingKeys": "false"}}},
]}
TABLE = f"arn:aws:dynamodb:af-south-1:{ACCOUNT}:table/t"


def test_allow_explicit_deny_and_conditions_as_iam_decides():
    assert decide(POLICY, Request("s3:GetObjectVersion", f"{BUCKET}/x")) == ALLOW
    assert decide(POLICY, Request("s3:PutObject", f"{BUCKET}/l/x")) == DENY
    assert decide(POLICY, Request("s3:PutObject", f"{BUCKET}/l/x",
                                  {"s3:if-none-match": "*"})) == ALLOW
    assert decide(POLICY, Request("s3:DeleteObject", f"{BUCKET}/x")) == IMPLICIT_DENY
    lock = {"dynamodb:LeadingKeys": ["k"]}
    assert decide(POLICY, Request("dynamodb:PutItem", TABLE, lock)) == ALLOW
    assert decide(POLICY, Request("dynamodb:PutItem", TABLE, {"dynamodb:LeadingKeys":
                                                               ["k", "k-md5"]})) == IMPLICIT_DENY
    assert decide(POLICY, Request("dynamodb:PutItem", TABLE)) == IMPLICIT_DENY  # no key
    # an object action on a bucket ARN is no request AWS can receive
    assert decide(POLICY, Request("s3:PutObject", BUCKET)) == NOT_APPLICABLE


def test_could_allow_asks_whether_any_context_gets_through():
    assert could_allow(POLICY, "dynamodb:PutItem", TABLE)
    assert could_allow(POLICY, "s3:PutObject", f"{BUCKET}/l/x")
    assert not could_allow(POLICY, "s3:DeleteObject", f"{BUCKET}/x")


def test_a_decision_names_the_statement_that_allowed_and_why_others_did_not():
    caller = f"arn:aws:sts::{ACCOUNT}:assumed-role/r/s"
    allowed, denied = evaluate([
        Evaluation(Request("s3:GetObject", f"{BUCKET}/x"), caller, {"mine": POLICY}, ACCOUNT),
        Evaluation(Request("dynamodb:PutItem", TABLE), caller, {"mine": POLICY}, ACCOUNT)])
    assert allowed.grants == (("mine", "Objects"),)
    assert denied.decision == IMPLICIT_DENY and "Locks" in denied.explain
    assert "dynamodb:LeadingKeys" in denied.explain


def test_trust_policies_are_evaluated_with_the_oidc_claims():
    provider = f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": provider},
        "Action": ["sts:AssumeRoleWithWebIdentity"],
        "Condition": {"StringEquals": {
            "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
            "token.actions.githubusercontent.com:sub": ["repo:a/b:environment:dev"]}}}]}

    def asks(sub: str) -> str:
        return decide(trust, Request("sts:AssumeRoleWithWebIdentity",
                                     f"arn:aws:iam::{ACCOUNT}:role/x", principal=provider,
                                     context={"token.actions.githubusercontent.com:aud":
                                              "sts.amazonaws.com",
                                              "token.actions.githubusercontent.com:sub": sub}))

    assert asks("repo:a/b:environment:dev") == ALLOW
    assert asks("repo:a/b:environment:prod") == IMPLICIT_DENY


def test_access_levels_are_aws_s():
    assert access_level("s3:PutObject") == "Write"
    assert access_level("dynamodb:GetItem") == "Read"
    assert is_write("iam:TagRole") and not is_write("s3:ListBucket")
    assert "dynamodb:DeleteTable" in write_actions("dynamodb")


def _entry(method: str, url: str, service: str, body: str = "", **headers: str) -> dict:
    auth = (f"AWS4-HMAC-SHA256 Credential=KEY/20260101/af-south-1/{service}/aws4_request, "
            "SignedHeaders=host, Signature=0")
    return {"method": method, "url": url, "body": body, "body_encoded": False,
            "headers": {"Authorization": auth, **headers}}


def test_recorded_requests_carry_what_they_imply():
    dev = load_environment("dev")
    keys = {"KEY": dev}
    selection = _entry("PUT", "http://h/backup/plans/p-1/selections/", "backup", json.dumps(
        {"BackupSelection": {"SelectionName": "s", "IamRoleArn": "arn:aws:iam::1:role/r"}}))
    deleted = _entry("POST", "http://h/bucket?delete", "s3",
                     "<Delete><Object><Key>a&amp;b</Key></Object>"
                     "<Object><Key>c</Key><VersionId>v</VersionId></Object></Delete>")
    role = _entry("POST", "http://h/", "iam",
                  "Action=CreateRole&RoleName=r&Tags.member.1.Key=k&Tags.member.1.Value=v")
    text = json.dumps(selection) + json.dumps(deleted) + "\n" + json.dumps(role) + "\n"
    made = calls(load_recording(text), keys)  # two objects on one line are read as two
    actions = [(c.request.action, c.request.resource, dict(c.request.context)) for c in made]
    assert actions == [
        ("backup:CreateBackupSelection",
         f"arn:aws:backup:af-south-1:{dev.account_id}:backup-plan:p-1", {}),
        ("iam:PassRole", "arn:aws:iam::1:role/r",
         {"iam:PassedToService": "backup.amazonaws.com"}),
        ("s3:DeleteObject", "arn:aws:s3:::bucket/a&b", {}),
        ("s3:DeleteObjectVersion", "arn:aws:s3:::bucket/c", {}),
        ("iam:CreateRole", f"arn:aws:iam::{dev.account_id}:role/r", {}),
        ("iam:TagRole", f"arn:aws:iam::{dev.account_id}:role/r", {}),
    ]
