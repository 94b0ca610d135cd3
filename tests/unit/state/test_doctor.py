"""The state doctor against an in-process S3 and DynamoDB (moto): a versioned state bucket and a
lock table as the S3 backend uses them."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from moto import mock_aws

from bbws_infra.core.errors import UserError
from bbws_infra.core.registry import COMPONENTS, load_environment
from bbws_infra.state import doctor, ledger, state_bucket
from tests.support.moto_session import MotoSession

TENANTS = COMPONENTS["tenants"]




@pytest.fixture
def dev():
    return load_environment("dev")


@pytest.fixture
def session(dev):
    with mock_aws():
        session = MotoSession()
        s3 = session.client("s3", region_name=dev.region)
        s3.create_bucket(Bucket=dev.state_bucket,
                         CreateBucketConfiguration={"LocationConstraint": dev.region})
        # hardened as bootstrap leaves it (versioning, TLS only, access logs, ...)
        state_bucket.ensure_log_bucket(s3, dev, [])
        state_bucket.protect_state_bucket(s3, dev, [])
        session.client("dynamodb", region_name=dev.region).create_table(
            TableName=dev.lock_table, BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "LockID", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "LockID", "KeyType": "HASH"}])
        yield session


def _state(serial: int = 1, lineage: str = "0f1e2d3c-aaaa-bbbb-cccc-000000000000",
           resources: list | None = None) -> bytes:
    return json.dumps({"version": 4, "terraform_version": "1.9.8", "serial": serial,
                       "lineage": lineage, "outputs": {}, "resources": resources or []}).encode()


def _put_state(session: Any, env: Any, body: bytes, digest: bool = True) -> str:
    """Write a state object as Terraform does (object, then digest item); its version id."""
    version = session.client("s3", region_name=env.region).put_object(
        Bucket=env.state_bucket, Key=TENANTS.state_key, Body=body)["VersionId"]
    if digest:
        _put_digest(session, env, hashlib.md5(body).hexdigest())
    return version


def _put_digest(session: Any, env: Any, digest: str) -> None:
    session.client("dynamodb", region_name=env.region).put_item(
        TableName=env.lock_table,
        Item={"LockID": {"S": f"{env.state_bucket}/{TENANTS.state_key}-md5"},
              "Digest": {"S": digest}})


def _record(version: str | None) -> ledger.Record:
    return ledger.Record(
        env="dev", component="tenants", action="apply", target="sandbox", commit="a" * 40,
        dirty=False, inputs_sha256="f" * 64, bundle_sha256="b" * 64,
        state_before=ledger.StatePoint(None, 0, ""),
        state_after=ledger.StatePoint(version, 1, "0f1e2d3c"), who="someone",
        started_at="2026-11-26T09:00:00Z", finished_at="2026-11-26T09:01:00Z",
        result=ledger.APPLIED, verification=ledger.PASSED)


def _by_check(findings: list[doctor.Finding]) -> dict[str, doctor.Finding]:
    assert len({f.check for f in findings}) == len(findings)  # one finding per check
    return {f.check: f for f in findings}


def test_a_healthy_component_is_all_ok(session, dev):
    version = _put_state(session, dev, _state(serial=7))
    ledger.write(session, dev, _record(version))

    findings = doctor.examine(session, dev, [TENANTS])
    assert [f.check for f in findings] == list(doctor.CHECKS)
    assert all(f.ok and not f.fix and f.component == "tenants" for f in findings), findings
    checks = _by_check(findings)
    assert checks["lineage and serial"].found == "serial 7, lineage 0f1e2d3c"
    assert checks["lock"].found == "not locked"
    body, version_id = doctor.state_object(session, dev, TENANTS)
    assert body == _state(serial=7) and version_id == version
    assert doctor.digest_item(session, dev, TENANTS) == hashlib.md5(body).hexdigest()
    assert doctor.lock_info(session, dev, TENANTS) is None


def test_no_state_yet_checks_only_the_lock(session, dev):
    assert doctor.state_object(session, dev, TENANTS) is None
    assert doctor.digest_item(session, dev, TENANTS) is None
    findings = doctor.examine(session, dev, [TENANTS, COMPONENTS["products"]])
    assert [(f.component, f.check, f.ok, f.found) for f in findings] == [
        ("tenants", "state readable", True, "no state yet"),
        ("tenants", "lock", True, "not locked"),
        ("products", "state readable", True, "no state yet"),
        ("products", "lock", True, "not locked"),
    ]
    with pytest.raises(UserError, match="no state object"):
        doctor.fix_digest(session, dev, TENANTS)


@pytest.mark.parametrize("body", [b"{not json", b"", b"[1, 2]"])
def test_unreadable_state_points_to_a_restore(session, dev, body):
    _put_state(session, dev, body)
    findings = doctor.examine(session, dev, [TENANTS])
    assert [f.check for f in findings] == ["state readable", "lock"]
    readable = findings[0]
    assert not readable.ok
    assert ("invoke rollback --env dev --component tenants --version-id <version> "
            "--confirm rollback-dev --restore-state") in readable.fix
    assert "invoke state-versions --env dev --component tenants" in readable.fix


def test_a_state_without_lineage_or_a_proper_serial_is_not_ok(session, dev):
    _put_state(session, dev, json.dumps({"version": 4, "serial": -1, "lineage": ""}).encode())
    lineage = _by_check(doctor.examine(session, dev, [TENANTS]))["lineage and serial"]
    assert not lineage.ok and lineage.found == "serial -1, lineage (none)"
    assert "--restore-state" in lineage.fix


def test_a_digest_mismatch_is_found_and_fixed(session, dev):
    body = _state()
    version = _put_state(session, dev, body, digest=False)
    _put_digest(session, dev, "0" * 32)
    ledger.write(session, dev, _record(version))
    actual = hashlib.md5(body).hexdigest()

    digest = _by_check(doctor.examine(session, dev, [TENANTS]))["digest"]
    assert not digest.ok
    assert digest.found == f"stored {'0' * 32}, state object {actual}"
    assert digest.fix == (
        "invoke doctor --env dev --fix-digest (sets it to the state object's MD5); the next "
        "Terraform run fails with 'state data in S3 does not have the expected content' until "
        "then")

    assert doctor.fix_digest(session, dev, TENANTS) == ("0" * 32, actual)
    assert doctor.digest_item(session, dev, TENANTS) == actual
    assert all(f.ok for f in doctor.examine(session, dev, [TENANTS]))
    # the lock item's key is untouched: fixing the digest never takes or releases a lock
    assert doctor.lock_info(session, dev, TENANTS) is None


def test_a_missing_digest_item_is_ok_and_can_be_written(session, dev):
    version = _put_state(session, dev, _state(), digest=False)
    ledger.write(session, dev, _record(version))
    digest = _by_check(doctor.examine(session, dev, [TENANTS]))["digest"]
    assert digest.ok and digest.found == "no digest item"
    old, new = doctor.fix_digest(session, dev, TENANTS)
    assert old is None and new == hashlib.md5(_state()).hexdigest()


def _terraform_created(moment: datetime) -> str:
    """Go's time.Time String() as Terraform prints it: nanoseconds and ' +0000 UTC'."""
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f") + "238 +0000 UTC"


