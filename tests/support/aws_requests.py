"""What IAM would authorise for each request the sandbox recorded: moto's recorder keeps every
HTTP request it served (method, URL, headers, body); this turns each into the IAM action,
resource ARN and condition keys AWS evaluates for it, so a recorded run can be checked against
a role's policy (tests/support/iam_evaluation.py).

The operation is found the way the SDKs address it: the X-Amz-Target header (JSON protocols),
the Action parameter (query protocols), the /service/<s>/operation/<op> path (Smithy RPC v2
CBOR, which boto3 may use for CloudWatch), or botocore's HTTP binding of each operation (method,
path template, required query keys) for the REST protocols (S3, AWS Backup). An operation
whose IAM action is not its own name is mapped below; anything unknown raises.
"""

from __future__ import annotations

import base64
import functools
import html
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import botocore.session
from moto.core import cbor

from bbws_infra.core.registry import Environment
from tests.support import aws_monitoring_requests as monitoring
from tests.support.aws_monitoring_requests import KmsKeys, Place
from tests.support.iam_evaluation import ContextValue, Request

# The monitoring component's services (tests/support/aws_monitoring_requests.py), by the name
# requests to them are signed with; CloudWatch signs as "monitoring", its IAM prefix is
# "cloudwatch".
_MONITORING_SERVICES = frozenset({"sns", "monitoring", "events", "budgets", "kms"})
_IAM_PREFIXES = {"monitoring": "cloudwatch"}

# S3 operations whose action is named differently (AWS's "Actions, resources, and condition
# keys for Amazon S3"); Delete* of a bucket setting is authorised as its Put*.
_S3_ACTIONS = {
    "ListBuckets": "ListAllMyBuckets", "HeadBucket": "ListBucket",
    "ListObjects": "ListBucket", "ListObjectsV2": "ListBucket",
    "ListObjectVersions": "ListBucketVersions", "HeadObject": "GetObject",
    "CopyObject": "PutObject", "DeleteObjects": "DeleteObject",
    "GetBucketEncryption": "GetEncryptionConfiguration",
    "PutBucketEncryption": "PutEncryptionConfiguration",
    "DeleteBucketEncryption": "PutEncryptionConfiguration",
    "GetBucketLifecycle": "GetLifecycleConfiguration",
    "GetBucketLifecycleConfiguration": "GetLifecycleConfiguration",
    "PutBucketLifecycleConfiguration": "PutLifecycleConfiguration",
    "DeleteBucketLifecycle": "PutLifecycleConfiguration",
    "GetBucketReplication": "GetReplicationConfiguration",
    "PutBucketReplication": "PutReplicationConfiguration",
    "DeleteBucketReplication": "PutReplicationConfiguration",
    "GetPublicAccessBlock": "GetBucketPublicAccessBlock",
    "PutPublicAccessBlock": "PutBucketPublicAccessBlock",
    "DeletePublicAccessBlock": "PutBucketPublicAccessBlock",
    "GetBucketCors": "GetBucketCORS", "PutBucketCors": "PutBucketCORS",
    "DeleteBucketCors": "PutBucketCORS",
    "GetBucketAccelerateConfiguration": "GetAccelerateConfiguration",
    "PutBucketAccelerateConfiguration": "PutAccelerateConfiguration",
    "GetObjectLockConfiguration": "GetBucketObjectLockConfiguration",
    "PutObjectLockConfiguration": "PutBucketObjectLockConfiguration",
    "DeleteBucketTagging": "PutBucketTagging",
    "DeleteBucketOwnershipControls": "PutBucketOwnershipControls",
    "GetBucketNotificationConfiguration": "GetBucketNotification",
    "PutBucketNotificationConfiguration": "PutBucketNotification",
}
# Object operations that name a version (?versionId=) are authorised as their *Version action.
_S3_VERSIONED = {"GetObject": "GetObjectVersion", "DeleteObject": "DeleteObjectVersion",
                 "GetObjectTagging": "GetObjectVersionTagging",
                 "PutObjectTagging": "PutObjectVersionTagging",
                 "GetObjectAcl": "GetObjectVersionAcl"}


@dataclass(frozen=True)
class Call:
    """One recorded request as IAM sees it."""

    env: str  # the environment whose account the request was signed for
    service: str
    operation: str
    request: Request
    # the resource's own policy IAM evaluates the request against too (a KMS key's policy)
    resource_policy: Mapping[str, Any] | None = None

    def __str__(self) -> str:
        context = f" {dict(self.request.context)}" if self.request.context else ""
        return f"{self.request.action} on {self.request.resource}{context} ({self.operation})"


