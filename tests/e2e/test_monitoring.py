"""The monitoring component (monitoring/alerts) on the sandbox, released like the tables: dev
applies it, sit and prod promote it, and `verify` checks every alarm, subscription, rule, budget
and dashboard of each env against its source. An alarm that fires, and an AWS Backup job that
fails, reach the alerts topic's subscribers (the sandbox records each delivery), and `invoke
alarms` shows both. A new table folder gets its alarms with no other change.

Runs in a throw-away git copy of the repository (promotion needs commits of its own); the tests
build on each other in file order.
"""

from __future__ import annotations

import json
import shutil

import pytest

from bbws_infra.bench import repo_copy
from bbws_infra.core.registry import PROMOTION_ORDER, load_environment
from bbws_infra.targets.moto_monitoring_client import Delivery, sns_deliveries
from tests.support.repo_copies import Copy, make_copy

pytestmark = pytest.mark.e2e

# What the schemas of this commit give sit and prod: per table a read and a write throttle
# alarm for the table and for each index, and a system-errors alarm; one account alarm.
TABLES = {"campaigns": 2, "products": 1, "tenants": 3}  # table -> its indexes
ALARMS = sum(2 * (1 + indexes) + 1 for indexes in TABLES.values()) + 1


@pytest.fixture(scope="module")
def copy(work, tmp_path_factory):
    yield from make_copy("monitoring", work, tmp_path_factory)


@pytest.fixture(scope="module")
def released(copy: Copy) -> str:
    """The monitoring applied in dev (beside the tenants table, whose backups it watches) and
    promoted to sit and prod."""
    copy.ok("plan", "--env", "dev", "--component", "tenants,alerts")
    copy.ok("apply", "--env", "dev", "--component", "tenants,alerts", "--confirm", "deploy-dev")
    for env in PROMOTION_ORDER[1:]:
        copy.ok("promote", "--to", env, "--component", "alerts", "--confirm", f"promote-{env}")
    return copy.head()


def _topic_arn(env_name: str) -> str:
    env = load_environment(env_name)
    return f"arn:aws:sns:{env.region}:{env.account_id}:bbws-alerts-{env_name}"


def _deliveries(copy: Copy, env_name: str) -> list[Delivery]:
    server = json.loads((copy.work / "sandbox" / "server.json").read_text())
    return sns_deliveries(f"http://127.0.0.1:{server['port']}", _topic_arn(env_name))


@pytest.mark.parametrize("env_name", PROMOTION_ORDER)
def test_every_env_verifies_its_monitoring(copy: Copy, released: str, env_name: str):
    result = copy.invoke("verify", "--env", env_name, "--component", "alerts", "--json")
    checks = json.loads(result.stdout)
    assert result.returncode == 0, [c for c in checks if not c["ok"]]
    names = {c["name"] for c in checks}
    alarms = {n for n in names if n.startswith("alarm bbws-")}
    coverage = {n for n in names if n.startswith("alarm coverage:")}
    alarmed = env_name != "dev"  # dev's tfvars switch the CloudWatch alarms off
    assert len(alarms) == (ALARMS if alarmed else 0)
    assert len(coverage) == (ALARMS - 1 if alarmed else 0)
    assert {f"topic bbws-alerts-{env_name}", f"topic bbws-alerts-{env_name}: encryption",
            f"event rule bbws-backup-failures-{env_name}",
            f"budget bbws-monthly-cost-{env_name}",
            f"dashboard bbws-data-stores-{env_name}",
            "subscription email bbws-platform-alerts@kimmyai.io"} <= names
    (record,) = copy.json("history", "--env", env_name, "--component", "alerts", "--limit", "1")
    assert record["commit"] == released and record["verification"] == "passed"


