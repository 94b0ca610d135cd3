"""The Terraform state bucket and lock table of an environment, created exactly as in AWS."""

from __future__ import annotations

from botocore.exceptions import ClientError

from bbws_infra.core.registry import Environment
from bbws_infra.core.untyped import Client, JsonObject, Session


def ensure_state_backend(session: Session, env: Environment, enforce: bool = False) -> list[str]:
    """Create what is missing (idempotent) and return a line for each thing created. With
    enforce (the bootstrap task), re-assert the bucket's protections even when it exists."""
    created: list[str] = []
    s3 = session.client("s3", region_name=env.region)
    dynamodb = session.client("dynamodb", region_name=env.region)
    bucket = env.state_bucket
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as error:
        if error.response["Error"]["Code"] not in ("404", "NoSuchBucket", "NotFound"):
            raise
        s3.create_bucket(Bucket=bucket,
                         CreateBucketConfiguration={"LocationConstraint": env.region})
        created.append(f"state bucket {bucket}")
    if created or enforce:
        _protect_bucket(s3, env)

    table = env.lock_table
    try:
        dynamodb.describe_table(TableName=table)
    except ClientError as error:
        if error.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
        dynamodb.create_table(
            TableName=table,
            AttributeDefinitions=[{"AttributeName": "LockID", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "LockID", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
            SSESpecification={"Enabled": True},
            Tags=_tags(env),
        )
        dynamodb.get_waiter("table_exists").wait(TableName=table)
        created.append(f"lock table {table}")
    return created


def _protect_bucket(s3: Client, env: Environment) -> None:
    """Versioning (every state version can be restored), encryption, no public access, tags."""
    bucket = env.state_bucket
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True,
        "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": _tags(env)})


def _tags(env: Environment) -> list[dict[str, str]]:
    tags = {**env.values.get("tags", {}), "Environment": env.name, "Component": "terraform-state"}
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def lock_id(env: Environment, state_key: str) -> str:
    """The S3 backend's lock item of a state in the lock table (its LockID): `<bucket>/<key>`,
    present while a run holds the lock."""
    return f"{env.state_bucket}/{state_key}"


def digest_id(env: Environment, state_key: str) -> str:
    """The S3 backend's digest item of a state (`Digest`: MD5 of the state object last
    written); not a lock."""
    return f"{lock_id(env, state_key)}-md5"


def held_locks(session: Session, env: Environment, state_keys: list[str]
               ) -> dict[str, JsonObject]:
    """State key -> lock info for each of these state keys that is locked right now (the S3
    backend's lock item is `<bucket>/<key>`; its digest item `<bucket>/<key>-md5` is not a
    lock)."""
    import json

    dynamodb = session.client("dynamodb", region_name=env.region)
    locks = {}
    for key in state_keys:
        item = dynamodb.get_item(TableName=env.lock_table, ConsistentRead=True,
                                 Key={"LockID": {"S": lock_id(env, key)}}).get("Item")
        if item and "Info" in item:
            locks[key] = json.loads(item["Info"]["S"])
    return locks