def test_a_held_lock_names_who_and_how_to_release_it(session, dev):
    version = _put_state(session, dev, _state())
    ledger.write(session, dev, _record(version))
    created = _terraform_created(datetime.now(UTC) - timedelta(minutes=3, seconds=5))
    info = {"ID": "6f7e1c2a-1111-2222-3333-444455556666", "Operation": "OperationTypeApply",
            "Who": "runner@ci-host", "Version": "1.9.8", "Created": created,
            "Path": f"{dev.state_bucket}/{TENANTS.state_key}"}
    session.client("dynamodb", region_name=dev.region).put_item(
        TableName=dev.lock_table,
        Item={"LockID": {"S": f"{dev.state_bucket}/{TENANTS.state_key}"},
              "Info": {"S": json.dumps(info)}})

    held = doctor.lock_info(session, dev, TENANTS)
    assert held is not None and held.id == info["ID"] and held.who == "runner@ci-host"
    assert held.operation == "OperationTypeApply" and held.created == created
    assert held.path == info["Path"]
    assert held.age_s is not None and 180 <= held.age_s < 200
    assert doctor.age_text(held.age_s) == "3 min"

    lock = _by_check(doctor.examine(session, dev, [TENANTS]))["lock"]
    assert not lock.ok
    assert lock.found == (f"held by runner@ci-host (OperationTypeApply, lock {info['ID']}) "
                          "for 3 min")
    assert lock.fix == ("if nothing is running: invoke unlock --env dev --component tenants "
                        f"--lock-id {info['ID']}")


def test_a_lock_is_reported_even_without_a_state(session, dev):
    session.client("dynamodb", region_name=dev.region).put_item(
        TableName=dev.lock_table,
        Item={"LockID": {"S": f"{dev.state_bucket}/{TENANTS.state_key}"},
              "Info": {"S": json.dumps({"ID": "x1", "Created": "yesterday"})}})
    findings = doctor.examine(session, dev, [TENANTS])
    assert [(f.check, f.ok) for f in findings] == [("state readable", True), ("lock", False)]
    assert findings[1].found.endswith("for unknown")


