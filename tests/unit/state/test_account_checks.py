"""The account checks against botocore's Stubber: every answer AWS can give (and the errors a
caller without the permission gets) and the finding each becomes."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from bbws_infra.core.registry import load_environment
from bbws_infra.state import account_checks
from bbws_infra.state.planned_buckets import planned_buckets

DEV, PROD = load_environment("dev"), load_environment("prod")


class StubbedSession:
    """One stubbed client per service; the checks ask for each at most once."""

    def __init__(self) -> None:
        self.clients: dict[str, Any] = {}
        self.stubbers: dict[str, Stubber] = {}

    def stub(self, service: str) -> Stubber:
        if service not in self.stubbers:
            client = boto3.client(service, region_name="af-south-1",
                                  aws_access_key_id="k", aws_secret_access_key="s")
            self.clients[service] = client
            self.stubbers[service] = Stubber(client)
            self.stubbers[service].activate()
        return self.stubbers[service]

    def client(self, service: str, region_name: str | None = None) -> Any:
        self.stub(service)
        return self.clients[service]

    def done(self) -> None:
        for stubber in self.stubbers.values():
            stubber.assert_no_pending_responses()


@pytest.fixture
def session():
    stubbed = StubbedSession()
    yield stubbed
    stubbed.done()


def _opt_status(session: StubbedSession, region: str, status: str) -> None:
    session.stub("account").add_response("get_region_opt_status",
                                         {"RegionName": region, "RegionOptStatus": status},
                                         {"RegionName": region})


@pytest.mark.parametrize(("status", "ok"), [
    ("ENABLED", True), ("ENABLED_BY_DEFAULT", True), ("DISABLED", False),
    ("ENABLING", False), ("DISABLING", False)])
def test_each_region_opt_in_answer(session, status, ok):
    _opt_status(session, "af-south-1", status)
    (finding,) = account_checks.region_findings(session, DEV)
    assert (finding.check, finding.ok, finding.found) == ("region af-south-1", ok, status)
    if status == "ENABLING":
        assert finding.fix.startswith("wait until AWS finishes enabling af-south-1")
    elif not ok:
        assert "aws account enable-region --region-name af-south-1" in finding.fix
    else:
        assert finding.fix == ""


def test_the_dr_region_is_checked_only_where_the_env_uses_it(session):
    _opt_status(session, "af-south-1", "ENABLED")
    _opt_status(session, "eu-west-1", "ENABLED_BY_DEFAULT")
    assert [f.check for f in account_checks.region_findings(session, PROD)] == [
        "region af-south-1", "region eu-west-1"]
    assert not DEV.uses_dr  # and dev asks for its primary region only (the test above)


def test_a_caller_without_the_permission_is_told_which_one(session):
    session.stub("account").add_client_error("get_region_opt_status", "AccessDeniedException",
                                             http_status_code=403)
    (finding,) = account_checks.region_findings(session, DEV)
    assert not finding.ok and "(AccessDeniedException)" in finding.found
    assert "account:GetRegionOptStatus" in finding.fix


@pytest.mark.parametrize(("opt_in", "advanced"), [
    (True, True), (True, False), (False, True), (False, False)])
def test_backup_settings(session, opt_in, advanced):
    session.stub("backup").add_response("describe_region_settings", {
        "ResourceTypeOptInPreference": {"DynamoDB": opt_in, "EBS": True},
        "ResourceTypeManagementPreference": {"DynamoDB": advanced, "EFS": True}})
    found = {f.check: f for f in account_checks.backup_findings(session, DEV)}
    assert found[account_checks.BACKUP_OPT_IN].ok is opt_in
    assert found[account_checks.BACKUP_ADVANCED].ok is advanced
    if not advanced:
        assert ("--resource-type-management-preference DynamoDB=true"
                in found[account_checks.BACKUP_ADVANCED].fix)
    if not opt_in:
        assert ("--resource-type-opt-in-preference DynamoDB=true"
                in found[account_checks.BACKUP_OPT_IN].fix)


def test_backup_settings_without_dynamodb_listed_fail(session):
    session.stub("backup").add_response("describe_region_settings", {})
    assert [f.ok for f in account_checks.backup_findings(session, DEV)] == [False, False]


def _buckets(session: StubbedSession, owned: list[str]) -> Stubber:
    s3 = session.stub("s3")
    s3.add_response("list_buckets", {"Buckets": [{"Name": n} for n in owned]})
    return s3


def test_bucket_names_free_owned_and_taken(session):
    names = planned_buckets(DEV)
    s3 = _buckets(session, [DEV.state_bucket])
    answers = {names[1]: 404, names[2]: 403, names[3]: 200}
    for name, status in answers.items():
        if status == 200:
            s3.add_response("head_bucket", {}, {"Bucket": name})
        else:
            s3.add_client_error("head_bucket", str(status), http_status_code=status,
                                expected_params={"Bucket": name})
    found = {f.check: f for f in account_checks.bucket_findings(session, DEV)}
    assert [f.ok for f in found.values()] == [True, True, False, False]
    assert found[f"bucket {DEV.state_bucket}"].found == "exists in this account"
    assert found[f"bucket {names[1]}"].found == "free"
    assert found[f"bucket {names[2]}"].found == "owned by another account (HeadBucket: 403)"
    assert "is not among account 536580886816's buckets" in found[f"bucket {names[3]}"].found
    assert f"{names[3]} is taken" in found[f"bucket {names[3]}"].fix


def test_a_region_that_is_off_stops_the_other_checks(session):
    _opt_status(session, "af-south-1", "DISABLED")
    findings = account_checks.examine_account(session, DEV)
    assert [f.check for f in findings] == ["region af-south-1"]
    assert account_checks.refusal(findings).startswith("region af-south-1: DISABLED; enable")


def test_a_ready_account_is_no_refusal(session):
    _opt_status(session, "af-south-1", "ENABLED")
    session.stub("backup").add_response("describe_region_settings", {
        "ResourceTypeOptInPreference": {"DynamoDB": True},
        "ResourceTypeManagementPreference": {"DynamoDB": True}})
    s3 = _buckets(session, [])
    for name in planned_buckets(DEV):
        s3.add_client_error("head_bucket", "404", http_status_code=404,
                            expected_params={"Bucket": name})
    findings = account_checks.examine_account(session, DEV)
    assert all(f.ok for f in findings) and account_checks.refusal(findings) == ""


def test_planned_buckets_follow_the_tfvars_switches():
    assert planned_buckets(DEV) == ["bbws-terraform-state-dev", "bbws-terraform-state-dev-logs",
                                    "bbws-templates-dev-logs", "bbws-templates-dev"]
    # prod replicates: its replica bucket too (replication_enabled in envs/prod.tfvars)
    assert "bbws-templates-prod-replica" in planned_buckets(PROD)
    assert "bbws-templates-dev-replica" not in planned_buckets(DEV)
