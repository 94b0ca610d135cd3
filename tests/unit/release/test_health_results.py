"""The drift and verify result files: the statuses, "unknown" read from the ledger records (a
failed last apply, nothing applied; a run that applied nothing does not count), and the files
written atomically with exactly the agreed keys."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from bbws_infra.release import health_results as results
from bbws_infra.release.drift import AllowEntry
from bbws_infra.release.verify_checks import Check
from bbws_infra.state import ledger
from tests.support.work_dirs import using_work_dir
from tests.unit.release.test_drift import TABLE_AFTER, TABLE_BEFORE
from tests.unit.release.test_drift_fingerprints import _found

NOW = "2026-12-06T05:00:00Z"
COMMIT = "a" * 40


def _record(result: str, error: str = "") -> ledger.Record:
    return ledger.Record(
        env="dev", component="tenants", action="apply", target="sandbox", commit=COMMIT,
        dirty=False, inputs_sha256="", bundle_sha256="", state_before=ledger.StatePoint(),
        state_after=ledger.StatePoint(), who="bob", started_at="2026-12-05T10:00:00Z",
        finished_at="2026-12-05T10:01:00Z", result=result, verification=ledger.SKIPPED,
        error=error)


def test_drift_statuses_and_findings():
    found = _found(TABLE_BEFORE, TABLE_AFTER)
    drifted = results.drift_result("dev", "tenants", [found], COMMIT, NOW)
    assert drifted.status == results.DRIFTED
    (finding,) = drifted.findings
    assert (finding.address, finding.action, finding.attributes, finding.allowed_by) == (
        found.address, "changed", ["point_in_time_recovery[0].enabled"], None)
    accepted = replace(found, allowed_by=AllowEntry("*", "tenants", found.address, (),
                                                    "on purpose", 1))
    allowed = results.drift_result("dev", "tenants", [accepted], COMMIT, NOW)
    assert allowed.status == results.ALLOWLISTED
    assert allowed.findings[0].allowed_by == "on purpose"
    assert allowed.findings[0].fingerprint == finding.fingerprint
    assert results.drift_result("dev", "tenants", [], COMMIT, NOW).status == results.CLEAN
    assert results.drift_result("dev", "tenants", None, COMMIT, NOW).status == results.ERROR


def test_verify_statuses():
    passed, failed = Check("tenants", "table", "x", "x", True), Check("tenants", "pitr",
                                                                      "on", "off", False)
    assert results.verify_result("dev", "tenants", [passed], None, COMMIT, NOW).status == \
        results.HEALTHY
    failing = results.verify_result("dev", "tenants", [passed, failed], None, COMMIT, NOW)
    assert (failing.status, failing.problems) == (results.FAILING, ["pitr: expected on, "
                                                                    "found off"])
    unknown = results.verify_result("dev", "tenants", [passed], "why", COMMIT, NOW)
    assert (unknown.status, unknown.reason) == (results.UNKNOWN, "why")


def test_unknown_when_the_last_apply_failed_or_nothing_was_applied():
    assert results.unknown_reason("dev", "tenants", []) == \
        "nothing was ever applied to tenants in dev"
    assert results.unknown_reason("dev", "tenants", [_record(ledger.APPLIED)]) is None
    reason = results.unknown_reason("dev", "tenants", [
        _record(ledger.NOTHING_APPLIED), _record(ledger.NOT_APPLIED, "Error: boom\n  detail"),
        _record(ledger.APPLIED)])
    assert reason == ("the last apply of tenants in dev (commit aaaaaaaaaaaa, started "
                      "2026-12-05T10:00:00Z by bob) failed: Error: boom detail; what runs is "
                      "unknown until an apply goes through")
    # a run that provably applied nothing leaves what ran before
    assert results.unknown_reason("dev", "tenants", [_record(ledger.NOTHING_APPLIED),
                                                      _record(ledger.APPLIED)]) is None
    assert results.unknown_reason("dev", "tenants", [_record(ledger.NOTHING_APPLIED)]) == \
        "nothing was ever applied to tenants in dev"


@pytest.mark.parametrize("kind", [results.DRIFT, results.VERIFY])
def test_files_are_written_whole_with_the_agreed_keys(kind: str, tmp_path: Path):
    result = (results.drift_result("dev", "tenants", [_found(TABLE_BEFORE, TABLE_AFTER)],
                                   COMMIT, NOW) if kind == results.DRIFT
              else results.verify_result("dev", "tenants", [], "why", COMMIT, NOW))
    with using_work_dir(tmp_path):
        path = results.write(kind, result)
        again = results.write(kind, result)
    assert path == again == tmp_path / kind / "dev" / "tenants.json"
    assert [p.name for p in path.parent.iterdir()] == ["tenants.json"]  # no temporary left
    data = json.loads(path.read_text())
    common = {"env": "dev", "component": "tenants", "checked_at": NOW, "commit": COMMIT}
    assert {k: data[k] for k in common} == common
    if kind == results.DRIFT:
        assert set(data) == {*common, "status", "findings"}
        assert set(data["findings"][0]) == {"address", "action", "fingerprint", "attributes",
                                            "allowed_by"}
    else:
        assert data == {**common, "status": "unknown", "problems": [], "reason": "why"}
