"""The status page's model: gathered from ledgers, states and result files in an in-process
S3 (moto); the drift and verify result files; the monthly cost of a state. The whole flow on
the sandbox is tests/e2e/test_status_report.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from moto import mock_aws

from bbws_infra.core.registry import COMPONENTS, Environment, load_environment
from bbws_infra.report import collect as collect_module
from bbws_infra.report import result_files, running_cost
from bbws_infra.report.collect import collect
from bbws_infra.report.model import NOT_CHECKED, Finding
from bbws_infra.report.sessions import reusing
from bbws_infra.state import ledger
from tests.support.moto_session import MotoSession

A, B = "a" * 40, "b" * 40

TABLE_STATE = {
    "version": 4, "serial": 7, "lineage": "L",
    "resources": [
        {"mode": "managed", "type": "aws_dynamodb_table", "name": "this",
         "module": "module.table", "provider": 'provider["registry.terraform.io/hashicorp/aws"]',
         "instances": [{"attributes": {"billing_mode": "PAY_PER_REQUEST",
                                       "point_in_time_recovery": [{"enabled": True}]}}]},
        {"mode": "managed", "type": "aws_backup_vault", "name": "dr",
         "module": "module.backup",
         "provider": 'provider["registry.terraform.io/hashicorp/aws"].dr',
         "instances": [{"index_key": 0, "attributes": {}}]},
        {"mode": "data", "type": "aws_caller_identity", "name": "me",
         "provider": 'provider["registry.terraform.io/hashicorp/aws"]',
         "instances": [{"attributes": {}}]},
    ]}


def _write_result(root: Path, kind: str, env: str, component: str, **values: Any) -> None:
    path = result_files.result_path(kind, env, component, root)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"env": env, "component": component, **values}))


def test_a_result_file_is_read_and_its_absence_is_not_checked(tmp_path):
    assert result_files.read_check("drift", "dev", "tenants", root=tmp_path).status \
        == NOT_CHECKED
    _write_result(tmp_path, "drift", "dev", "tenants", checked_at="2026-12-01T10:00:00Z",
                  commit=A, status="drifted", findings=[
                      {"address": 'aws_s3_bucket_object.template["a/b.html"]',
                       "action": "update", "fingerprint": "f", "attributes": ["etag"],
                       "allowed_by": None},
                      {"address": "module.backup.aws_iam_role.backup", "action": "update",
                       "fingerprint": "g", "attributes": [], "allowed_by": "provider noise"}])
    found = result_files.read_check("drift", "dev", "tenants", root=tmp_path)
    assert (found.status, found.commit, found.stale) == ("drifted", A, False)
    assert found.findings == [
        Finding('aws_s3_bucket_object.template["a/b.html"]', "update"),
        Finding("module.backup.aws_iam_role.backup", "update", "provider noise")]
    # made before the component's last deployment: shown, but marked stale
    assert result_files.read_check("drift", "dev", "tenants", "2026-12-02T00:00:00+00:00",
                                   root=tmp_path).stale
    _write_result(tmp_path, "verify", "dev", "tenants", checked_at="2026-12-01T10:00:00Z",
                  commit=A, status="failing", problems=["table tenants: stream"], reason=None)
    assert result_files.read_check("verify", "dev", "tenants", root=tmp_path).problems == [
        "table tenants: stream"]
    broken = result_files.result_path("verify", "dev", "products", tmp_path)
    broken.write_text("{not json")
    assert result_files.read_check("verify", "dev", "products", root=tmp_path).status \
        == result_files.UNREADABLE


def test_the_running_cost_prices_what_the_state_holds():
    prod = load_environment("prod")
    shaped = running_cost.plan_shaped(TABLE_STATE, prod)
    assert [c["address"] for c in shaped["resource_changes"]] == [
        "module.table.aws_dynamodb_table.this", "module.backup.aws_backup_vault.dr[0]"]
    keys = {r["address"]: r["provider_config_key"]
            for r in shaped["configuration"]["root_module"]["resources"]}
    assert keys == {"module.table.aws_dynamodb_table.this": "aws",
                    "module.backup.aws_backup_vault.dr": "aws.dr"}
    costs = running_cost.monthly_costs(prod, {"tenants": TABLE_STATE})
    assert set(costs) == {"tenants"} and costs["tenants"] > 0
    assert running_cost.monthly_costs(prod, {}) == {}


def _record(env: str, component: str, commit: str, started: str, point: ledger.StatePoint,
            **changes: Any) -> ledger.Record:
    values: dict[str, Any] = dict(
        env=env, component=component, action="apply", target="sandbox", commit=commit,
        dirty=False, inputs_sha256="f" * 64, bundle_sha256="b" * 64, state_before=point,
        state_after=point, who="someone <s@example.invalid>", started_at=started,
        finished_at=started, result=ledger.APPLIED, verification=ledger.PASSED)
    values.update(changes)
    return ledger.Record(**values)


@pytest.fixture
def s3_session():
    with mock_aws():
        session = MotoSession()
        for name in ("dev", "sit", "prod"):
            bucket = load_environment(name).state_bucket
            session.client("s3").create_bucket(
                Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "af-south-1"})
            session.client("s3").put_bucket_versioning(
                Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        yield session


def _deploy(session: Any, env: Environment, component: str, commit: str, started: str,
            **changes: Any) -> None:
    put = session.client("s3").put_object(Bucket=env.state_bucket,
                                          Key=COMPONENTS[component].state_key,
                                          Body=json.dumps(TABLE_STATE).encode())
    point = ledger.StatePoint(put["VersionId"], 7, "L")
    ledger.write(session, env, _record(env.name, component, commit, started, point,
                                       **changes))


def test_the_model_shows_what_runs_pending_promotions_and_an_unreachable_env(
        s3_session, tmp_path, monkeypatch):
    monkeypatch.setenv("BBWS_WORK_DIR", str(tmp_path))
    dev, sit, prod = (load_environment(n) for n in ("dev", "sit", "prod"))
    _deploy(s3_session, dev, "tenants", A, "2026-12-01T09:00:00Z")
    _deploy(s3_session, dev, "products", A, "2026-12-01T09:01:00Z",
            verification=ledger.FAILED, failed_checks=["table products: stream"])
    _write_result(tmp_path, "drift", "dev", "tenants", checked_at="2026-12-01T10:00:00Z",
                  commit=A, status="clean", findings=[])

    def session_for(env: Environment) -> Any:
        if env.name == "prod":
            raise EndpointConnectionError(endpoint_url="https://s3.af-south-1.amazonaws.com")
        return s3_session

    wanted = [COMPONENTS["tenants"], COMPONENTS["products"]]
    report = collect(session_for, "sandbox", [dev, sit, prod], wanted)
    by_env = {e.env: e for e in report.envs}
    rows = {c.component: c for c in by_env["dev"].components}
    assert rows["tenants"].deployed is not None and rows["tenants"].deployed.commit == A
    assert rows["tenants"].deployed.verified and not rows["products"].deployed.verified
    assert rows["tenants"].drift.status == "clean"
    assert rows["tenants"].verify.status == NOT_CHECKED
    assert rows["tenants"].state is not None and rows["tenants"].state.serial == 7
    assert rows["tenants"].monthly_usd and rows["tenants"].monthly_usd > 0
    # sit runs nothing: dev's verified tenants is pending there, products (failed) is not
    assert [(p.component, p.commit, p.verified_in) for p in by_env["sit"].pending] == [
        ("tenants", A, "dev")]
    assert all(c.deployed is None and c.monthly_usd is None
               for c in by_env["sit"].components)
    assert "Could not connect to the endpoint URL" in by_env["prod"].unreachable
    assert report.partial and by_env["prod"].components == []
    assert [(e.env, e.component) for e in report.timeline] == [("dev", "products"),
                                                                ("dev", "tenants")]
    data = report.to_json()
    assert data["partial"] is True
    assert data["envs"][0]["components"][0]["deployed"]["commit"] == A
    assert json.loads(json.dumps(data)) == data

    # once sit runs it, nothing is pending there any more
    _deploy(s3_session, sit, "tenants", A, "2026-12-01T11:00:00Z", action="promote")
    again = collect(session_for, "sandbox", [sit], wanted)
    assert again.envs[0].pending == []
    # a part of an env that cannot be read (here AWS Backup's job listing, refused) is named,
    # and the rest of the env is still shown
    def refused(*args: Any, **kwargs: Any) -> Any:
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}},
                          "ListBackupJobs")

    monkeypatch.setattr(collect_module, "last_backup_jobs", refused)
    again = collect(session_for, "sandbox", [sit], wanted)
    assert [p.split(":")[0] for p in again.envs[0].problems] == ["backups"]
    assert "ListBackupJobs" in again.envs[0].problems[0] and again.partial


def test_each_env_session_and_client_is_made_once():
    made: list[tuple[str, str | None]] = []

    class Counting:
        def client(self, service: str, /, region_name: str | None = None) -> Any:
            made.append((service, region_name))
            return object()

    opened: list[str] = []

    def session_for(env: Environment) -> Any:
        opened.append(env.name)
        return Counting()

    shared = reusing(session_for)
    dev = load_environment("dev")
    first = shared(dev).client("s3", region_name="af-south-1")
    assert shared(dev).client("s3", region_name="af-south-1") is first
    shared(dev).client("dynamodb", region_name="af-south-1")
    shared(load_environment("sit"))
    assert opened == ["dev", "sit"]
    assert made == [("s3", "af-south-1"), ("dynamodb", "af-south-1")]
