"""The status page rendered from a model made by hand: self-contained, accessible (real
headers, a word for every status), ids whole; the job summary from the same model; the
sentence when Chromium is missing. What a real browser shows is tested on the sandbox
(tests/e2e/test_status_report.py)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from bbws_infra.core.errors import OperationError, UserError
from bbws_infra.report import browser, html_page, summary
from bbws_infra.report.model import (
    NOT_CHECKED,
    BackupInfo,
    Check,
    ComponentStatus,
    Deployment,
    EnvStatus,
    Event,
    Finding,
    Pending,
    Report,
    StateInfo,
)
from bbws_infra.state.alarm_states import AlarmState

A, B = "0123456789abcdef0123456789abcdef01234567", "fedcba9876543210fedcba9876543210fedcba98"
ARN = ("arn:aws:dynamodb:af-south-1:093646564004:table/tenants/backup/"
       "01733486400000-0123abcd")
VERSION = "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY+MTRCxf3vjVBH40Nr8X8gdRQBpUMLUo"
ADDRESS = 'aws_s3_bucket_object.template["receipts/receipt.html"]'


def _row(component: str, commit: str, verify: Check, drift: Check,
         verification: str = "passed") -> ComponentStatus:
    return ComponentStatus(
        component, Deployment(commit, False, "promote", "2026-12-01T10:00:00Z",
                              "Ann <ann@example.invalid>", verification,
                              ["table tenants: stream"] if verification == "failed" else []),
        StateInfo(VERSION, 12, "2026-12-01T10:00:00+00:00", 9), verify, drift, 1.5)


def _report() -> Report:
    dev = EnvStatus("dev", "536580886816", "af-south-1", components=[
        _row("tenants", B, Check("healthy", "2026-12-02T01:00:00Z", B), Check(
            "drifted", "2026-12-02T01:00:00Z", B, findings=[Finding(ADDRESS, "update")]))])
    sit = EnvStatus("sit", "815856636111", "af-south-1", components=[
        _row("tenants", A, Check(NOT_CHECKED), Check(NOT_CHECKED), "failed")],
        pending=[Pending("tenants", B, "dev", "2026-12-01T09:00:00Z", A)],
        backups=[BackupInfo("tenants", "tenants", "2026-12-01T09:59:00+00:00", "pre-deploy",
                            "AVAILABLE", ARN, "FAILED", "2026-12-01T03:00:00+00:00",
                            "the vault is gone")],
        alarms=[AlarmState("bbws-tenants-throttles-sit", "ALARM", "2026-12-02T02:00:00+00:00",
                           "Threshold Crossed", "ThrottledRequests"),
                AlarmState("bbws-tenants-errors-sit", "OK", "", "", "UserErrors")])
    prod = EnvStatus("prod", "093646564004", "af-south-1",
                     unreachable="AccessDenied when calling ListObjectsV2")
    return Report("aws", "2026-12-02T08:00:00+00:00", A, [dev, sit, prod], [
        Event("sit", "tenants", "promote", A, "applied", "failed", "2026-12-01T10:00:00Z",
              "Ann"),
        Event("dev", "tenants", "apply", B, "applied", "passed", "2026-12-01T09:00:00Z",
              "Bob")])


class _Structure(HTMLParser):
    """Tags, attributes and visible text of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(page: str) -> _Structure:
    found = _Structure()
    found.feed(page)
    return found


def test_the_page_is_self_contained_and_keeps_every_id_whole():
    page = html_page.render(_report())
    parsed = _parse(page)
    assert page.startswith("<!DOCTYPE html>")
    assert not any(tag in ("script", "link", "img", "iframe") for tag, _ in parsed.tags)
    assert not re.search(r"(https?:)?//[a-z]", page.split("<style>")[0]
                         + page.split("</style>")[1]), "no external URL"
    assert "url(" not in page and "@import" not in page
    text = "".join(parsed.text)
    for whole in (A, B, ARN, VERSION, ADDRESS, "536580886816"):
        assert whole in text, whole


def test_every_table_has_real_headers_and_every_status_a_word():
    parsed = _parse(html_page.render(_report()))
    headers = [attrs.get("scope") for tag, attrs in parsed.tags if tag == "th"]
    assert headers and set(headers) == {"col", "row"}
    assert sum(1 for tag, _ in parsed.tags if tag == "caption") == \
        sum(1 for tag, _ in parsed.tags if tag == "table")
    text = " ".join(" ".join(parsed.text).split())
    for words in ("healthy", "drifted (1)", NOT_CHECKED, "verified",
                  "verification failed (1)", "1 firing", "ALARM", "FAILED",
                  "unreachable: AccessDenied when calling ListObjectsV2",
                  "Partial: some of what this page shows could not be read",
                  "Pending promotions: verified in dev, not yet in sit",
                  "invoke promote --to sit", "monthly cost of what runs: 1.50 USD"):
        assert words in text, words
    # every badge (the coloured status) carries its word
    badges = [attrs for tag, attrs in parsed.tags if tag == "span"
              and "badge" in (attrs.get("class") or "")]
    assert badges and all((a.get("class") or "").split()[1] in ("ok", "bad", "warn", "none")
                          for a in badges)


def test_a_stale_result_says_so():
    report = _report()
    row = report.envs[0].components[0]
    report.envs[0].components[0] = ComponentStatus(
        row.component, row.deployed, row.state,
        Check("healthy", "2026-11-30T00:00:00Z", A, stale=True), row.drift, row.monthly_usd)
    assert "healthy, before the last deployment" in html_page.render(report)


def test_the_job_summary_says_the_same_from_the_same_model():
    text = summary.markdown(_report(), "index.html")
    assert f"| dev | tenants | `{B}` | 2026-12-01T10:00:00Z by Ann <ann@example.invalid> | " \
        "verified | healthy | drifted (1) | 1.50 USD |" in text
    assert "| prod | (all) | | | unreachable: AccessDenied when calling ListObjectsV2 |" in text
    assert f"- sit: tenants at `{B}` verified in dev, not yet here" in text
    assert "- sit: alarm bbws-tenants-throttles-sit firing since" in text


def test_without_chromium_the_screenshot_names_the_debian_package(monkeypatch, tmp_path):
    monkeypatch.setattr(browser, "CHROMIUM", str(tmp_path / "no-chromium"))
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("BBWS_CHROMIUM", raising=False)
    with pytest.raises(OperationError, match="install the Debian package chromium"):
        browser.screenshot(tmp_path / "index.html", tmp_path / "report.png")


def test_an_unknown_env_is_refused_in_one_sentence():
    from bbws_infra.commands.report import _envs

    assert _envs(None) == ["dev", "sit", "prod"]
    assert _envs("prod,dev") == ["dev", "prod"]
    with pytest.raises(UserError, match="Unknown environment 'qa'; choose one of"):
        _envs("dev,qa")