def load_recording(text: str) -> list[dict[str, Any]]:
    # One JSON object per request; concurrent requests can leave two on one line (moto's
    # recorder appends each object and its newline separately), so read them as a stream.
    decoder, entries, at = json.JSONDecoder(), [], 0
    while (at := _skip_space(text, at)) < len(text):
        entry, at = decoder.raw_decode(text, at)
        entries.append(entry)
    return [e for e in entries if not urlsplit(e["url"]).path.startswith("/moto-api/")]


def _skip_space(text: str, at: int) -> int:
    while at < len(text) and text[at].isspace():
        at += 1
    return at


def calls(entries: list[dict[str, Any]], envs: dict[str, Environment],
          kms_keys: KmsKeys | None = None) -> list[Call]:
    """Each entry as IAM sees it, with the authorisations it implies (implied() below, and
    tests/support/aws_monitoring_requests.py): `envs` maps the sandbox's access keys to
    environments; `kms_keys` keeps what earlier recordings said about KMS keys (aliases,
    key policies)."""
    kms_keys = kms_keys if kms_keys is not None else KmsKeys()
    found = []
    for entry in entries:
        monitoring = _monitoring_calls(entry, envs, kms_keys)
        if monitoring is not None:
            found += monitoring
            continue
        made = call(entry, envs)
        found += [*_per_key(made, entry), *implied(made, entry)]
    return found


def _signed(entry: dict[str, Any], envs: dict[str, Environment]
            ) -> tuple[Environment, str, str, dict[str, str]]:
    """(environment, region, signing name, lower-case headers) of a signed request."""
    headers = {k.lower(): v for k, v in entry["headers"].items()}
    scope = re.search(r"Credential=([^/]+)/\d+/([^/]+)/([^/]+)/aws4_request",
                      headers.get("authorization", ""))
    if scope is None:
        raise ValueError(f"unsigned request: {entry['method']} {entry['url']}")
    return envs[scope.group(1)], scope.group(2), scope.group(3).lower(), headers


def _monitoring_calls(entry: dict[str, Any], envs: dict[str, Environment], kms_keys: KmsKeys
                      ) -> list[Call] | None:
    """A request to SNS, CloudWatch (signed as "monitoring"), EventBridge, Budgets or KMS, read
    in whichever protocol it was sent; None for any other service."""
    env, region, service, headers = _signed(entry, envs)
    if service not in _MONITORING_SERVICES:
        return None
    body = _body(entry)
    url = urlsplit(entry["url"])
    target = headers.get("x-amz-target")
    params: dict[str, Any]
    if target:  # JSON (awsJson 1.0 / 1.1): X-Amz-Target is <prefix>.<operation>
        operation = target.rsplit(".", 1)[1]
        params = json.loads(body or "{}")
    elif url.path.startswith("/service/"):  # Smithy RPC v2 CBOR: /service/<s>/operation/<op>
        operation = url.path.rstrip("/").rsplit("/", 1)[1]
        raw = body if isinstance(body, bytes) else body.encode()
        params = cbor.loads(raw) if raw else {}
    else:  # the query protocol: a form, in the body or the query string
        text = body.decode() if isinstance(body, bytes) else body
        params = {k: v[0] for k, v in parse_qs(text, keep_blank_values=True).items()}
        params.update({k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()})
        operation = params["Action"]
    place = Place(env.account_id, region)
    if service == "sns":
        found = monitoring.sns(place, operation, params)
    elif service == "monitoring":
        found = monitoring.cloudwatch(place, operation, params)
    elif service == "events":
        found = monitoring.events(place, operation, params)
    elif service == "budgets":
        found = monitoring.budgets(operation, params)
    else:
        found = monitoring.kms(place, operation, params, kms_keys)
    iam_service = _IAM_PREFIXES.get(service, service)
    return [Call(env.name, iam_service, name, request, policy)
            for name, request, policy in found]


