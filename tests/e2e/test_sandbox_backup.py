"""AWS Backup on the sandbox under real Terraform: the backup selection is created as on AWS
(no sandbox-only module setting), and a change to an existing backup plan applies in seconds
(UpdateBackupPlan, which moto lacks, comes from bbws_infra.targets.moto_backup).

Runs in a throw-away git copy of the repository with its own sandbox, because it commits a
change to envs/dev.tfvars.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

from bbws_infra.bench import repo_copy
from tests.support.repo_copies import Copy, make_copy

pytestmark = pytest.mark.e2e

NAME = "bbws-tenants-dev"  # vault, plan, selection and (with -backup) role of tenants in dev
APPLY_TIMEOUT_S = 600  # generous: it takes seconds; the emulator without UpdateBackupPlan hung


@pytest.fixture(scope="module")
def copy(work: Path, tmp_path_factory: pytest.TempPathFactory):
    yield from make_copy("sandbox-backup", work, tmp_path_factory)


def _plan(backup: Any) -> dict[str, Any]:
    (summary,) = [p for p in backup.list_backup_plans()["BackupPlansList"]
                  if p["BackupPlanName"] == NAME]
    return backup.get_backup_plan(BackupPlanId=summary["BackupPlanId"])


def _selections(backup: Any, plan_id: str) -> list[dict[str, Any]]:
    listed = backup.list_backup_selections(BackupPlanId=plan_id)["BackupSelectionsList"]
    return [backup.get_backup_selection(BackupPlanId=plan_id, SelectionId=s["SelectionId"])
            for s in listed]


def test_selection_is_created_and_a_plan_change_applies(copy: Copy):
    copy.ok("plan", "--env", "dev", "--component", "tenants")
    copy.ok("apply", "--env", "dev", "--component", "tenants", "--confirm", "deploy-dev")

    session = copy.session("dev")
    backup = session.client("backup")
    table_arn = session.client("dynamodb").describe_table(TableName="tenants")["Table"]["TableArn"]
    before = _plan(backup)
    (selection,) = _selections(backup, before["BackupPlanId"])
    assert selection["BackupSelection"]["SelectionName"] == NAME
    assert selection["BackupSelection"]["Resources"] == [table_arn]
    assert selection["BackupSelection"]["IamRoleArn"].endswith(f":role/{NAME}-backup")
    (rule,) = before["BackupPlan"]["Rules"]
    assert rule["Lifecycle"]["DeleteAfterDays"] == 7

    tfvars = copy.root / "envs" / "dev.tfvars"
    text, count = re.subn(r"(?m)^backup_retention_days = 7$", "backup_retention_days = 14",
                          tfvars.read_text())
    assert count == 1, "envs/dev.tfvars no longer sets backup_retention_days = 7"
    tfvars.write_text(text)
    copy.commit("dev keeps recovery points for 14 days")
    planned = copy.ok("plan", "--env", "dev", "--component", "tenants")
    assert "tenants: 0 to add, 1 to change, 0 to destroy" in planned

    started = time.monotonic()
    applied = repo_copy.run_cli(copy.root, copy.work, "apply", "--env", "dev", "--component",
                                "tenants", "--confirm", "deploy-dev", timeout=APPLY_TIMEOUT_S)
    seconds = time.monotonic() - started
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert seconds < 120, f"the apply of a backup plan change took {seconds:.0f} s"

    after = _plan(backup)
    assert after["BackupPlanId"] == before["BackupPlanId"]  # updated in place, not replaced
    assert after["VersionId"] != before["VersionId"]
    (rule,) = after["BackupPlan"]["Rules"]
    assert rule["Lifecycle"]["DeleteAfterDays"] == 14
    assert [s["SelectionId"] for s in _selections(backup, after["BackupPlanId"])] == [
        selection["SelectionId"]]

    verified = copy.ok("verify", "--env", "dev", "--component", "tenants")
    assert "FAIL" not in verified


def _dr_vaults(copy: Copy) -> list[str]:
    backup = copy.session("dev").client("backup", region_name="eu-west-1")
    return [v["BackupVaultName"] for v in backup.list_backup_vaults()["BackupVaultList"]]


def _set(copy: Copy, name: str, old: str, new: str) -> None:
    tfvars = copy.root / "envs" / "dev.tfvars"
    text, count = re.subn(rf"(?m)^{name}(\s*)= {old}$", rf"{name}\1= {new}", tfvars.read_text())
    assert count == 1, f"envs/dev.tfvars no longer sets {name} = {old}"
    tfvars.write_text(text)


def test_switching_dr_copies_off_destroys_the_dr_vault_instead_of_forgetting_it(copy: Copy):
    # Where an env uses no DR region, one provider serves both aliases (one process fewer);
    # that shortcut must not apply while the state still holds DR resources.
    plan = ("plan", "--env", "dev", "--component", "tenants")
    apply = ("apply", "--env", "dev", "--component", "tenants", "--confirm", "deploy-dev")
    _set(copy, "backup_copy_to_dr", "false", "true")
    copy.commit("dev copies recovery points to the DR region")
    copy.ok(*plan)
    copy.ok(*apply)
    assert f"{NAME}-dr" in _dr_vaults(copy)

    _set(copy, "backup_copy_to_dr", "true", "false")
    copy.commit("dev stops copying to the DR region")
    assert "1 to destroy" in copy.ok(*plan)
    summary = (copy.bundle_dir("dev", "tenants") / "summary.txt").read_text()
    assert "- module.backup.aws_backup_vault.dr[0]" in summary
    copy.ok(*apply)
    assert f"{NAME}-dr" not in _dr_vaults(copy)
    assert "no drift" in copy.ok("drift", "--env", "dev", "--component", "tenants")
