"""`invoke report` on the sandbox: dev deployed and promoted to sit in a repository copy, drift
and verify result files as the scheduled runs leave them, then the page's data (commits,
pending promotions, backups, alarms, cost), what headless Chromium shows of the page, its
screenshot, and an env whose ledger cannot be read.

Chromium is Debian's package (/usr/bin/chromium): installed here and in CI; without it the
test is skipped, saying so."""

from __future__ import annotations

import json
import os
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest

from bbws_infra.core.registry import load_environment
from bbws_infra.report import browser, result_files
from tests.support.repo_copies import Copy, make_copy

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not Path(browser.CHROMIUM).is_file(),
                       reason=f"needs headless Chromium at {browser.CHROMIUM} (the Debian "
                              "package chromium)"),
]

ADDRESS = "module.table.aws_dynamodb_table.this"
# monitoring/alerts would add a minute of alarms on every table and index; one alarm of the
# kind it makes, made and set off through the sandbox's CloudWatch, shows how alarms appear
ALARM = "bbws-tenants-throttled-requests-sit"


@pytest.fixture(scope="module")
def copy(work, tmp_path_factory):
    yield from make_copy("report", work, tmp_path_factory)


def _write_result(copy: Copy, kind: str, env: str, component: str, **values: object) -> None:
    """A result file in the agreed shape, written as `invoke drift` / `invoke verify` do:
    a temporary file renamed into place."""
    path = result_files.result_path(kind, env, component, copy.work)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_suffix(".tmp")
    temp.write_text(json.dumps({"env": env, "component": component,
                                "checked_at": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                            time.gmtime()),
                                **values}))
    os.replace(temp, path)


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def _shown(dom: str) -> str:
    parser = _Text()
    parser.feed(dom.split("<body>", 1)[1])
    return " ".join(" ".join(parser.parts).split())


@pytest.fixture(scope="module")
def released(copy: Copy) -> str:
    """dev and sit run the copy's commit of the tenants table; sit has an on-demand backup of
    it and an alarm firing."""
    copy.ok("plan", "--env", "dev", "--component", "tenants")
    copy.ok("apply", "--env", "dev", "--confirm", "deploy-dev")
    copy.ok("promote", "--to", "sit", "--component", "tenants", "--confirm", "promote-sit")
    sit = copy.session("sit")
    sit.client("dynamodb").create_backup(TableName="tenants", BackupName="by-hand")
    cloudwatch = sit.client("cloudwatch")
    cloudwatch.put_metric_alarm(
        AlarmName=ALARM, Namespace="AWS/DynamoDB", MetricName="ThrottledRequests",
        Dimensions=[{"Name": "TableName", "Value": "tenants"}], Statistic="Sum", Period=60,
        EvaluationPeriods=1, Threshold=0, ComparisonOperator="GreaterThanThreshold")
    cloudwatch.set_alarm_state(AlarmName=ALARM, StateValue="ALARM",
                               StateReason="Threshold Crossed: 1 datapoint [3.0] > 0.0")
    return copy.head()