def implied(made: Call, entry: dict[str, Any]) -> list[Call]:
    """What IAM also authorises for a request, beyond its own action: handing a role to a
    service (iam:PassRole), tags given at creation (iam:TagRole), and mounting a new vault's
    storage (backup-storage:MountCapsule, which CreateBackupVault needs)."""
    body = _body(entry)
    text = body.decode(errors="replace") if isinstance(body, bytes) else body
    found: list[tuple[str, str, dict[str, ContextValue]]] = []
    if made.operation == "CreateBackupSelection":
        role = json.loads(text)["BackupSelection"]["IamRoleArn"]
        found.append(("iam:PassRole", role, {"iam:PassedToService": "backup.amazonaws.com"}))
    elif made.operation == "PutBucketReplication":
        role = re.search(r"<Role>([^<]+)</Role>", text)
        if role is None:
            raise ValueError(f"a replication configuration without a role: {text[:200]}")
        found.append(("iam:PassRole", role.group(1),
                      {"iam:PassedToService": "s3.amazonaws.com"}))
    elif made.operation == "CreateBackupVault":
        found.append(("backup-storage:MountCapsule", "*", {}))
    elif made.operation == "CreateRole" and "Tags.member." in text:
        # IAM authorises a role created with tags as iam:TagRole too
        found.append(("iam:TagRole", made.request.resource, {}))
    return [Call(made.env, made.service, f"{made.operation} (implies {action})",
                 Request(action, resource, context)) for action, resource, context in found]


def _per_key(made: Call, entry: dict[str, Any]) -> list[Call]:
    """DeleteObjects deletes each key of its body, each authorised as s3:DeleteObject (or
    DeleteObjectVersion, for a key with a version)."""
    if made.operation != "DeleteObjects":
        return [made]
    body = _body(entry)
    text = body.decode(errors="replace") if isinstance(body, bytes) else body
    bucket = made.request.resource.removesuffix("/*")
    found = []
    for item in re.findall(r"<Object>(.*?)</Object>", text, re.DOTALL):
        key = re.search(r"<Key>([^<]*)</Key>", item)
        if key is None:
            continue
        action = "s3:DeleteObjectVersion" if "<VersionId>" in item else "s3:DeleteObject"
        found.append(Call(made.env, "s3", made.operation,
                          Request(action, f"{bucket}/{html.unescape(key.group(1))}")))
    return found


def call(entry: dict[str, Any], envs: dict[str, Environment]) -> Call:
    env, region, service, headers = _signed(entry, envs)
    body = _body(entry)
    url = urlsplit(entry["url"])
    query = parse_qs(url.query, keep_blank_values=True)
    where = _Where(env, region)
    if service == "dynamodb":
        operation = headers["x-amz-target"].rsplit(".", 1)[1]
        return where.json_call(service, operation, json.loads(body or "{}"))
    if service in ("iam", "sts"):
        form = {k: v[0] for k, v in parse_qs(body.decode() if isinstance(body, bytes) else body,
                                             keep_blank_values=True).items()}
        form.update({k: v[0] for k, v in query.items()})
        return where.query_call(service, form["Action"], form)
    operation, params = _rest_operation(service, entry["method"], url.path, query, headers)
    if service == "s3":
        return where.s3_call(operation, params, query, headers)
    if service == "backup":
        return where.backup_call(operation, params)
    if service == "account":  # GetRegionOptStatus and the like: on the account itself
        return Call(env.name, service, operation, Request(
            f"account:{operation}", f"arn:aws:account::{env.account_id}:account"))
    raise ValueError(f"service not mapped here: {service} ({entry['method']} {entry['url']})")


def _body(entry: dict[str, Any]) -> bytes | str:
    body = entry.get("body") or ""
    return base64.b64decode(body) if entry.get("body_encoded") else body


# --- REST operations through botocore's HTTP bindings -------------------------------------


@dataclass(frozen=True)
class _Binding:
    operation: str
    method: str
    path: re.Pattern[str]
    query: dict[str, str | None]  # required query keys (and value, where fixed)
    headers: frozenset[str]  # required headers, lower case

    def params(self, method: str, path: str, query: dict[str, list[str]],
               headers: dict[str, str]) -> dict[str, str] | None:
        """The path parameters when the request is this operation's, else None."""
        match = self.path.fullmatch(path) if method == self.method else None
        if match is None or not self.headers <= set(headers):
            return None
        if not all(k in query and (v is None or v in query[k]) for k, v in self.query.items()):
            return None
        return {k.lower(): unquote(v) for k, v in match.groupdict().items()}


@functools.cache
def _bindings(service: str) -> list[_Binding]:
    model = botocore.session.get_session().get_service_model(service)
    found = []
    for name in model.operation_names:
        operation = model.operation_model(name)
        if operation.deprecated:  # e.g. PutBucketLifecycle: same request as its successor
            continue
        path, _, fixed = operation.http["requestUri"].partition("?")
        pattern = re.sub(r"\\\{(\w+)\\\+\\\}", r"(?P<\1>.+)", re.escape(path))
        pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", pattern)
        query: dict[str, str | None] = {k: (v or None) for k, _, v in
                                        (part.partition("=") for part in fixed.split("&") if part)
                                        if k != "x-id"}
        headers = set()
        shape = operation.input_shape
        for member in (shape.required_members if shape else []):
            where = shape.members[member].serialization
            if where.get("location") == "querystring":
                query.setdefault(where["name"], None)
            elif where.get("location") == "header":
                headers.add(where["name"].lower())
        found.append(_Binding(name, operation.http["method"],
                              re.compile(pattern.rstrip("/") + "/?"), query, frozenset(headers)))
    return found


