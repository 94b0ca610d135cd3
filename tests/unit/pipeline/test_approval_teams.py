"""Who may approve: the approval roles mapped to GitHub teams in one place, as many as the
registry's count, and the check against a local stand-in for GitHub's team membership API
(tests/support/github_api.py): each role filled by a different approver who is an active member
of its team, or a one-sentence refusal."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bbws_infra.core.errors import UserError
from bbws_infra.core.registry import PROMOTION_ORDER, REQUIRED_APPROVALS
from bbws_infra.pipeline import github
from bbws_infra.pipeline.approval_teams import (
    APPROVER_ROLES,
    BREAK_GLASS_ROLE,
    TEAMS_TOKEN_VARIABLE,
    assign,
    check,
    roles,
)
from bbws_infra.pipeline.approvals import required
from tests.support.github_api import REPOSITORY, TEAMS_TOKEN, GitHubApi
from tests.support.local_http import serving


@pytest.fixture(scope="module")
def api() -> Iterator[GitHubApi]:
    with serving(GitHubApi()) as server:
        server.member("bbws-tech-leads", "dave", "carol")
        server.member("bbws-qa", "carol")
        server.member("bbws-qa", "quinn", state="pending")  # invited, not yet a member
        yield server


def environ(api: GitHubApi, **changes: str | None) -> dict[str, str]:
    values = {"GITHUB_REPOSITORY": REPOSITORY, "GITHUB_API_URL": api.url,
              TEAMS_TOKEN_VARIABLE: TEAMS_TOKEN, **changes}
    return {k: v for k, v in values.items() if v is not None}


@pytest.mark.parametrize("env_name", PROMOTION_ORDER)
def test_each_env_maps_as_many_roles_as_the_people_it_needs(env_name: str):
    assert len(roles(env_name)) == REQUIRED_APPROVALS[env_name]
    assert [r.title for r in APPROVER_ROLES["prod"]] == ["Tech Lead", "Product Owner", "DevOps"]
    assert [r.title for r in APPROVER_ROLES["sit"]] == ["Tech Lead", "QA"]
    assert [r.title for r in APPROVER_ROLES["dev"]] == ["Lead Dev"]


def test_a_break_glass_run_needs_the_env_s_roles_and_one_more():
    assert roles("prod-break-glass") == (*APPROVER_ROLES["prod"], BREAK_GLASS_ROLE)
    assert len(roles("prod-break-glass")) == required("prod-break-glass")


def test_one_person_fills_one_role_whatever_teams_they_are_in():
    tech, qa = roles("sit")
    teams = {"carol": {tech, qa}, "dave": {tech}}

    def member(role, login):
        return role in teams.get(login, set())

    # carol could be either; only the assignment carol=QA, dave=Tech Lead fills both
    assert assign(["carol", "dave"], (tech, qa), member) == {tech: "dave", qa: "carol"}
    assert assign(["carol"], (tech, qa), member) in ({tech: "carol"}, {qa: "carol"})


def test_approvers_from_the_roles_teams_pass(api: GitHubApi):
    sentence = check("sit", ("dave", "carol"), environ(api))
    assert sentence == ("sit: dave as Tech Lead, carol as QA (each an active member of the "
                        "role's team).")
    assert "/orgs/acme/teams/bbws-qa/memberships/carol" in api.requests


def test_the_wrong_team_a_pending_invitation_or_one_person_for_two_roles_is_refused(
        api: GitHubApi):
    for approvers in (("dave", "erin"), ("dave", "quinn"), ("carol", "erin")):
        with pytest.raises(UserError) as refused:
            check("sit", approvers, environ(api))
        sentence = str(refused.value)
        assert sentence.startswith("sit needs approvals from a Tech Lead (team "
                                   "bbws-tech-leads) and a QA (team bbws-qa); of this run's "
                                   f"approvers ({', '.join(approvers)}) none can stand as ")
        assert sentence.endswith("so nothing was changed.") and "\n" not in sentence


def test_without_the_teams_token_nothing_is_checked_and_nothing_changes(api: GitHubApi):
    with pytest.raises(UserError, match="needs GITHUB_TEAMS_TOKEN"):
        check("dev", ("bob",), environ(api, **{TEAMS_TOKEN_VARIABLE: None}))


def test_a_token_that_cannot_read_the_teams_is_an_error_not_a_refusal(api: GitHubApi):
    # the stand-in, as GitHub, answers 404 to a token without access: read as "not a member"
    with pytest.raises(UserError):
        check("dev", ("bob",), environ(api, **{TEAMS_TOKEN_VARIABLE: "ghs_other"}))


def test_github_unreachable_is_an_operation_error(api: GitHubApi):
    with pytest.raises(github.GitHubError, match="Could not read the membership of bob"):
        check("dev", ("bob",), environ(api, GITHUB_API_URL="http://127.0.0.1:9"))