def test_the_page_shows_what_runs_where_and_chromium_renders_it(copy: Copy, released: str):
    first = released
    _write_result(copy, "drift", "dev", "tenants", commit=first, status="drifted",
                  findings=[{"address": ADDRESS, "action": "update", "fingerprint": "f1",
                             "attributes": ["point_in_time_recovery"], "allowed_by": None}])
    _write_result(copy, "verify", "sit", "tenants", commit=first, status="healthy",
                  problems=[], reason=None)

    started = time.monotonic()
    result = copy.invoke("report", "--json", "--screenshot")
    seconds = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    print(f"invoke report --json --screenshot took {seconds:.1f} s")
    data = json.loads(result.stdout)
    out = copy.work / "report"
    assert json.loads((out / "report.json").read_text()) == data
    assert data["target"] == "sandbox" and data["partial"] is False
    envs = {e["env"]: e for e in data["envs"]}
    rows = {(e, c["component"]): c for e in envs for c in envs[e]["components"]}

    assert rows[("dev", "tenants")]["deployed"]["commit"] == first
    assert rows[("sit", "tenants")]["deployed"]["commit"] == first
    assert rows[("sit", "tenants")]["deployed"]["action"] == "promote"
    assert all(rows[(e, "tenants")]["deployed"]["verification"] == "passed"
               for e in ("dev", "sit"))
    assert rows[("dev", "campaigns")]["deployed"] is None
    assert rows[("sit", "tenants")]["state"]["serial"] > 0
    assert all(r["deployed"] is None for r in envs["prod"]["components"])
    # the result files, or "not checked"
    assert rows[("dev", "tenants")]["drift"]["status"] == "drifted"
    assert rows[("dev", "tenants")]["drift"]["findings"] == [
        {"address": ADDRESS, "action": "update", "allowed_by": ""}]
    assert rows[("sit", "tenants")]["verify"]["status"] == "healthy"
    assert rows[("sit", "tenants")]["drift"]["status"] == "not checked"
    # pending: nothing for sit (it runs what dev verified), the commit for prod
    assert envs["sit"]["pending"] == [] and envs["dev"]["pending"] == []
    assert [(p["component"], p["commit"], p["verified_in"], p["running_here"])
            for p in envs["prod"]["pending"]] == [("tenants", first, "sit", "")]
    # backups of the deployed table, alarms, the cost
    [backup] = envs["sit"]["backups"]
    assert (backup["table"], backup["backup_name"], backup["backup_status"],
            backup["job_state"]) == ("tenants", "by-hand", "AVAILABLE", "none")
    assert backup["backup_arn"].startswith("arn:aws:dynamodb:af-south-1:815856636111:table/")
    assert [b["table"] for b in envs["dev"]["backups"]] == ["tenants"]
    assert envs["dev"]["alarms"] == []
    assert [(a["name"], a["state"]) for a in envs["sit"]["alarms"]] == [(ALARM, "ALARM")]
    assert rows[("sit", "tenants")]["monthly_usd"] > 0
    assert envs["sit"]["monthly_usd"] == rows[("sit", "tenants")]["monthly_usd"]
    timeline = [(e["env"], e["component"], e["action"]) for e in data["timeline"]]
    # newest first; each deployment of a table runs its migrations, which the timeline names
    assert [t for t in timeline if not t[2].startswith("migrate")] == [
        ("sit", "tenants", "promote"), ("dev", "tenants", "apply")]

    # what the browser shows of the page
    shown = _shown(browser.dump_dom(out / "index.html"))
    for text in (f"tenants {first}", f"{ADDRESS} update", "drifted (1)", "last verify: healthy",
                 "not checked", "Pending promotions: verified in sit, not yet in prod",
                 "Pending promotions from dev none: sit runs every commit dev verified",
                 "invoke promote --to prod", "History", "nothing deployed in prod yet",
                 "monthly cost of what runs", backup["backup_arn"], f"{ALARM} ALARM",
                 "1 firing", "sit needs attention"):
        assert text in shown, text
    assert "unreachable" not in shown and "Partial" not in shown
    png = (out / "report.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 50_000
    assert data["seconds"] < 30


def test_an_env_that_cannot_be_read_is_shown_and_the_page_still_written(
        copy: Copy, released: str, tmp_path: Path):
    prod = load_environment("prod")
    s3 = copy.session("prod").client("s3")
    policy = json.loads(s3.get_bucket_policy(Bucket=prod.state_bucket)["Policy"])
    policy["Statement"].append({"Sid": "NoListing", "Effect": "Deny", "Principal": "*",
                                "Action": "s3:ListBucket",
                                "Resource": f"arn:aws:s3:::{prod.state_bucket}"})
    s3.put_bucket_policy(Bucket=prod.state_bucket, Policy=json.dumps(policy))

    result = copy.invoke("report", "--env", "sit,prod", "--out", str(tmp_path))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "prod: unreachable:" in result.stdout and "AccessDenied" in result.stdout
    assert "sit: " in result.stdout and "Traceback" not in result.stderr
    shown = _shown((tmp_path / "index.html").read_text())  # the browser was tested above
    assert "prod unreachable:" in shown and "Partial" in shown
    assert "What runs in sit" in shown and "dev" not in [e["env"] for e in json.loads(
        (tmp_path / "report.json").read_text())["envs"]]
