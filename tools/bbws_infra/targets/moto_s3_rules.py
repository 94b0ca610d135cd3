"""S3 rules AWS enforces and moto 5.2 does not, added to moto's S3 so the sandbox refuses what
AWS refuses (rules and sources: docs/decisions/sandbox.md, "S3 Object Ownership").

- Object Ownership. A bucket created without x-amz-object-ownership is BucketOwnerEnforced,
  as on AWS since April 2023 (moto has no default). While enforced, ACLs are disabled: a
  request that sets an ACL other than bucket-owner full control fails with 400
  AccessControlListNotSupported "The bucket does not allow ACLs" (PutObject, CopyObject,
  CreateMultipartUpload with x-amz-acl or x-amz-grant-*; PutObjectAcl; PutBucketAcl), and
  CreateBucket (or PutBucketOwnershipControls) fails with 400
  InvalidBucketAclWithObjectOwnership when the bucket ACL would give anyone but the owner
  access. `private` (and the canned ACLs S3 ignores on buckets) is accepted on CreateBucket.
- Lifecycle: day counts AWS refuses with InvalidArgument (0 or less for Expiration,
  NoncurrentVersionExpiration, AbortIncompleteMultipartUpload; under 30 for a transition to
  STANDARD_IA or ONEZONE_IA).
- Bucket policy: an AWS principal that does not exist is MalformedPolicy "Invalid principal in
  policy"; requests are evaluated against the policy with its conditions, aws:SecureTransport
  true unless the request is marked insecure (bbws_infra.targets.moto_s3_policy).

`apply()` wraps S3Response's bucket and object request handlers; only the sandbox server and
the unit tests import this module.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from contextvars import ContextVar

from moto.iam.models import iam_backends
from moto.s3.exceptions import S3AccessDeniedError, S3ClientError
from moto.s3.models import OWNER, FakeBucket
from moto.s3.responses import S3Response

from bbws_infra.core.untyped import Json, JsonObject
from bbws_infra.targets import moto_s3_policy

ENFORCED = "BucketOwnerEnforced"
FULL_CONTROL = "bucket-owner-full-control"
# Canned ACLs that leave a bucket's ACL at owner-only full control (S3 ignores the
# bucket-owner-* ones on buckets).
OWNER_ONLY_BUCKET_ACLS = frozenset({"private", FULL_CONTROL, "bucket-owner-read"})
GRANT_HEADERS = ("x-amz-grant-full-control", "x-amz-grant-read", "x-amz-grant-read-acp",
                 "x-amz-grant-write", "x-amz-grant-write-acp")
ACL_NOT_SUPPORTED = "The bucket does not allow ACLs"
INVALID_BUCKET_ACL = ("Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced "
                      "setting")
INVALID_PRINCIPAL = "Invalid principal in policy"
IA_CLASSES = frozenset({"STANDARD_IA", "ONEZONE_IA"})
IA_MINIMUM_DAYS = 30
_OWNER_GRANTEE = f'id="{OWNER}"'
_secure: ContextVar[bool] = ContextVar("bbws_secure_transport", default=True)

Headers = Mapping[str, str]


class AccessControlListNotSupported(S3ClientError):
    def __init__(self) -> None:
        super().__init__("AccessControlListNotSupported", ACL_NOT_SUPPORTED)


class InvalidBucketAclWithObjectOwnership(S3ClientError):
    def __init__(self) -> None:
        super().__init__("InvalidBucketAclWithObjectOwnership", INVALID_BUCKET_ACL)


class LifecycleInvalidArgument(S3ClientError):
    def __init__(self, message: str) -> None:
        super().__init__("InvalidArgument", message)


class MalformedPolicy(S3ClientError):
    def __init__(self) -> None:
        super().__init__("MalformedPolicy", INVALID_PRINCIPAL)


# --- ACL rules (pure: headers and bodies in, a verdict out) ---------------------------------

def _header(headers: Headers, name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def _grants_owner_full_control_only(headers: Headers) -> bool:
    """x-amz-grant-* headers that give full control to the bucket owner and nothing else."""
    grants = {h: _header(headers, h) for h in GRANT_HEADERS}
    given = {h: v for h, v in grants.items() if v is not None}
    grantees = [g.strip().replace(" ", "") for g in given.get("x-amz-grant-full-control",
                                                                 "").split(",")]
    return set(given) == {"x-amz-grant-full-control"} and set(grantees) == {_OWNER_GRANTEE}


def sets_acl(headers: Headers) -> bool:
    return _header(headers, "x-amz-acl") is not None or any(
        _header(headers, h) is not None for h in GRANT_HEADERS)


def object_acl_refused(headers: Headers) -> bool:
    """PutObject / CopyObject / CreateMultipartUpload under BucketOwnerEnforced: any ACL but
    bucket-owner full control (canned, or as an owner-only full-control grant) is refused."""
    if not sets_acl(headers):
        return False
    canned = _header(headers, "x-amz-acl")
    if canned is not None:
        return canned != FULL_CONTROL or any(_header(headers, h) for h in GRANT_HEADERS)
    return not _grants_owner_full_control_only(headers)


def acl_body_owner_full_control_only(body: bytes) -> bool:
    """An AccessControlPolicy document whose every grant is FULL_CONTROL to the owner."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return False
    grants = [g for g in root.iter() if _local(g.tag) == "Grant"]
    for grant in grants:
        ids = [e.text for e in grant.iter() if _local(e.tag) == "ID"]
        uris = [e for e in grant.iter() if _local(e.tag) in ("URI", "EmailAddress")]
        permission = [e.text for e in grant.iter() if _local(e.tag) == "Permission"]
        if uris or ids != [OWNER] or permission != ["FULL_CONTROL"]:
            return False
    return bool(grants)


