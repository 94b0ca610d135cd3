"""The S3 object versions of a component's state: what a rollback chooses from.

The state bucket is versioned, so every write Terraform makes is kept. Each version is read for
its serial and lineage, and matched with the ledger record that left it (the record's
state_after), which names the commit that produced it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from bbws_infra.core.errors import UserError
from bbws_infra.core.registry import COMPONENTS, Component, Environment
from bbws_infra.core.untyped import JsonObject, Session
from bbws_infra.state import ledger


@dataclass
class StateVersion:
    version_id: str
    last_modified: str  # ISO 8601, UTC
    size: int
    current: bool
    serial: int | None = None  # None: the version is not a readable state document
    lineage: str = ""
    commit: str = ""  # from the ledger record that left this version, if any
    action: str = ""
    recorded_at: str = ""

    @property
    def readable(self) -> bool:
        return self.serial is not None


def current_object(session: Session, env: Environment, component: Component
                   ) -> tuple[bytes, str | None, str | None] | None:
    """The current state object: (bytes, version id, last modified), None when there is
    none. Read directly: no Terraform, no lock."""
    from botocore.exceptions import ClientError

    s3 = session.client("s3", region_name=env.region)
    try:
        response = s3.get_object(Bucket=env.state_bucket, Key=component.state_key)
    except ClientError as error:
        if error.response["Error"]["Code"] in ("NoSuchKey", "404"):
            return None
        raise
    modified = response.get("LastModified")
    return (response["Body"].read(), response.get("VersionId"),
            modified.isoformat(timespec="seconds") if modified else None)


def holds_resources(session: Session, env: Environment, component: Component) -> bool:
    """Whether the component's current state holds any resource (never applied: no)."""
    current = current_object(session, env, component)
    return current is not None and bool(json.loads(current[0] or b"{}").get("resources"))


def document(session: Session, env: Environment, component: Component, version_id: str
             ) -> tuple[bytes, JsonObject | None]:
    """One version's bytes and its parsed document (None when it is not JSON)."""
    body = session.client("s3", region_name=env.region).get_object(
        Bucket=env.state_bucket, Key=component.state_key, VersionId=version_id)["Body"].read()
    try:
        parsed = json.loads(body)
    except ValueError:
        return body, None
    return body, parsed if isinstance(parsed, dict) else None


def _listed(session: Session, env: Environment, key: str) -> list[JsonObject]:
    s3 = session.client("s3", region_name=env.region)
    found = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=env.state_bucket,
                                                                   Prefix=key):
        found += [v for v in page.get("Versions", []) if v["Key"] == key]
    return sorted(found, key=lambda v: v["LastModified"], reverse=True)


def versions(session: Session, env: Environment, component: Component,
             limit: int | None = None) -> list[StateVersion]:
    """The state key's versions, newest first, each with its serial, lineage and the commit and
    action of the one ledger record that wrote it (none when no record, or more than one,
    claims it: a copied record must not decide what a rollback plans)."""
    claims: dict[str, list[ledger.Record]] = {}
    for record in ledger.read(session, env, component.name):
        if ledger.wrote(record):
            claims.setdefault(str(record.state_after.version_id), []).append(record)
    by_version = {version: found[0] for version, found in claims.items() if len(found) == 1}
    result = []
    for item in _listed(session, env, component.state_key)[:limit]:
        _, parsed = document(session, env, component, item["VersionId"])
        claimed = by_version.get(item["VersionId"])
        result.append(StateVersion(
            version_id=item["VersionId"],
            last_modified=item["LastModified"].isoformat(timespec="seconds"),
            size=int(item.get("Size", 0)), current=bool(item.get("IsLatest")),
            serial=int(parsed.get("serial", 0)) if parsed is not None else None,
            lineage=str(parsed.get("lineage", "")) if parsed is not None else "",
            commit=claimed.commit if claimed else "", action=claimed.action if claimed else "",
            recorded_at=claimed.finished_at if claimed else ""))
    return result


def find(session: Session, env: Environment, component: Component, version_id: str,
         known: list[StateVersion]) -> StateVersion:
    """Version `version_id` among this component's `known` versions, or a UserError that says
    where it belongs instead (another component's state) or that it does not exist."""
    for version in known:
        if version.version_id == version_id:
            return version
    for other in COMPONENTS.values():
        if other != component and any(v["VersionId"] == version_id
                                      for v in _listed(session, env, other.state_key)):
            raise UserError(f"Version {version_id} belongs to the state of {other.name}, not "
                            f"{component.name}, in {env.name}; nothing was changed; list "
                            f"the versions of {component.name}: invoke state-versions --env "
                            f"{env.name} --component {component.name}")
    raise UserError(f"The state of {component.name} in {env.name} has no version "
                    f"{version_id}; nothing was changed; list them: invoke state-versions "
                    f"--env {env.name} --component {component.name}")


def addresses(state: JsonObject) -> list[str]:
    """Every resource instance address a state document holds."""
    found = []
    for resource in state.get("resources", []):
        if resource.get("mode") == "data":
            continue
        prefix = f"{resource['module']}." if resource.get("module") else ""
        base = f"{prefix}{resource['type']}.{resource['name']}"
        for instance in resource.get("instances", []):
            key = instance.get("index_key")
            if key is None:
                found.append(base)
            elif isinstance(key, int):
                found.append(f"{base}[{key}]")
            else:
                found.append(f"{base}[{json.dumps(key)}]")
    return sorted(found)
