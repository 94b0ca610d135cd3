"""The state bucket's protections, set by `invoke bootstrap` and read back by `invoke doctor`:
versioning (every state version can be restored), default encryption, no public access, a
bucket policy that refuses every request without TLS, and server access logs in a log bucket
of its own (`<state bucket>-logs`: encrypted, private, TLS only, writable by the logging
service for this state bucket alone, through its bucket policy: buckets are owner-enforced, so
no ACL grants delivery).

The TLS-only statement is the one modules/bucket_policy gives every bucket Terraform makes,
read from that module, so the state bucket and the template buckets never differ in it.
"""

from __future__ import annotations

import json
from functools import cache

from botocore.exceptions import ClientError

from bbws_infra.core import tfvars
from bbws_infra.core.paths import REPO_ROOT
from bbws_infra.core.registry import MODULES_DIR, Environment
from bbws_infra.core.untyped import Client, ClientCall, JsonObject

LOG_DELIVERY_PRINCIPAL = "logging.s3.amazonaws.com"
TLS_ONLY_SID = "DenyInsecureTransport"
LOG_DELIVERY_SID = "AllowS3ServerAccessLogDelivery"
SSE = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}
NO_PUBLIC_ACCESS = {"BlockPublicAcls": True, "IgnorePublicAcls": True,
                    "BlockPublicPolicy": True, "RestrictPublicBuckets": True}
_MISSING = ("NoSuchBucketPolicy", "ServerSideEncryptionConfigurationNotFoundError",
            "NoSuchPublicAccessBlockConfiguration")


def log_bucket(env: Environment) -> str:
    """Where the state bucket's access logs go."""
    return f"{env.state_bucket}-logs"


def log_prefix(env: Environment) -> str:
    return f"{env.state_bucket}/"


def _arn(bucket: str) -> str:
    return f"arn:aws:s3:::{bucket}"


@cache
def _module_tls_statement() -> JsonObject:
    """modules/bucket_policy's DenyInsecureTransport statement (sid, effect, actions,
    principals, condition), as HCL declares it."""
    path = REPO_ROOT / MODULES_DIR / "bucket_policy" / "main.tf"
    for data in tfvars.parse_file(path, REPO_ROOT).get("data", []):
        for document in (tfvars.plain(data).get("aws_iam_policy_document") or {}).values():
            for found in document.get("statement", []):
                if found.get("sid") == TLS_ONLY_SID:
                    return dict(found)
    raise RuntimeError(f"{MODULES_DIR}/bucket_policy/main.tf has no {TLS_ONLY_SID} statement")


def tls_only_statement(bucket: str) -> JsonObject:
    """The Deny of every request to the bucket or its objects without TLS."""
    found = _module_tls_statement()
    principal = found["principals"][0]
    condition = found["condition"][0]
    return {"Sid": TLS_ONLY_SID, "Effect": found["effect"], "Action": found["actions"],
            "Principal": {principal["type"]: principal["identifiers"]},
            "Resource": [_arn(bucket), f"{_arn(bucket)}/*"],
            "Condition": {condition["test"]: {condition["variable"]: condition["values"]}}}


def log_delivery_statement(env: Environment) -> JsonObject:
    """The logging service may write the state bucket's logs, for this bucket and account only."""
    return {"Sid": LOG_DELIVERY_SID, "Effect": "Allow",
            "Principal": {"Service": LOG_DELIVERY_PRINCIPAL}, "Action": "s3:PutObject",
            "Resource": f"{_arn(log_bucket(env))}/{log_prefix(env)}*",
            "Condition": {"ArnLike": {"aws:SourceArn": _arn(env.state_bucket)},
                          "StringEquals": {"aws:SourceAccount": env.account_id}}}


def _put_policy(s3: Client, bucket: str, *ours: JsonObject) -> None:
    """Set our statements in the bucket's policy, keeping every other statement (a state
    bucket's policy also holds the next env's ledger-read statements, docs/github.md)."""
    sids = {statement["Sid"] for statement in ours}
    kept = [s for s in _statements(s3, bucket) if s.get("Sid") not in sids]
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(
        {"Version": "2012-10-17", "Statement": [*kept, *ours]}))


def _create(s3: Client, bucket: str, region: str) -> bool:
    """Create the bucket when missing; whether it was created."""
    try:
        s3.head_bucket(Bucket=bucket)
        return False
    except ClientError as error:
        if error.response["Error"]["Code"] not in ("404", "NoSuchBucket", "NotFound"):
            raise
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
    return True