def put_acl_refused(headers: Headers, body: bytes) -> bool:
    """PutObjectAcl / PutBucketAcl under BucketOwnerEnforced: only bucket-owner full control
    (the canned ACL, owner-only grant headers, or the equivalent XML) is accepted; `private`
    is refused as AWS does for PutBucketAcl."""
    if sets_acl(headers):
        return object_acl_refused(headers)
    return not acl_body_owner_full_control_only(body)


def create_bucket_acl_refused(headers: Headers, ownership: str) -> bool:
    """CreateBucket: under BucketOwnerEnforced (the default) a bucket ACL that gives anyone but
    the owner access is refused; `private` and the owner-only canned ACLs are accepted."""
    if ownership != ENFORCED or not sets_acl(headers):
        return False
    canned = _header(headers, "x-amz-acl")
    if canned is not None:
        return canned not in OWNER_ONLY_BUCKET_ACLS or any(
            _header(headers, h) for h in GRANT_HEADERS)
    return not _grants_owner_full_control_only(headers)


def requested_ownership(body: bytes) -> str | None:
    """The ObjectOwnership of a PutBucketOwnershipControls body."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return None
    found = [e.text for e in root.iter() if _local(e.tag) == "ObjectOwnership"]
    return found[0] if found else None


def bucket_acl_shared(bucket: FakeBucket) -> bool:
    """Whether the bucket's current ACL grants anyone but the owner."""
    acl = bucket.acl
    return acl is not None and any(g.id != OWNER or g.uri for grant in acl.grants
                                   for g in grant.grantees)


# --- Lifecycle ------------------------------------------------------------------------------

def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _children(element: ET.Element, name: str) -> list[ET.Element]:
    return [c for c in element if _local(c.tag) == name]


def _text(element: ET.Element, name: str) -> str | None:
    found = _children(element, name)
    return found[0].text if found else None