def test_an_alarm_reaches_the_subscribers_and_alarms_shows_it(copy: Copy, released: str):
    cloudwatch = copy.session("sit").client("cloudwatch")
    name = "bbws-tenants-EmailIndex-read-throttles-sit"
    assert copy.invoke("alarms", "--env", "sit").returncode == 0  # nothing fires yet
    cloudwatch.set_alarm_state(
        AlarmName=name, StateValue="ALARM",
        StateReason="Threshold Crossed: 1 datapoint [4.0] was greater than the threshold (0.0).")

    (delivery,) = [d for d in _deliveries(copy, "sit") if d.subject.startswith("ALARM")]
    assert delivery.delivered, delivery.reason
    assert (delivery.protocol, delivery.endpoint) == ("email", "bbws-platform-alerts@kimmyai.io")
    assert delivery.publisher == "cloudwatch.amazonaws.com"
    assert delivery.subject.startswith(f'ALARM: "{name}" in ')
    message = json.loads(delivery.message)
    assert (message["AlarmName"], message["NewStateValue"]) == (name, "ALARM")

    listed = copy.invoke("alarms", "--env", "sit", "--json")
    assert listed.returncode == 1, listed.stderr  # an alarm fires: the listing's failure
    (found,) = json.loads(listed.stdout)
    assert found["alarms"][0]["name"] == name and found["alarms"][0]["state"] == "ALARM"
    assert len(found["alarms"]) == ALARMS
    cloudwatch.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="recovered")
    assert any(d.subject.startswith("OK") and d.delivered for d in _deliveries(copy, "sit"))
    assert copy.invoke("alarms", "--env", "sit").returncode == 0


def test_a_failed_backup_job_reaches_the_subscribers_and_alarms_shows_it(copy: Copy,
                                                                         released: str):
    """A backup job AWS Backup cannot run (its role cannot be assumed) fails; the rule turns
    its event into one readable message. dev has no CloudWatch alarms, never no backup
    alerts."""
    env = load_environment("dev")
    table = f"arn:aws:dynamodb:{env.region}:{env.account_id}:table/tenants"
    copy.session("dev").client("backup").start_backup_job(
        BackupVaultName="bbws-tenants-dev", ResourceArn=table,
        IamRoleArn=f"arn:aws:iam::{env.account_id}:role/removed-by-hand")

    (delivery,) = _deliveries(copy, "dev")
    assert delivery.delivered and delivery.publisher == "events.amazonaws.com", delivery.reason
    assert delivery.message.startswith(
        f'"AWS Backup: Backup Job State Change FAILED for {table} (vault bbws-tenants-dev')
    assert "docs/runbooks/alarms.md#backup-job-failed" in delivery.message

    listed = copy.invoke("alarms", "--env", "dev", "--json")
    assert listed.returncode == 1
    (found,) = json.loads(listed.stdout)
    jobs = {job["table"]: job for job in found["backup_jobs"]}
    assert jobs["tenants"]["state"] == "FAILED"
    assert "cannot be assumed" in jobs["tenants"]["message"]
    assert found["alarms"] == []


def test_a_new_table_folder_gets_its_alarms(copy: Copy, released: str):
    """Adding dynamodb/orders (a copy of tenants' schema) changes nothing in monitoring/: the
    plan of sit's monitoring adds the new table's alarms and redraws the dashboard, nothing
    else."""
    tables = copy.root / "dynamodb"
    shutil.copytree(tables / "tenants", tables / "orders", symlinks=True)
    schema = tables / "orders" / "tenant.schema.json"
    schema.rename(tables / "orders" / "order.schema.json")
    text = (tables / "orders" / "order.schema.json").read_text()
    (tables / "orders" / "order.schema.json").write_text(
        text.replace('"tableName": "tenants"', '"tableName": "orders"'))
    copy.commit("a new table: orders")
    try:
        copy.ok("plan", "--env", "sit", "--component", "alerts")
        plan = json.loads((copy.bundle_dir("sit", "alerts") / "plan.json").read_text())
        changed = {(c["address"], tuple(c["change"]["actions"]))
                   for c in plan["resource_changes"] if c["change"]["actions"] != ["no-op"]}
        created = {c["change"]["after"]["alarm_name"] for c in plan["resource_changes"]
                   if c["change"]["actions"] == ["create"]}
        assert created == {f"bbws-orders-{what}-sit" for what in (
            "read-throttles", "write-throttles", "system-errors",
            *(f"{index}-{direction}-throttles" for index in
              ("EmailIndex", "TenantActiveIndex", "TenantStatusIndex")
              for direction in ("read", "write")))}
        assert changed - {(a, ("create",)) for a, _ in changed} == {
            ("module.dashboard.aws_cloudwatch_dashboard.data_stores", ("update",))}
    finally:
        repo_copy.git(copy.root, "reset", "-q", "--hard", "HEAD~1")
