"""Pre-deploy backups: where the env's tfvars set pre_deploy_backup (prod), an on-demand backup
of every existing table a plan changes, replaces or deletes, taken through the DynamoDB API (not
a Terraform resource) and available before anything is applied. The deploy path takes them and
checks, on the plan file about to be applied, that they cover every table it changes."""

from __future__ import annotations

from datetime import UTC, datetime

from bbws_infra.core.errors import OperationError
from bbws_infra.core.registry import Environment
from bbws_infra.core.untyped import JsonObject, Session
from bbws_infra.state import backups


def touched_tables(plan_json: JsonObject) -> list[str]:
    """Names of the existing DynamoDB tables the plan changes, replaces or deletes."""
    return sorted({(change["change"].get("before") or {}).get("name", "")
                   for change in plan_json.get("resource_changes", [])
                   if change.get("type") == "aws_dynamodb_table"
                   and change.get("mode") == "managed"
                   and set(change["change"].get("actions", [])) & {"update", "delete"}} - {""})


def take(session: Session, env: Environment, plan_json: JsonObject) -> list[str]:
    """Where the env's tfvars set pre_deploy_backup (prod): an on-demand backup of every table
    the plan changes, waited for until it is available; their ARNs. Any failure stops the
    deployment of this component before anything is applied."""
    if not env.pre_deploy_backup:
        return []
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    arns = []
    for table in touched_tables(plan_json):
        try:
            arns.append(backups.backup_and_wait(session, env, table,
                                                f"pre-deploy-{table}-{stamp}"))
        except Exception as error:
            raise OperationError(f"The pre-deploy backup of table {table} in {env.name} failed "
                                 f"({error}); nothing was applied.") from None
    return arns


def table_of(arn: str) -> str:
    """arn:aws:dynamodb:<region>:<account>:table/<name>/backup/<id> -> <name>."""
    return arn.split(":table/", 1)[-1].split("/backup/", 1)[0]
