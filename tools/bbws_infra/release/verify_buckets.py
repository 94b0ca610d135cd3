"""The checks of a deployed S3 component: the template, access-log and DR replica buckets,
their settings and tags, and every template object against the files."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from bbws_infra.core import tfvars
from bbws_infra.core.errors import UserError
from bbws_infra.core.registry import Component, Environment
from bbws_infra.core.untyped import Client, ClientCall, Json, JsonObject, Session
from bbws_infra.release.verify_checks import (
    ABSENT,
    LOG_DELIVERY_PRINCIPAL,
    MISSING,
    NONE,
    SSE_ALGORITHM,
    TEMPLATE_DIR,
    Check,
    CheckList,
    days_text,
    expected_tags,
    get_or_none,
    pages,
    tag_checks,
    tag_map,
)

# ACLs disabled: S3's default for new buckets, which provider 3.39 cannot state
# (docs/decisions/s3-object-ownership.md).
OBJECT_OWNERSHIP = "BucketOwnerEnforced"


@dataclass(frozen=True)
class _Bucket:
    """One bucket as modules/s3_bucket creates it."""

    name: str
    region: str
    noncurrent_days: int | None
    expiration_days: int | None = None


def _main_tf_locals(source_root: Path, component: Component) -> JsonObject:
    path = source_root / component.root / "main.tf"
    merged: JsonObject = {}
    for block in tfvars.parse_file(path, source_root).get("locals", []):
        merged.update(tfvars.plain(block))
    return merged


def _content_types(found: JsonObject, component: Component) -> dict[str, str]:
    """Suffix -> content type of the uploaded templates, from the locals of the root's main.tf
    (`content_types`, restricted to the suffixes of the `template_files` glob)."""
    types = {str(k).lower(): str(v) for k, v in found.get("content_types", {}).items()}
    glob = re.search(r"\*\.\{([\w,]+)\}", str(found.get("template_files", "")))
    if glob:
        types = {s: t for s, t in types.items() if s in glob.group(1).split(",")}
    if not types:
        raise UserError(f"{component.root}/main.tf declares no template content types.")
    return types


def _template_files(source_root: Path, component: Component,
                    content_types: dict[str, str]) -> dict[str, Path]:
    # fileset() matches the suffix case-sensitively, so only lower-case suffixes are uploaded.
    base = source_root / component.root / TEMPLATE_DIR
    return {p.relative_to(base).as_posix(): p for p in sorted(base.rglob("*"))
            if p.is_file() and p.suffix[1:] in content_types}


def bucket_component(session: Session, env: Environment, component: Component,
                      source_root: Path) -> list[Check]:
    # Names from s3/templates/main.tf: bbws-<component>-<env>, -logs and -replica.
    name = f"bbws-{component.name}-{env.name}"
    log_bucket, replica_bucket = f"{name}-logs", f"{name}-replica"
    log_prefix = f"{name}/"
    noncurrent = env.values["noncurrent_version_expiration_days"]
    logging_on = bool(env.values.get("access_logging_enabled"))
    replication_on = bool(env.values.get("replication_enabled"))
    tags = expected_tags(env, component)
    local = _main_tf_locals(source_root, component)
    content_types = _content_types(local, component)
    s3 = session.client("s3", region_name=env.region)
    checks = CheckList(component.name)

    exists = _bucket_checks(checks, s3, _Bucket(name, env.region, noncurrent), tags)
    logging = get_or_none(s3.get_bucket_logging, Bucket=name) if exists else None
    target = (logging or {}).get("LoggingEnabled")
    checks.add(f"bucket {name}: access logging",
               f"to {log_bucket}/{log_prefix}" if logging_on else NONE,
               MISSING if not exists else
               f"to {target['TargetBucket']}/{target.get('TargetPrefix', '')}" if target else NONE)
    replication = get_or_none(s3.get_bucket_replication, Bucket=name) if exists else None
    checks.add(f"bucket {name}: replication",
               f"to {replica_bucket}, Enabled" if replication_on else NONE,
               MISSING if not exists else _replication(replication))
    if replication_on:
        # The role modules/replication creates: <bucket>-replication.
        role = ((replication or {}).get("ReplicationConfiguration") or {}).get("Role")
        checks.add(f"bucket {name}: replication role", f"{name}-replication",
                   role.rsplit("/", 1)[-1] if role else MISSING if not exists else NONE)

    if logging_on:
        # Log objects expire after noncurrent_version_expiration_days; the local in main.tf
        # sets how long their noncurrent versions stay.
        log_noncurrent = local.get("log_noncurrent_version_expiration_days")
        log_exists = _bucket_checks(
            checks, s3, _Bucket(log_bucket, env.region, log_noncurrent, noncurrent), tags)
        checks.add(f"bucket {log_bucket}: log delivery", f"allowed for {name}",
                   _log_delivery(s3, log_bucket) if log_exists else MISSING)
    if replication_on:
        s3_dr = session.client("s3", region_name=env.dr_region)
        _bucket_checks(checks, s3_dr, _Bucket(replica_bucket, env.dr_region, noncurrent), tags)

    _object_checks(checks, s3, name, exists, _template_files(source_root, component,
                                                            content_types), content_types)
    return checks


def _bucket_checks(checks: CheckList, s3: Client, bucket: _Bucket, tags: dict[str, str]) -> bool:
    """The settings every modules/s3_bucket bucket has; returns whether the bucket exists."""
    name, what = bucket.name, f"bucket {bucket.name}"
    exists = get_or_none(s3.head_bucket, Bucket=name) is not None

    def read(call: ClientCall) -> JsonObject | None:
        return get_or_none(call, Bucket=name) if exists else None

    def found(value: object) -> object:
        return value if exists else MISSING

    location = read(s3.get_bucket_location)
    # us-east-1 answers with an empty LocationConstraint.
    checks.add(f"{what}: region", bucket.region,
               found((location or {}).get("LocationConstraint") or "us-east-1"))
    versioning = read(s3.get_bucket_versioning) or {}
    checks.add(f"{what}: versioning", "Enabled", found(versioning.get("Status", NONE)))
    encryption = read(s3.get_bucket_encryption)
    checks.add(f"{what}: encryption", SSE_ALGORITHM, found(_sse(encryption)))
    controls = (read(s3.get_bucket_ownership_controls) or {}).get("OwnershipControls") or {}
    checks.add(f"{what}: object ownership", OBJECT_OWNERSHIP, found(", ".join(
        r.get("ObjectOwnership", NONE) for r in controls.get("Rules", [])) or NONE))
    block = (read(s3.get_public_access_block) or {}).get("PublicAccessBlockConfiguration")
    checks.add(f"{what}: public access block", "all four on", found(_public_block(block)))
    policy = read(s3.get_bucket_policy)
    statements = _statements(policy)
    checks.add(f"{what}: TLS-only policy", "denies non-TLS",
               found(NONE if policy is None else "denies non-TLS"
                     if any(_denies_plain_http(s, name) for s in statements) else ABSENT))
    rules = (read(s3.get_bucket_lifecycle_configuration) or {}).get("Rules", [])
    enabled = [r for r in rules if r.get("Status") == "Enabled"]
    checks.add(f"{what}: noncurrent version expiration", days_text(bucket.noncurrent_days),
               found(_lifecycle_days(enabled, "NoncurrentVersionExpiration", "NoncurrentDays")))
    # A current-version expiration only where the module was given one (the log bucket).
    checks.add(f"{what}: expiration", days_text(bucket.expiration_days),
               found(_lifecycle_days(enabled, "Expiration", "Days")))
    tagging = read(s3.get_bucket_tagging)
    tag_checks(checks, what, tags, None if not exists else tag_map(
        (tagging or {}).get("TagSet", [])))
    return exists


def _sse(encryption: JsonObject | None) -> str:
    rules = ((encryption or {}).get("ServerSideEncryptionConfiguration") or {}).get("Rules", [])
    algorithms = [r.get("ApplyServerSideEncryptionByDefault", {}).get("SSEAlgorithm", NONE)
                  for r in rules]
    return ", ".join(algorithms) or NONE


def _public_block(block: dict[str, bool] | None) -> str:
    if block is None:
        return NONE
    keys = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
    off = [k for k in keys if block.get(k) is not True]
    return "all four on" if not off else f"off: {', '.join(off)}"


def _lifecycle_days(rules: list[JsonObject], member: str, field: str) -> str:
    days = sorted({r[member][field] for r in rules if field in r.get(member, {})})
    return ", ".join(days_text(d) for d in days) or NONE


def _listed(value: object) -> list[Json]:
    return value if isinstance(value, list) else [value]


def _statements(policy: JsonObject | None) -> list[JsonObject]:
    if policy is None:
        return []
    return _listed(json.loads(policy["Policy"]).get("Statement", []))


def _denies_plain_http(statement: JsonObject, bucket: str) -> bool:
    """The modules/bucket_policy statement: deny every S3 action (on the bucket and its objects)
    to everyone when aws:SecureTransport is false."""
    actions = {str(a).lower() for a in _listed(statement.get("Action", []))}
    principal = statement.get("Principal")
    everyone = principal == "*" or (
        isinstance(principal, dict) and "*" in _listed(principal.get("AWS", [])))
    resources = {str(r).split(":::", 1)[-1] for r in _listed(statement.get("Resource", []))}
    secure = statement.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport")
    return (statement.get("Effect") == "Deny" and "s3:*" in actions and everyone
            and {bucket, f"{bucket}/*"} <= resources and _listed(secure) == ["false"])


def _log_delivery(s3: Client, log_bucket: str) -> str:
    """Whom the log bucket lets the logging service write for (its aws:SourceArn)."""
    for statement in _statements(get_or_none(s3.get_bucket_policy, Bucket=log_bucket)):
        principal = statement.get("Principal")
        services = _listed(principal.get("Service", [])) if isinstance(principal, dict) else []
        actions = {str(a).lower() for a in _listed(statement.get("Action", []))}
        if (statement.get("Effect") == "Allow" and LOG_DELIVERY_PRINCIPAL in services
                and "s3:putobject" in actions):
            sources = _listed(statement.get("Condition", {}).get("ArnLike", {}).get(
                "aws:SourceArn", []))
            names = sorted(str(s).split(":::", 1)[-1] for s in sources)
            return f"allowed for {', '.join(names) or 'any bucket'}"
    return ABSENT


def _replication(replication: JsonObject | None) -> str:
    """'to <bucket>, <status>' for each rule of the configuration."""
    rules = ((replication or {}).get("ReplicationConfiguration") or {}).get("Rules", [])
    rendered = []
    for rule in rules:
        # Every object: no filter, or an empty prefix (modules/s3_bucket/main.tf).
        scope = rule.get("Filter", {}).get("Prefix", rule.get("Prefix", ""))
        arn = rule.get("Destination", {}).get("Bucket", "")
        status = rule.get("Status", NONE) + (f", prefix {scope!r}" if scope else "")
        rendered.append(f"to {arn.split(':::', 1)[-1]}, {status}")
    return "; ".join(rendered) or NONE


def _content(data: bytes) -> str:
    return f"{len(data)} B, sha256 {hashlib.sha256(data).hexdigest()[:12]}"


def _object_checks(checks: CheckList, s3: Client, bucket: str, exists: bool,
                   files: dict[str, Path], content_types: dict[str, str]) -> None:
    """Each template file equals its object (bytes, content type); any other object fails."""
    listed = {o["Key"]: o for o in pages(s3, "list_objects_v2", "Contents", Bucket=bucket)
              } if exists else {}
    for key, path in files.items():
        got = get_or_none(s3.get_object, Bucket=bucket, Key=key) if key in listed else None
        body = got["Body"].read() if got else None
        checks.add(f"object {key}: bytes", _content(path.read_bytes()),
                   MISSING if body is None else _content(body))
        checks.add(f"object {key}: content type", content_types[path.suffix[1:]],
                   MISSING if got is None else got.get("ContentType", NONE))
    for key in sorted(set(listed) - set(files)):
        checks.add(f"object {key}", ABSENT, f"{listed[key].get('Size', 0)} B")
