"""The shape of a verification check and the helpers every resource kind shares (the
DynamoDB and S3 checks in verify_tables and verify_buckets; verify runs them)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from botocore.exceptions import ClientError

from bbws_infra.core.registry import Component, Environment
from bbws_infra.core.untyped import Client, ClientCall, Json, JsonObject

MISSING = "missing"  # the resource itself does not exist
NONE = "none"  # the resource exists without this setting
ABSENT = "absent"  # expected of anything the repository does not declare

# Error codes that mean "there is no such thing": each turns into a failed check.
_NOT_FOUND = frozenset({
    "404", "NotFound", "NoSuchBucket", "NoSuchKey", "NoSuchBucketPolicy", "NoSuchTagSet",
    "NoSuchLifecycleConfiguration", "NoSuchPublicAccessBlockConfiguration",
    "ServerSideEncryptionConfigurationNotFoundError", "ReplicationConfigurationNotFoundError",
    "ResourceNotFoundException", "TableNotFoundException", "OwnershipControlsNotFoundError",
})

# Mandatory tag keys (modules/mandatory_tags; tables add BackupPolicy in dynamodb/table_main.tf).
MANDATORY_TAGS = ("Environment", "Project", "Owner", "CostCenter", "ManagedBy", "Component")

# Fixed settings of the modules (not per environment).
BACKUP_RULE = "scheduled-backup"  # modules/backup/main.tf
DYNAMODB_KMS_ALIAS = "alias/aws/dynamodb"  # no kms_key_arn: the AWS-managed key
STREAM_VIEW = "NEW_AND_OLD_IMAGES"  # modules/dynamodb_table/main.tf
SSE_ALGORITHM = "AES256"  # modules/s3_bucket/main.tf
LOG_DELIVERY_PRINCIPAL = "logging.s3.amazonaws.com"  # s3/templates/main.tf
TEMPLATE_DIR = "templates"  # s3/<component>/templates, uploaded by s3/templates/main.tf


@dataclass(frozen=True)
class Check:
    component: str  # component name, e.g. "tenants"
    name: str  # short stable name, e.g. "table tenants: point-in-time recovery"
    expected: str  # human-readable expected value
    found: str  # human-readable found value ("missing" when absent)
    ok: bool



class CheckList(list[Check]):
    """Checks of one component; found values are rendered like the expected ones and compared."""

    def __init__(self, component: str) -> None:
        super().__init__()
        self.component = component

    def add(self, name: str, expected: object, found: object) -> None:
        self.append(Check(self.component, name, str(expected), str(found),
                          str(expected) == str(found)))


def get_or_none(call: ClientCall, **kwargs: object) -> JsonObject | None:
    """The response, or None when AWS says the thing does not exist."""
    try:
        return call(**kwargs)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in _NOT_FOUND:
            return None
        raise


def pages(client: Client, operation: str, key: str, **kwargs: object) -> list[JsonObject]:
    return [item for page in client.get_paginator(operation).paginate(**kwargs)
            for item in page.get(key, [])]


def tag_map(tags: Iterable[dict[str, str]]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tags}


def expected_tags(env: Environment, component: Component) -> dict[str, str]:
    """The tags the root merges over the tfvars tags (dynamodb/table_main.tf,
    s3/templates/main.tf); the Component tag is the component's folder."""
    tags = {str(k): str(v) for k, v in env.values.get("tags", {}).items()}
    tags.update(Environment=env.name, Component=component.kind)
    if component.kind == "dynamodb":
        tags["BackupPolicy"] = str(env.values["backup_policy"])
    return tags


def tag_checks(checks: CheckList, what: str, expected: dict[str, str],
                found: dict[str, str] | None) -> None:
    """One check per tag key (extra tags AWS or the organisation adds are allowed)."""
    keys = dict.fromkeys([*MANDATORY_TAGS, *sorted(expected)])
    for key in keys:
        value = MISSING if found is None else found.get(key, MISSING)
        checks.add(f"{what}: tag {key}", expected.get(key, "any value"),
                   value if key in expected or value == MISSING else "any value")


def days_text(days: object) -> str:
    return NONE if days is None else f"{days} day" + ("" if days == 1 else "s")




def planned_resources(plan_json: JsonObject, kind: str) -> Iterator[JsonObject]:
    """Every managed resource of one type the plan leaves in place, child modules included:
    what the source defines, with every default Terraform applied."""

    def walk(module: JsonObject) -> Iterator[JsonObject]:
        for resource in module.get("resources", []):
            if resource.get("type") == kind and resource.get("mode") == "managed":
                yield resource
        for child in module.get("child_modules", []):
            yield from walk(child)

    yield from walk((plan_json.get("planned_values") or {}).get("root_module") or {})


def normal_document(value: Json) -> Json:
    """A policy (or other JSON) document in a form two equivalent ones share: keys and lists
    sorted, a list of one the same as its element (IAM treats "Action": "x" and ["x"] alike)."""
    if isinstance(value, dict):
        return {k: normal_document(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        items = sorted((normal_document(v) for v in value),
                       key=lambda v: json.dumps(v, sort_keys=True))
        return items[0] if len(items) == 1 else items
    return value
