"""The deploy path's last check, on the JSON the applying Terraform process shows of the very
plan file it applies next (no AWS: prod's protection and backups are decided offline)."""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import pytest

from bbws_infra.core.errors import NothingApplied, OperationError, UserError
from bbws_infra.core.registry import COMPONENTS, load_environment
from bbws_infra.plans import bundle
from bbws_infra.release import deploy

TABLE = "module.table.aws_dynamodb_table.this"
ARN = "arn:aws:dynamodb:af-south-1:093646564004:table/tenants/backup/01700000000000-abcdef01"


def _plan(*actions: str, name: str = "tenants") -> dict:
    return {"format_version": "1.2", "resource_changes": [{
        "address": TABLE, "mode": "managed", "type": "aws_dynamodb_table",
        "change": {"actions": list(actions), "before": {"name": name}, "after": {}}}]}


def _approved(plan_json: dict) -> deploy.ApprovedBundle:
    record = bundle.BundleRecord(
        target="sandbox", env="prod", component="tenants", commit="a" * 40, dirty=False,
        plan_sha256="1" * 64, plan_json_sha256="2" * 64, summary_text_sha256="3" * 64,
        summary_markdown_sha256="4" * 64, state_lineage="L", state_serial=1,
        terraform_version="1.15.5", provider_versions={}, lock_file_sha256="",
        inputs_sha256="5" * 64, who="me", created_at="2026-12-06T00:00:00Z",
        created_epoch=time.time())
    item = deploy.ApprovedBundle(COMPONENTS["tenants"], record, directory=Path("unused"))
    item.__dict__["plan_json"] = plan_json  # what round 1 read from the hash-checked file
    return item


def _request(**changes: Any) -> deploy.DeployRequest:
    return deploy.DeployRequest(env=load_environment("prod"), target="sandbox",
                                components=[COMPONENTS["tenants"]], confirm="promote-prod",
                                action="promote", **changes)


def test_a_plan_file_other_than_the_reviewed_one_is_refused():
    reviewed = _plan("no-op")
    with pytest.raises(deploy.AppliedPlanRefused, match="is not the plan that was reviewed"):
        deploy.check_applied_plan(_request(), None, _approved(reviewed),
                                  _plan("delete", "create"), [])


def test_protection_and_backups_are_taken_from_the_shown_plan():
    replace = _plan("delete", "create")
    item = _approved(copy.deepcopy(replace))
    with pytest.raises(UserError, match="deletes, replaces or forgets"):
        deploy.check_applied_plan(_request(), None, item, replace, [ARN])
    allowed = _request(allow_destroy=(f"tenants:{TABLE}",), confirm_destroy="destroy-prod")
    with pytest.raises(deploy.AppliedPlanRefused, match="that no pre-deploy backup covers"):
        deploy.check_applied_plan(allowed, None, item, replace, [])
    summary = deploy.check_applied_plan(allowed, None, item, replace, [ARN])
    assert (summary.add, summary.destroy) == (1, 1)


def test_forgetting_a_protected_table_is_guarded_like_deleting_it():
    forget = _plan("forget")
    with pytest.raises(UserError, match=f"deletes, replaces or forgets {TABLE}"):
        deploy.check_applied_plan(_request(), None, _approved(copy.deepcopy(forget)), forget,
                                  [])


@pytest.mark.parametrize(("failure", "stages", "after", "nothing"), [
    (NothingApplied("lost the race"), ["show"], ("v1", 1), True),
    (OperationError("init failed"), ["init"], ("v1", 1), True),
    (OperationError("x", details="Error acquiring the state lock"), ["show", "apply"],
     ("v1", 1), True),
    (OperationError("x", details="Saved plan is stale"), ["show", "apply"], ("v1", 1), True),
    (OperationError("x", details="Error acquiring the state lock"), ["show", "apply"],
     ("v2", 2), False),
    (OperationError("provider error"), ["show", "apply"], ("v1", 1), False),
])
def test_only_a_run_that_provably_changed_nothing_is_recorded_as_such(failure, stages, after,
                                                                      nothing):
    before = deploy.RemoteState("L", 1, "v1")
    now = deploy.RemoteState("L", after[1], after[0])
    assert deploy._applied_nothing(failure, stages, before, now) is nothing