def _rest_operation(service: str, method: str, path: str, query: dict[str, list[str]],
                    headers: dict[str, str]) -> tuple[str, dict[str, str]]:
    """The operation whose binding matches, the most specific (most required query keys and
    headers) first: GET /bucket/key?uploadId=... is ListParts, without it GetObject."""
    candidates = []
    for binding in _bindings(service):
        params = binding.params(method, path, query, headers)
        if params is not None:
            weight = len(binding.query) + len(binding.headers)
            candidates.append((weight, binding.operation, params))
    if not candidates:
        raise ValueError(f"no {service} operation for {method} {path}?{query}")
    best = max(c[0] for c in candidates)
    chosen = [c for c in candidates if c[0] == best]
    if len(chosen) != 1:
        raise ValueError(f"ambiguous {service} request {method} {path}: "
                         f"{[c[1] for c in chosen]}")
    return chosen[0][1], chosen[0][2]


# --- resources ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Where:
    env: Environment
    region: str

    def _call(self, service: str, operation: str, request: Request) -> Call:
        return Call(self.env.name, service, operation, request)

    def _arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.region}:{self.env.account_id}:{resource}"

    def json_call(self, service: str, operation: str, body: dict[str, Any]) -> Call:
        resource, context = "*", {}
        if service == "dynamodb":
            if "TableName" in body:
                resource = self._arn("dynamodb", f"table/{body['TableName']}")
                if "IndexName" in body:  # a Query of an index authorises on the index
                    resource += f"/index/{body['IndexName']}"
            resource = body.get("BackupArn") or body.get("ResourceArn") or resource
            item = body.get("Key") or body.get("Item")
            # the partition key: the lock table's LockID, every data table's PK
            partition = next((item[k] for k in ("LockID", "PK") if item and k in item), None)
            if partition is not None:
                context = {"dynamodb:LeadingKeys": [partition["S"]]}
            if operation == "ListBackups":
                resource = "*"
        return self._call(service, operation, Request(f"{service}:{operation}", resource, context))

    def query_call(self, service: str, operation: str, form: dict[str, str]) -> Call:
        resource, context = "*", {}
        if service == "iam":
            if "RoleName" in form:
                resource = f"arn:aws:iam::{self.env.account_id}:role/{form['RoleName']}"
            elif "PolicyArn" in form:
                resource = form["PolicyArn"]
            if "PolicyArn" in form and "RoleName" in form:
                context = {"iam:PolicyARN": form["PolicyArn"]}
        return self._call(service, operation, Request(f"{service}:{operation}", resource, context))

    def s3_call(self, operation: str, params: dict[str, str], query: dict[str, list[str]],
                headers: dict[str, str]) -> Call:
        action = _S3_ACTIONS.get(operation, operation)
        if "versionId" in query:
            action = _S3_VERSIONED.get(action, action)
        if "bucket" not in params:  # ListBuckets: the account's, no bucket
            return self._call("s3", operation, Request(f"s3:{action}", "*"))
        resource = f"arn:aws:s3:::{params['bucket']}"
        if "key" in params:
            resource += f"/{params['key']}"
        elif operation == "DeleteObjects":
            resource += "/*"
        context: dict[str, str] = {}
        if "prefix" in query:
            context["s3:prefix"] = query["prefix"][0]
        if "if-none-match" in headers:
            context["s3:if-none-match"] = headers["if-none-match"]
        return self._call("s3", operation, Request(f"s3:{action}", resource, context))

    def backup_call(self, operation: str, params: dict[str, str]) -> Call:
        if "resourcearn" in params:
            resource = params["resourcearn"]
        elif "backupvaultname" in params:
            resource = self._arn("backup", f"backup-vault:{params['backupvaultname']}")
        elif "backupplanid" in params:
            resource = self._arn("backup", f"backup-plan:{params['backupplanid']}")
        elif operation == "CreateBackupPlan":  # authorised on the plan ARN it is to get
            resource = self._arn("backup", "backup-plan:to-be-assigned")
        else:
            resource = "*"
        return self._call("backup", operation, Request(f"backup:{operation}", resource))