def ensure_log_bucket(s3: Client, env: Environment, tags: list[dict[str, str]]) -> list[str]:
    """Create (when missing) and protect the log bucket; a line for each thing created."""
    bucket = log_bucket(env)
    created = [f"access-log bucket {bucket}"] if _create(s3, bucket, env.region) else []
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration=SSE)
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=NO_PUBLIC_ACCESS)
    _put_policy(s3, bucket, tls_only_statement(bucket), log_delivery_statement(env))
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tags})
    return created


def protect_state_bucket(s3: Client, env: Environment, tags: list[dict[str, str]]) -> None:
    """Versioning, encryption, no public access, TLS only, access logs, tags (the log bucket
    must exist and allow delivery first: S3 refuses logging to a target that does not)."""
    bucket = env.state_bucket
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration=SSE)
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=NO_PUBLIC_ACCESS)
    _put_policy(s3, bucket, tls_only_statement(bucket))
    s3.put_bucket_logging(Bucket=bucket, BucketLoggingStatus={"LoggingEnabled": {
        "TargetBucket": log_bucket(env), "TargetPrefix": log_prefix(env)}})
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tags})


# --- reading back (doctor) --------------------------------------------------------------------


def _read(call: ClientCall, **kwargs: str) -> JsonObject | None:
    """A bucket setting, None when the bucket has none."""
    try:
        return call(**kwargs)
    except ClientError as error:
        if error.response["Error"]["Code"] in _MISSING:
            return None
        raise


def _statements(s3: Client, bucket: str) -> list[JsonObject]:
    policy = _read(s3.get_bucket_policy, Bucket=bucket)
    listed = json.loads(policy["Policy"]).get("Statement", []) if policy else []
    return listed if isinstance(listed, list) else [listed]


def _lower(value: object) -> list[str]:
    return [str(v).lower() for v in (value if isinstance(value, list) else [value])]


def _conditions(statement: JsonObject) -> set[tuple[str, str, str]]:
    """(test, key, value) of each condition; AWS returns a one-value list as a plain string."""
    return {(test, key.lower(), value) for test, keys in (statement.get("Condition") or {}).items()
            for key, values in keys.items() for value in _lower(values)}


def _has_tls_only(statements: list[JsonObject], bucket: str) -> bool:
    wanted = tls_only_statement(bucket)
    return any(s.get("Effect") == "Deny" and _lower(s.get("Action")) == _lower(wanted["Action"])
               and set(_lower(s.get("Resource"))) >= set(_lower(wanted["Resource"]))
               and _conditions(s) == _conditions(wanted) for s in statements)


def _common_problems(s3: Client, bucket: str) -> list[str]:
    problems = []
    if _read(s3.get_bucket_encryption, Bucket=bucket) is None:
        problems.append("no default encryption")
    block = (_read(s3.get_public_access_block, Bucket=bucket) or {}).get(
        "PublicAccessBlockConfiguration", {})
    if block != NO_PUBLIC_ACCESS:
        problems.append("public access not fully blocked")
    if not _has_tls_only(_statements(s3, bucket), bucket):
        problems.append("no TLS-only bucket policy")
    return problems


def hardening_problems(s3: Client, env: Environment) -> list[str]:
    """What the state bucket (and its log bucket) lack of what bootstrap sets; empty when
    hardened. The state bucket must exist."""
    bucket, logs = env.state_bucket, log_bucket(env)
    problems = []
    if (s3.get_bucket_versioning(Bucket=bucket).get("Status")) != "Enabled":
        problems.append("versioning is not enabled")
    problems += _common_problems(s3, bucket)
    logging = s3.get_bucket_logging(Bucket=bucket).get("LoggingEnabled") or {}
    if (logging.get("TargetBucket"), logging.get("TargetPrefix")) != (logs, log_prefix(env)):
        problems.append(f"access logs do not go to {logs}/{log_prefix(env)}")
    try:
        s3.head_bucket(Bucket=logs)
    except ClientError:
        return [*problems, f"log bucket {logs} does not exist"]
    problems += [f"log bucket: {p}" for p in _common_problems(s3, logs)]
    delivery = [s for s in _statements(s3, logs) if s.get("Effect") == "Allow"
                and LOG_DELIVERY_PRINCIPAL in _lower((s.get("Principal") or {}).get("Service"))]
    if not delivery:
        problems.append(f"log bucket: no delivery permission for {LOG_DELIVERY_PRINCIPAL}")
    return problems