@pytest.mark.parametrize(("created", "expected"), [
    ("2026-11-26 09:41:47.346926238 +0000 UTC", 1795686107.346926238),
    ("2026-11-26 09:41:47 +0000 UTC", 1795686107.0),
    ("2026-11-26 11:41:47.5 +0200 SAST", 1795686107.5),
    ("2026-11-26T09:41:47.346926238Z", 1795686107.346926238),
    ("2026-11-26T10:41:47+01:00", 1795686107.0),
    ("yesterday", None),
    ("", None),
])
def test_created_times_as_terraform_writes_them(created, expected):
    epoch = doctor._created_epoch(created)
    if expected is None:
        assert epoch is None
    else:
        assert epoch == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(("seconds", "text"), [
    (None, "unknown"), (45, "45 s"), (185, "3 min"), (2.1 * 3600, "2.1 h")])
def test_age_text(seconds, text):
    assert doctor.age_text(seconds) == text


def test_a_state_written_outside_the_deploy_path_is_found(session, dev):
    first = _put_state(session, dev, _state(serial=1))
    ledger.write(session, dev, _record(first))
    assert _by_check(doctor.examine(session, dev, [TENANTS]))["ledger"].ok

    # a hand-run terraform apply that created something
    table = {"mode": "managed", "type": "aws_dynamodb_table", "name": "extra", "instances": []}
    second = _put_state(session, dev, _state(serial=2, resources=[table]))
    assert second != first
    checks = _by_check(doctor.examine(session, dev, [TENANTS]))
    assert checks["digest"].ok and checks["lineage and serial"].ok
    found = checks["ledger"]
    assert not found.ok
    assert found.found == (f"state version {second} is not the one the last ledger "
                           f"record left ({first})")
    assert "written outside the deploy path" in found.fix
    assert "invoke state-versions --env dev --component tenants" in found.fix
    assert "invoke history --env dev --component tenants" in found.fix


def test_the_same_state_rewritten_by_an_interrupted_plan_is_ok(session, dev):
    first = _put_state(session, dev, _state(serial=1))
    ledger.write(session, dev, _record(first))
    # Terraform persists the state it holds when a plan is interrupted: a new serial only
    second = _put_state(session, dev, _state(serial=2))
    found = _by_check(doctor.examine(session, dev, [TENANTS]))["ledger"]
    assert found.ok
    assert found.found == (f"state version {second} rewrites the one the last apply left "
                           f"({first}) with the same resources and outputs (as an "
                           "interrupted plan does)")


def test_no_ledger_record_is_ok(session, dev):
    _put_state(session, dev, _state())
    ledger_finding = _by_check(doctor.examine(session, dev, [TENANTS]))["ledger"]
    assert ledger_finding.ok and ledger_finding.found == "no ledger record"


def test_a_missing_backend_is_reported_with_bootstrap(dev):
    with mock_aws():
        findings = doctor.examine(MotoSession(), dev, [TENANTS])
    assert [(f.check, f.ok, f.fix) for f in findings] == [
        ("state readable", False, "invoke bootstrap --env dev"),
        ("lock", False, "invoke bootstrap --env dev")]


# --- an apply killed while Terraform applied: its intent has no ledger record ---------------


def _intent(session: Any, env: Any, before: str | None, started_at: str = "2026-11-26T10:00:00Z",
            bundle: str = "c" * 64, action: str = "apply") -> dict:
    """Write an intent as the deploy path does before Terraform applies (ledger-intents/,
    never deleted); its fields."""
    point = ledger.StatePoint(before, 1, "0f1e2d3c")
    intent = ledger.Record(
        env="dev", component="tenants", action=action, target="sandbox", commit="d" * 40,
        dirty=False, inputs_sha256="f" * 64, bundle_sha256=bundle, state_before=point,
        state_after=point, who="alice", started_at=started_at, finished_at=started_at,
        result=ledger.STARTED, verification=ledger.SKIPPED)
    ledger.write_intent(session, env, intent)
    return json.loads(intent.to_json())


_TABLE = {"mode": "managed", "type": "aws_dynamodb_table", "name": "extra", "instances": []}


def test_a_killed_apply_is_named_by_its_intent_not_as_outside_the_deploy_path(session, dev):
    first = _put_state(session, dev, _state(serial=1))
    ledger.write(session, dev, _record(first))
    _intent(session, dev, before=first)
    # Terraform wrote the state; the task was killed before it wrote the ledger record
    second = _put_state(session, dev, _state(serial=2, resources=[_TABLE]))

    found = _by_check(doctor.examine(session, dev, [TENANTS]))["ledger"]
    assert not found.ok
    assert found.found == (
        f"state version {second} was written by the apply of commit dddddddddddd started "
        "at 2026-11-26T10:00:00Z by alice, whose ledger record is missing (the run was killed "
        "while Terraform applied, unless it is still running: see the lock check)")
    assert "outside the deploy path" not in found.found + found.fix
    assert found.fix.startswith("check what it left with invoke verify --env dev --component "
                                "tenants, then record it by running the apply again through "
                                "the deploy path (invoke plan --env dev --component tenants, "
                                "then invoke apply --env dev --component tenants --confirm "
                                "deploy-dev, from a checkout of dddddddddddd)")


