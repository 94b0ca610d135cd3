"""The on-demand backups of an env's tables (`invoke backups`): the pre-deploy backups prod
takes before every change to a table among them, and the one way such a backup is taken and
waited for (the deploy path and data migrations both call backup_and_wait)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from bbws_infra.core.errors import UserError
from bbws_infra.core.paths import REPO_ROOT
from bbws_infra.core.registry import Component, Environment, resolve_components
from bbws_infra.core.untyped import Client, Session
from bbws_infra.inputs import schemas


@dataclass(frozen=True)
class Backup:
    component: str
    table: str
    name: str
    created: str  # ISO 8601, to the second
    status: str
    bytes: int
    arn: str


def table_names(components: list[Component]) -> dict[str, str]:
    """The DynamoDB table name of each table component (from its schema file); refused when
    none of the components is a table."""
    names = {c.name: schemas.load_table_definition(path).table_name
             for c in components if c.kind == "dynamodb"
             for path in schemas.schema_files() if path.parent == REPO_ROOT / c.root}
    if not names:
        raise UserError("Only table components have backups; choose one of: "
                        + ", ".join(c.name for c in resolve_components(None)
                                    if c.kind == "dynamodb") + ".")
    return names


def list_backups(session: Session, env: Environment, tables: dict[str, str]) -> list[Backup]:
    """Every on-demand (USER) backup of the tables (component name: table name, as
    table_names gives them), newest first, every page."""
    dynamodb = session.client("dynamodb", region_name=env.region)
    found: list[Backup] = []
    for name, table in tables.items():
        pages = dynamodb.get_paginator("list_backups").paginate(TableName=table,
                                                                BackupType="USER")
        found += [Backup(component=name, table=table, name=b["BackupName"],
                         created=b["BackupCreationDateTime"].isoformat(timespec="seconds"),
                         status=b["BackupStatus"], bytes=b.get("BackupSizeBytes", 0),
                         arn=b["BackupArn"])
                  for page in pages for b in page["BackupSummaries"]]
    found.sort(key=lambda b: b.created, reverse=True)
    return found


# How long a backup may take to become AVAILABLE (DynamoDB's are usually seconds: they are
# snapshots of the table's storage, whatever its size).
BACKUP_WAIT_S = 600.0
# Tests: a backup of the table this names fails, as a refused CreateBackup would.
FAULT_ENV = "BBWS_FAULT_BACKUP"


def backup_and_wait(session: Session, env: Environment, table: str, name: str) -> str:
    """An on-demand backup of the table named `name`, waited for until it is AVAILABLE; its
    ARN. Raises (the API's error, or RuntimeError) when it cannot be taken or never becomes
    available: the caller changes nothing then."""
    if os.environ.get(FAULT_ENV) == table:
        raise RuntimeError(f"injected failure ({FAULT_ENV})")
    dynamodb = session.client("dynamodb", region_name=env.region)
    made = dynamodb.create_backup(TableName=table, BackupName=name)
    arn: str = made["BackupDetails"]["BackupArn"]
    _wait_available(dynamodb, arn)
    return arn


def _wait_available(dynamodb: Client, arn: str) -> None:
    deadline = time.monotonic() + BACKUP_WAIT_S
    while True:
        status = dynamodb.describe_backup(BackupArn=arn)["BackupDescription"][
            "BackupDetails"]["BackupStatus"]
        if status == "AVAILABLE":
            return
        if status == "DELETED" or time.monotonic() > deadline:
            raise RuntimeError(f"backup {arn} is {status}")
        time.sleep(2)