def lifecycle_error(body: bytes) -> str | None:
    """The InvalidArgument message AWS gives for the first refused day count, or None."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return None  # moto reports malformed XML itself
    positive = (("Expiration", "Days"), ("NoncurrentVersionExpiration", "NoncurrentDays"),
                ("AbortIncompleteMultipartUpload", "DaysAfterInitiation"))
    for rule in _children(root, "Rule"):
        for action, field in positive:
            for block in _children(rule, action):
                days = _int(_text(block, field))
                if days is not None and days <= 0:
                    return f"'{field}' for {action} action must be a positive integer"
        for action, field in (("Transition", "Days"),
                              ("NoncurrentVersionTransition", "NoncurrentDays")):
            for block in _children(rule, action):
                days, storage = _int(_text(block, field)), _text(block, "StorageClass")
                if days is not None and days < 0:
                    return f"'{field}' in {action} action must be nonnegative"
                if days is not None and storage in IA_CLASSES and days < IA_MINIMUM_DAYS:
                    return (f"'{field}' in {action} action must be greater than or equal to "
                            f"{IA_MINIMUM_DAYS} for storageClass '{storage}'")
    return None


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


# --- Bucket policy --------------------------------------------------------------------------

def _account_known(account: str) -> bool:
    """An account the sandbox holds: one whose IAM has a user or role (every environment's
    account gets its operator user)."""
    if account not in list(iam_backends):
        return False
    backend = iam_backends[account]["aws"]
    return bool(backend.users or backend.roles)


def _principal_exists(account: str, kind: str, name: str) -> bool:
    backend = iam_backends[account]["aws"]
    if kind == "user":
        return name in backend.users
    return any(role.name == name for role in backend.roles.values())


def policy_refused(body: bytes, own_account: str) -> bool:
    try:
        policy: Json = json.loads(body)
    except ValueError:
        return False  # moto answers malformed JSON itself
    if not isinstance(policy, dict):
        return False
    return bool(moto_s3_policy.invalid_principals(
        policy, lambda a: a == own_account or _account_known(a), _principal_exists))


def _verdict(bucket: FakeBucket, action: str, resource: str) -> str | None:
    """Allow, Deny or neither for this request under the bucket's policy."""
    try:
        policy: Json = json.loads(bucket.policy) if bucket.policy is not None else None
    except ValueError:
        return None
    if not isinstance(policy, dict):
        return None
    ctx = moto_s3_policy.context(_secure.get())
    return moto_s3_policy.decision(policy, action, resource, ctx)


def denied(bucket: FakeBucket, action: str, resource: str) -> bool:
    return _verdict(bucket, action, resource) == moto_s3_policy.DENY


def _get_permission(self: FakeBucket, action: str, resource: str) -> object:
    """moto's own object-request check, with the policy read as AWS reads it."""
    from moto.iam.access_control import PermissionResult
    return {moto_s3_policy.DENY: PermissionResult.DENIED,
            moto_s3_policy.ALLOW: PermissionResult.PERMITTED}.get(
        _verdict(self, action, resource) or "", PermissionResult.NEUTRAL)


# --- Wiring ---------------------------------------------------------------------------------

def _bucket(response: S3Response, name: str) -> FakeBucket | None:
    buckets: dict[str, FakeBucket] = response.backend.buckets
    return buckets.get(name)


def _secure_request(headers: Headers) -> bool:
    return (_header(headers, moto_s3_policy.INSECURE_HEADER) or "").lower() != "true"


def ownership(bucket: FakeBucket) -> str | None:
    """The bucket's ObjectOwnership (moto keeps the header's or the body's string)."""
    rule: object = bucket.ownership_rule
    return rule if isinstance(rule, str) else None


def _check_bucket_request(response: S3Response, method: str, name: str,
                          query: JsonObject) -> None:
    headers, body = response.headers, response.body or b""
    bucket = _bucket(response, name)
    if method == "PUT" and not query and bucket is None:
        requested = _header(headers, "x-amz-object-ownership") or ENFORCED
        if create_bucket_acl_refused(headers, requested):
            raise InvalidBucketAclWithObjectOwnership()
    if bucket is None:
        return
    if not (method == "POST" and "delete" in query):  # DeleteObjects: moto checks each key
        response._set_action("BUCKET", method, query)
        if denied(bucket, f"s3:{response.data['Action']}", bucket.arn):
            raise S3AccessDeniedError()
    if method != "PUT":
        return
    if "acl" in query and ownership(bucket) == ENFORCED and put_acl_refused(headers, body):
        raise AccessControlListNotSupported()
    if ("ownershipControls" in query and requested_ownership(body) == ENFORCED
            and bucket_acl_shared(bucket)):
        raise InvalidBucketAclWithObjectOwnership()
    if "lifecycle" in query:
        message = lifecycle_error(body)
        if message:
            raise LifecycleInvalidArgument(message)
    if "policy" in query and policy_refused(body, response.current_account):
        raise MalformedPolicy()