def test_a_killed_first_apply_is_named_too(session, dev):
    _intent(session, dev, before=None, action="promote")
    _put_state(session, dev, _state(serial=1, resources=[_TABLE]))
    found = _by_check(doctor.examine(session, dev, [TENANTS]))["ledger"]
    assert not found.ok and "was written by the promote of commit dddddddddddd" in found.found
    assert ("invoke promote --to dev --component tenants --commit dddddddddddd --confirm "
            "deploy-dev") in found.fix


def test_an_intent_with_its_record_explains_nothing(session, dev):
    """A recorded run leaves its intent behind; a later hand-written state is still outside
    the deploy path."""
    first = _put_state(session, dev, _state(serial=1))
    ledger.write(session, dev, _record(first))
    second = _put_state(session, dev, _state(serial=2, resources=[_TABLE]))
    intent = _intent(session, dev, before=first, started_at="2026-11-26T10:00:00Z")
    recorded = _record(second)
    recorded.started_at, recorded.bundle_sha256 = intent["started_at"], intent["bundle_sha256"]
    ledger.write(session, dev, recorded)
    assert _by_check(doctor.examine(session, dev, [TENANTS]))["ledger"].ok

    _put_state(session, dev, _state(serial=3, resources=[]))
    found = _by_check(doctor.examine(session, dev, [TENANTS]))["ledger"]
    assert not found.ok and "written outside the deploy path" in found.fix


def test_an_intent_older_than_the_last_record_explains_nothing(session, dev):
    _intent(session, dev, before=None, started_at="2026-11-26T08:00:00Z")  # killed long ago
    first = _put_state(session, dev, _state(serial=1))
    ledger.write(session, dev, _record(first))  # started 09:00, a later, recorded apply
    _put_state(session, dev, _state(serial=2, resources=[_TABLE]))
    found = _by_check(doctor.examine(session, dev, [TENANTS]))["ledger"]
    assert not found.ok and "written outside the deploy path" in found.fix


def test_intents_are_read_newest_first_and_since_a_time(session, dev):
    for started in ("2026-11-26T08:00:00Z", "2026-11-26T10:00:00Z", "2026-11-26T09:00:00Z"):
        _intent(session, dev, before=None, started_at=started)
    assert [i.started_at for i in doctor.intents(session, dev, "tenants")] == [
        "2026-11-26T10:00:00Z", "2026-11-26T09:00:00Z", "2026-11-26T08:00:00Z"]
    newer = doctor.intents(session, dev, "tenants", since="2026-11-26T09:00:00Z")
    assert [i.started_at for i in newer] == ["2026-11-26T10:00:00Z", "2026-11-26T09:00:00Z"]
    assert newer[0].state_before == ledger.StatePoint(None, 1, "0f1e2d3c")
    assert doctor.intents(session, dev, "products") == []


def test_the_findings_as_markdown_for_the_job_summary(session, dev):
    _put_state(session, dev, _state())
    text = doctor.markdown("state health in dev (sandbox)", [
        *doctor.examine(session, dev, [TENANTS]),
        doctor.Finding("tenants", "lock", False, "held | odd", "invoke unlock ...")])
    lines = text.splitlines()
    assert lines[0] == "### state health in dev (sandbox): problems found"
    assert lines[2] == "| component | check | result | found | fix |"
    assert "| tenants | lock | **FAIL** | held \\| odd | invoke unlock ... |" in lines
    assert "| tenants | digest | ok |" in text


def test_the_doctor_task_adds_its_findings_to_the_job_summary(session, dev, monkeypatch,
                                                               tmp_path):
    """What a cancelled or failed workflow job shows; a summary that cannot be written never
    changes doctor's verdict."""
    from bbws_infra.commands import listings
    from bbws_infra.targets import targets

    monkeypatch.setattr(targets, "reader_session", lambda target, env: session)
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    _put_state(session, dev, _state())
    assert listings.doctor(env="dev", component="tenants", target="sandbox") == 0
    assert summary.read_text().startswith(
        "### state health in dev (sandbox): every check passed\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path))  # a folder: the write fails
    assert listings.doctor(env="dev", component="tenants", target="sandbox") == 0
