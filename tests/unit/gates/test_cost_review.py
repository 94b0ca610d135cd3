"""A plan's cost now and after its apply (cost_diff.py), the review a plan job writes beside its
bundle and its Markdown (cost_review.py), and the pull-request comment cut to GitHub's size limit
against the local GitHub stand-in (tests/support/github_api.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from bbws_infra.gates.cost_diff import price_changes, running_now, usd
from bbws_infra.gates.cost_review import (
    PendingMigration,
    PlanReview,
    cost_markdown,
    migrations_markdown,
    read_review,
)
from bbws_infra.pipeline import github
from tests.support.github_api import COMMENT_LIMIT, REPOSITORY, TOKEN, GitHubApi
from tests.support.local_http import PROXIES, serving

TABLE = "aws_dynamodb_table"


def _table(name: str, actions: list[str], before: dict | None, after: dict | None) -> dict:
    return {"address": f"{TABLE}.{name}", "mode": "managed", "type": TABLE, "name": name,
            "change": {"actions": actions, "before": before, "after": after}}


def _plan() -> dict:
    """kept (updated), added (created) and gone (deleted, no longer configured: its region
    comes from its ARN)."""
    values = {"billing_mode": "PAY_PER_REQUEST", "point_in_time_recovery": [{"enabled": True}]}
    gone = {**values, "arn": "arn:aws:dynamodb:eu-west-1:536580886816:table/gone"}
    return {
        "configuration": {
            "provider_config": {"aws": {"name": "aws", "expressions": {
                "region": {"constant_value": "af-south-1"}}}},
            "root_module": {"resources": [
                {"address": f"{TABLE}.kept", "provider_config_key": "aws"},
                {"address": f"{TABLE}.added", "provider_config_key": "aws"}]}},
        "resource_changes": [
            _table("kept", ["update"], values, {**values, "point_in_time_recovery": []}),
            _table("added", ["create"], None, values),
            _table("gone", ["delete"], gone, None),
            {"address": "data.aws_caller_identity.me", "mode": "data", "type":
             "aws_caller_identity", "change": {"actions": ["read"], "before": None,
                                               "after": {}}}]}


def test_what_runs_now_is_every_managed_resource_the_plan_does_not_create():
    now, regions = running_now(_plan())
    assert [c["address"] for c in now["resource_changes"]] == [f"{TABLE}.kept", f"{TABLE}.gone"]
    assert all(c["change"]["actions"] == ["no-op"] for c in now["resource_changes"])
    assert now["resource_changes"][0]["change"]["after"]["point_in_time_recovery"] == [
        {"enabled": True}]  # its values before the plan
    assert regions == {f"{TABLE}.gone": "eu-west-1"}


def test_the_difference_is_the_plan_s_with_one_engine_on_both_sides():
    (cost,) = price_changes("dev", {"tables": _plan()}).components
    # now: kept with PITR, gone (eu-west-1 prices); after: kept without PITR, added with it
    assert cost.now > 0 and cost.after > 0
    assert cost.difference == pytest.approx(cost.after - cost.now)
    assert cost.now != cost.after  # the region and PITR differ between the sides
    assert (usd(1.5), usd(1.5, signed=True), usd(-0.004, signed=True)) == (
        "1.50", "+1.50", "±0.00")


def _review(component: str, now: float, after: float, table: bool = True,
            pending: list[PendingMigration] | None = None, env: str = "dev") -> PlanReview:
    return PlanReview(env, component, "c0ffee", f"sha-{component}", 3, now, after, 100.0
                      if env != "prod" else None, "bbws price table", table, pending or [])


def test_a_review_names_its_plan_file_and_renders_cost_and_migrations(tmp_path: Path):
    pending = [PendingMigration("0002_backfill_email_domain", "lower-case email domains")]
    review = _review("tenants", 1.0, 120.5, pending=pending)
    (tmp_path / "review.json").write_text(review.to_json())
    assert read_review(tmp_path, "sha-tenants") == review
    assert read_review(tmp_path, "sha-another-plan") is None  # beside a newer bundle
    reviews = [review, _review("templates", 0.05, 0.05, table=False),
               _review("tenants", 2.0, 2.0, env="prod")]
    text = cost_markdown(reviews)
    assert "| tenants | 1.00 | 120.50 | +119.50 |" in text
    assert "| templates | 0.05 | 0.05 | ±0.00 |" in text
    assert "> [!WARNING]\n> **OVER THRESHOLD: the estimate of 120.55 USD a month exceeds" in text
    assert "prod has no review threshold." in text
    assert text.index("Monthly cost in dev") < text.index("Monthly cost in prod")
    assert migrations_markdown(reviews).splitlines()[2:] == [
        "- dev `tenants`: then runs `0002_backfill_email_domain` over tenants (lower-case "
        "email domains)",
        "- prod `tenants`: none pending"]


def test_a_text_is_cut_at_a_line_end_never_inside_a_code_block():
    text = "intro\n```\n" + "x" * 50 + "\n" * 3 + "y" * 50 + "\n```\nafter\n"
    cut = github.truncated(text, 120, "see the job summary")
    assert len(cut) <= 120 and cut.count("```") % 2 == 0
    assert cut.endswith("**Truncated** to fit GitHub's comment limit: see the job summary\n")
    assert github.truncated("short", 120, "p") == "short"


@pytest.fixture()
def api(monkeypatch, tmp_path: Path) -> Iterator[GitHubApi]:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 7}}))
    for name, value in (("GITHUB_EVENT_PATH", str(event)), ("GITHUB_TOKEN", TOKEN),
                        ("GITHUB_REPOSITORY", REPOSITORY)):
        monkeypatch.setenv(name, value)
    for proxy in PROXIES:
        monkeypatch.delenv(proxy, raising=False)
    with serving(GitHubApi()) as server:
        monkeypatch.setenv("GITHUB_API_URL", server.url)
        yield server


def test_a_comment_over_github_s_limit_is_cut_with_a_pointer_and_accepted(api: GitHubApi):
    huge = "".join(f"| `module.table.aws_dynamodb_table.t{i}` | create |\n"
                   for i in range(3000))
    assert len(huge) > COMMENT_LIMIT
    # GitHub (and the stand-in) refuse the whole text
    with pytest.raises(github.GitHubError, match="422"):
        github.request("POST", f"{api.url}/repos/{REPOSITORY}/issues/7/comments", TOKEN,
                        {"body": huge})
    said = github.upsert_comment("bbws-infra plans", huge, "the whole text is in the job "
                                 "summary and the plan artifacts.")
    assert said == "commented the plan on pull request #7"
    (body,) = api.comment_bodies(7)
    assert len(body) <= COMMENT_LIMIT
    assert body.endswith("the whole text is in the job summary and the plan artifacts.\n")
    # the next run updates that comment in place
    assert github.upsert_comment("bbws-infra plans", "small", "p") == \
        "updated the plan comment on pull request #7"
    assert api.comment_bodies(7) == ["<!-- bbws-infra plans -->\nsmall"]


def test_what_the_table_cannot_price_is_named_under_the_cost_table():
    review = _review("tenants", 1.0, 1.0)
    review.warnings = ["module.table.aws_dynamodb_table.this: global-table replicas are not "
                       "priced by the bbws table."]
    text = cost_markdown([review])
    assert ("Not in the estimate:\n- module.table.aws_dynamodb_table.this: global-table "
            "replicas are not priced by the bbws table.") in text