def _check_key_request(response: S3Response, method: str, name: str, key: str,
                       query: JsonObject) -> None:
    bucket = _bucket(response, name)
    if bucket is None:
        return
    response._set_action("KEY", method, query)
    if denied(bucket, f"s3:{response.data['Action']}", f"{bucket.arn}/{key}"):
        raise S3AccessDeniedError()
    if ownership(bucket) != ENFORCED:
        return
    headers = response.headers
    if method == "PUT" and "acl" in query:
        refused = put_acl_refused(headers, response.body or b"")
    else:  # PutObject, CopyObject (not UploadPart) and CreateMultipartUpload
        refused = ((method == "PUT" and "uploadId" not in query)
                   or (method == "POST" and "uploads" in query)) and object_acl_refused(headers)
    if refused:
        raise AccessControlListNotSupported()


Handler = Callable[[S3Response, object, str], object]


def _wrap_bucket(original: Handler) -> Handler:
    def handler(self: S3Response, request: object, full_url: str) -> object:
        name = self.parse_bucket_name_from_url(request, full_url)
        method = str(getattr(request, "method", ""))
        query = self._get_querystring(request, full_url)
        creates = bool(name) and method == "PUT" and not query and _bucket(self, name) is None
        token = _secure.set(_secure_request(self.headers))
        try:
            if name:
                self.data["BucketName"] = name
                _check_bucket_request(self, method, name, query)
            result = original(self, request, full_url)
        finally:
            _secure.reset(token)
        created = _bucket(self, name) if creates else None
        if created is not None and _header(self.headers, "x-amz-object-ownership") is None:
            # AWS's default since April 2023; moto has none.
            created.ownership_rule = ENFORCED  # type: ignore[assignment]  # moto: a dict
        return result
    return handler


def _wrap_key(original: Handler) -> Handler:
    def handler(self: S3Response, request: object, full_url: str) -> object:
        from urllib.parse import parse_qs, urlparse
        name = self.parse_bucket_name_from_url(request, full_url)
        query = parse_qs(urlparse(full_url).query, keep_blank_values=True)
        token = _secure.set(_secure_request(self.headers))
        try:
            self.data["BucketName"] = name
            _check_key_request(self, str(getattr(request, "method", "")), name,
                               self.parse_key_name(), query)
            return original(self, request, full_url)
        finally:
            _secure.reset(token)
    return handler


_ORIGINALS: dict[tuple[type, str], object] = {}


def apply() -> None:
    """Wrap moto's S3 request handlers (idempotent; affects this process only)."""
    if _ORIGINALS:
        return
    replacements: dict[tuple[type, str], Callable[[object], object]] = {
        (S3Response, "_bucket_response"): _wrap_bucket,  # type: ignore[dict-item]
        (S3Response, "_key_response"): _wrap_key,  # type: ignore[dict-item]
        (FakeBucket, "get_permission"): lambda _: _get_permission,
    }
    for (cls, name), wrap in replacements.items():
        _ORIGINALS[(cls, name)] = original = getattr(cls, name)
        setattr(cls, name, wrap(original))


def is_applied() -> bool:
    """Whether moto in this process answers with the S3 rules now."""
    return bool(_ORIGINALS)


def restore() -> None:
    """Undo apply() (tests that want moto as it is in the same process)."""
    for (cls, name), original in _ORIGINALS.items():
        setattr(cls, name, original)
    _ORIGINALS.clear()
