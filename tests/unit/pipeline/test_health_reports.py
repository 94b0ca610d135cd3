"""Triage against local stand-ins of GitHub's issues API and a Slack webhook: one issue per env
and component, found by its label and hidden marker (not its title), opened, left alone while
nothing changes, edited with a comment when it changes, closed when the problem is gone, a
duplicate closed; Slack told once per change; a missing token refused before anything."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from bbws_infra.core.errors import OperationError, UserError
from bbws_infra.pipeline import health_reports
from bbws_infra.pipeline.health_issues import IssueTracker, Subject
from bbws_infra.release import health_results as results
from bbws_infra.release.drift import AllowEntry
from bbws_infra.release.verify_checks import Check
from tests.support.github_issues_api import IssuesApi
from tests.support.local_http import PROXIES, serving
from tests.support.slack_webhook import SlackWebhook
from tests.unit.release.test_drift import TABLE_AFTER, TABLE_BEFORE
from tests.unit.release.test_drift_fingerprints import _found

REPOSITORY, TOKEN = "acme/bbws-infra", "ghs_token"
NOW, COMMIT = "2026-12-06T05:00:00Z", "b" * 40


@pytest.fixture
def github(monkeypatch: pytest.MonkeyPatch) -> Iterator[IssuesApi]:
    for name in PROXIES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("GITHUB_RUN_ID", raising=False)
    monkeypatch.setenv("GITHUB_ACTOR", "scheduler")
    monkeypatch.setenv("GITHUB_REPOSITORY", REPOSITORY)
    with serving(IssuesApi(REPOSITORY, TOKEN)) as server:
        yield server


@pytest.fixture
def slack(monkeypatch: pytest.MonkeyPatch) -> Iterator[SlackWebhook]:
    with serving(SlackWebhook()) as server:
        monkeypatch.setenv("SLACK_WEBHOOK_URL", server.url)
        yield server


def _drift_report(found: list | None) -> health_reports.Report:
    result = results.drift_result("dev", "tenants", found, COMMIT, NOW)
    return health_reports.drift_report(result, found, "" if found is not None else "boom")


def _tracker(github: IssuesApi) -> IssueTracker:
    return IssueTracker(github.url, REPOSITORY, TOKEN)


def test_drift_opens_one_issue_leaves_it_edits_it_and_closes_it(github: IssuesApi,
                                                                  slack: SlackWebhook):
    tracker = _tracker(github)
    # an issue with the same title but no marker, and a pull request with the marker: neither
    # is the drift's issue
    github.add("Drift: tenants in dev", "written by a person", ["drift"])
    github.add("fix", Subject("drift", "dev", "tenants").marker, ["drift"], pull_request=True)
    drifted = _found(TABLE_BEFORE, TABLE_AFTER)
    done = health_reports.triage([_drift_report([drifted])], tracker)
    assert done[0] == "drift tenants in dev: opened issue #3"
    issue = dict(github.issues[3])
    assert issue["labels"] == [{"name": "drift"}]
    assert issue["body"].startswith("<!-- bbws-health drift dev tenants -->\n"
                                    "<!-- bbws-signature ")
    assert slack.texts() == [f"dev: drift appeared (tenants (issue #3)) at {COMMIT[:12]} by "
                             "scheduler (GitHub Actions)"]

    writes = len(github.writes())
    assert health_reports.triage([_drift_report([drifted])], tracker) == [
        "drift tenants in dev: unchanged, issue #3 left as it is"]
    assert len(github.writes()) == writes and len(slack.messages) == 1

    tagged = _found(TABLE_BEFORE, {**TABLE_AFTER, "tags": {"Owner": "ops"}})
    health_reports.triage([_drift_report([tagged])], tracker)
    assert "tags.Owner: (absent) -> \"ops\"" in github.issues[3]["body"]
    assert github.issues[3]["body"] != issue["body"]
    assert github.comments[3] == [
        "This changed: tenants in dev. The description above is the new state. **tenants** "
        "in **dev** differs from its Terraform state: 1 address(es) changed outside Terraform "
        "that the allowlist does not accept."]
    assert slack.texts()[1].startswith("dev: drift changed (tenants (issue #3))")

    # allowlisted: closed, with the reason in the comment
    accepted = replace(tagged, allowed_by=AllowEntry("*", "tenants", tagged.address, (), "ok",
                                                     1))
    assert health_reports.triage([_drift_report([accepted])], tracker) == [
        "drift tenants in dev: closed issue #3", "  Sent the dev drift notification to Slack."]
    assert github.issues[3]["state"] == "closed"
    assert github.comments[3][-1].startswith("The drift of tenants in dev is all allowlisted "
                                             "now. Checked 2026-12-06T05:00:00Z at commit "
                                             f"`{COMMIT}`.")
    assert slack.texts()[2].startswith("dev: drift gone (tenants (issue #3))")
    # clean next time: nothing to close, nothing posted
    health_reports.triage([_drift_report([])], tracker)
    assert len(slack.messages) == 3 and len(github.with_label("drift", "open")) == 1  # #1


def test_a_check_that_cannot_run_is_an_issue_too(github: IssuesApi, slack: SlackWebhook):
    health_reports.triage([_drift_report(None)], _tracker(github))
    (issue,) = github.with_label("drift", "open")
    assert "could not run: boom" in issue["body"]
    assert slack.texts()[0].startswith("dev: drift FAILED (tenants (issue #1))")


def test_duplicates_are_closed_and_the_oldest_kept(github: IssuesApi, slack: SlackWebhook):
    marker = Subject("drift", "dev", "tenants").marker
    github.add("Drift: tenants in dev", marker + "\n<!-- bbws-signature x -->", ["drift"])
    github.add("Drift: tenants in dev (again)", marker, ["drift"])
    done = health_reports.triage([_drift_report([_found(TABLE_BEFORE, TABLE_AFTER)])],
                                 _tracker(github))
    assert done[0] == "drift tenants in dev: updated issue #1"
    assert github.issues[2]["state"] == "closed"
    assert github.issues[2]["state_reason"] == "not_planned"
    assert github.comments[2] == ["Closed as a duplicate of #1, which tracks the same check."]


def test_verify_unknown_and_failing_then_healthy(github: IssuesApi, slack: SlackWebhook):
    tracker = _tracker(github)
    ok, bad = Check("tenants", "table", "x", "x", True), Check("tenants", "pitr", "on", "off",
                                                               False)
    unknown = results.verify_result("dev", "tenants", [ok], "the last apply failed", COMMIT,
                                    NOW)
    health_reports.triage([health_reports.verify_report(unknown, [ok])], tracker)
    (issue,) = github.with_label("verify", "open")
    assert issue["title"] == "Verify: tenants in dev is unknown"
    assert "is **unknown**: the last apply failed." in issue["body"]
    writes = len(github.writes())
    assert health_reports.triage([health_reports.verify_report(unknown, [ok])], tracker) == [
        "verify tenants in dev: unchanged, issue #1 left as it is"]
    assert len(github.writes()) == writes
    failing = results.verify_result("dev", "tenants", [ok, bad], None, COMMIT, NOW)
    health_reports.triage([health_reports.verify_report(failing, [ok, bad])], tracker)
    assert github.issues[1]["title"] == "Verify: tenants in dev is failing"
    assert "| pitr | on | off |" in github.issues[1]["body"]
    healthy = results.verify_result("dev", "tenants", [ok], None, COMMIT, NOW)
    health_reports.triage([health_reports.verify_report(healthy, [ok])], tracker)
    assert github.issues[1]["state"] == "closed"
    assert [t.split(" at ")[0] for t in slack.texts()] == [
        "dev: verify unknown (tenants (issue #1))", "dev: verify changed (tenants (issue #1))",
        "dev: verify gone (tenants (issue #1))"]


def test_slack_failing_is_reported_after_the_issues(github: IssuesApi,
                                                    monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SLACK_WEBHOOK_URL", github.url + "/not-a-webhook")
    with pytest.raises(OperationError, match="The issues are up to date, but Slack was not "
                                             "told: The Slack webhook answered HTTP 404"):
        health_reports.triage([_drift_report([_found(TABLE_BEFORE, TABLE_AFTER)])],
                              _tracker(github))
    assert len(github.with_label("drift", "open")) == 1


def test_an_issue_opened_without_its_label_is_an_error(github: IssuesApi,
                                                       slack: SlackWebhook):
    """Found by its label only: without it every run would open another issue."""
    github.drop_labels = True
    with pytest.raises(OperationError, match="GitHub opened issue #1 without the label "
                                             "'drift', so the next run could not find it"):
        health_reports.triage([_drift_report(None)], _tracker(github))
    assert slack.messages == []


def test_triage_needs_the_token_and_repository(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.setenv("GITHUB_REPOSITORY", REPOSITORY)
    with pytest.raises(UserError, match="--triage keeps GitHub issues and needs GITHUB_TOKEN "
                                        r"\(GitHub Actions"):
        IssueTracker.from_environment()
