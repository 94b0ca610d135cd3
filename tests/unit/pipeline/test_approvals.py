"""Counting a run's approvals: the registry's numbers, the approval environments, who counts
(different people, not whoever started the run, approvals only, the env's environments only),
and the review history read from a local stand-in for GitHub's REST API on 127.0.0.1, with
answers shaped like GitHub's "Get the review history for a workflow run"."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from bbws_infra.commands import ci
from bbws_infra.core.errors import OperationError, UserError
from bbws_infra.core.paths import REPO_ROOT
from bbws_infra.core.registry import PROMOTION_ORDER, REQUIRED_APPROVALS, load_environment
from bbws_infra.pipeline import approvals, github, iam_policy
from bbws_infra.pipeline.approvals import Review, check, gates, parse_reviews, tally, verdict
from tests.support.local_http import PROXIES, serving

REPOSITORY = "acme/bbws-infra"
RUN_ID = "9876543210"
PATH = f"/repos/{REPOSITORY}/actions/runs/{RUN_ID}/approvals"


def environment(name: str, number: int) -> dict[str, Any]:
    """An environment as GitHub lists it in a review."""
    return {
        "id": 161088000 + number, "node_id": f"EN_kwDOAbCdEf{number:04d}", "name": name,
        "url": f"https://api.github.com/repos/{REPOSITORY}/environments/{name}",
        "html_url": f"https://github.com/{REPOSITORY}/deployments/activity_log"
                    f"?environments_filter={name}",
        "created_at": "2024-03-04T09:12:40Z", "updated_at": "2024-03-04T09:12:40Z",
    }


def user(login: str, number: int) -> dict[str, Any]:
    """A user as GitHub lists the reviewer (a simple-user object)."""
    return {
        "login": login, "id": 5830000 + number, "node_id": f"MDQ6VXNlcjU4{number:04d}",
        "avatar_url": f"https://avatars.githubusercontent.com/u/{5830000 + number}?v=4",
        "gravatar_id": "", "url": f"https://api.github.com/users/{login}",
        "html_url": f"https://github.com/{login}", "type": "User", "site_admin": False,
    }


def review(login: str, *environments: str, state: str = "approved",
           comment: str = "") -> dict[str, Any]:
    """One entry of the review history, as GitHub answers it."""
    return {"state": state, "comment": comment,
            "environments": [environment(e, i) for i, e in enumerate(environments)],
            "user": user(login, sum(map(ord, login)))}


# A recorded answer: a prod run approved in its three environments by three people.
RECORDED = [
    {"state": "approved", "comment": "plan looks right: 2 GSIs added, nothing replaced",
     "environments": [environment("prod-approval-1", 1)], "user": user("bob", 2)},
    {"state": "approved", "comment": "",
     "environments": [environment("prod-approval-2", 2)], "user": user("carol", 3)},
    {"state": "approved", "comment": "ok for prod",
     "environments": [environment("prod", 3)], "user": user("dave", 4)},
]


# --- the registry's numbers and the approval environments ---------------------------------


def test_the_registry_names_the_count_of_every_environment_once():
    assert tuple(REQUIRED_APPROVALS) == PROMOTION_ORDER
    assert REQUIRED_APPROVALS == {"dev": 1, "sit": 2, "prod": 3}


@pytest.mark.parametrize("env_name", PROMOTION_ORDER)
def test_an_env_needing_n_people_has_n_minus_one_approval_environments(env_name: str):
    needed = REQUIRED_APPROVALS[env_name]
    assert gates(env_name) == [f"{env_name}-approval-{n}" for n in range(1, needed)]
    assert approvals.counted_environments(env_name) == [*gates(env_name), env_name]


def test_dev_needs_one_approval_and_no_approval_environment():
    assert gates("dev") == []
    assert approvals.required("dev") == 1


def test_an_unknown_env_is_refused():
    with pytest.raises(UserError, match="Unknown environment 'qa'; choose one of: dev, sit"):
        gates("qa")


@pytest.mark.parametrize("env_name", PROMOTION_ORDER)
def test_no_aws_role_trusts_an_approval_environment(env_name: str):
    env = load_environment(env_name)
    assert not set(gates(env_name)) & set(iam_policy.github_environments(env))
    subjects = json.dumps([iam_policy.trust_policy(env, REPOSITORY, role)
                           for role in iam_policy.ROLES])
    assert "approval" not in subjects
    # no other env's approval environment either, and no wildcard that could match one
    assert "*" not in subjects and "?" not in subjects


def test_a_gate_job_says_what_it_stands_for():
    assert approvals.describe_gate("prod", "prod-approval-2") == (
        "prod-approval-2: approval 2 of the 3 that prod needs; the job bound to prod is the "
        "last one, and it counts the different people who approved before it changes "
        "anything.")
    with pytest.raises(UserError, match="'sit-approval-2' is not an approval environment of "
                                        "sit"):
        approvals.describe_gate("sit", "sit-approval-2")
    with pytest.raises(UserError, match="dev needs one approval, its own"):
        approvals.describe_gate("dev", "dev-approval-1")


def test_the_setup_doc_lists_every_approval_environment():
    text = (REPO_ROOT / "docs" / "github.md").read_text()
    for env_name in PROMOTION_ORDER:
        for name in gates(env_name):
            assert f"`{name}`" in text, name


# --- who counts ---------------------------------------------------------------------------


def reviews(*entries: dict[str, Any]) -> list[Review]:
    return parse_reviews(json.loads(json.dumps(list(entries))), "the test")


def test_the_recorded_answer_is_read_as_it_is():
    assert parse_reviews(RECORDED, "the test") == [
        Review("bob", "approved", ("prod-approval-1",)),
        Review("carol", "approved", ("prod-approval-2",)),
        Review("dave", "approved", ("prod",)),
    ]
    result = tally(parse_reviews(RECORDED, "the test"), "prod", ["alice"])
    assert result.enough and result.approvers == ("bob", "carol", "dave")
    assert verdict(result) == ("prod: approved by bob, carol and dave, 3 different people "
                               "besides alice, who started this run (3 required).")


def test_enough_different_approvers_pass():
    result = tally(reviews(review("bob", "sit-approval-1"), review("carol", "sit")), "sit",
                   ["alice"])
    assert (result.enough, result.missing, result.approvers) == (True, 0, ("bob", "carol"))


def test_the_same_person_approving_two_gates_counts_once():
    result = tally(reviews(review("bob", "prod-approval-1"), review("bob", "prod-approval-2"),
                           review("carol", "prod")), "prod", ["alice"])
    assert (result.enough, result.missing, result.approvers) == (False, 1, ("bob", "carol"))
    assert verdict(result) == (
        "prod needs approvals from 3 different people besides alice, who started this run, "
        "but bob and carol approved: 1 missing, so nothing was changed.")


def test_one_review_of_several_environments_is_one_person():
    result = tally(reviews(review("bob", "sit-approval-1", "sit")), "sit", ["alice"])
    assert (result.approvers, result.missing) == (("bob",), 1)


def test_logins_compare_case_insensitively():
    result = tally(reviews(review("Bob", "sit-approval-1"), review("bob", "sit")), "sit",
                   ["alice"])
    assert (result.approvers, result.missing) == (("Bob",), 1)


def test_whoever_started_the_run_does_not_count():
    result = tally(reviews(review("alice", "sit-approval-1"), review("bob", "sit")), "sit",
                   ["Alice"])
    assert (result.approvers, result.not_counted, result.missing) == (("bob",), ("alice",), 1)
    assert verdict(result) == (
        "sit needs approvals from 2 different people besides Alice, who started this run, but "
        "only bob approved (alice's own approval does not count): 1 missing, so nothing was "
        "changed.")


def test_whoever_re_ran_the_run_does_not_count_either():
    history = reviews(review("bob", "sit-approval-1"), review("carol", "sit"))
    result = tally(history, "sit", ["alice", "bob"])
    assert (result.approvers, result.not_counted, result.missing) == (("carol",), ("bob",), 1)
    assert "besides alice and bob, who started and re-ran this run" in verdict(result)


def test_rejections_and_pending_comments_do_not_count():
    result = tally(reviews(review("bob", "sit-approval-1", state="rejected"),
                           review("carol", "sit", state="pending", comment="looking"),
                           review("dave", "sit")), "sit", ["alice"])
    assert (result.approvers, result.missing) == (("dave",), 1)


def test_approvals_of_other_environments_do_not_count():
    result = tally(reviews(review("bob", "dev"), review("carol", "prod-approval-1"),
                           review("erin", "sit-plan"), review("dave", "sit")), "sit", ["alice"])
    assert (result.approvers, result.missing) == (("dave",), 1)


def test_nobody_approving_is_said_plainly():
    result = tally([], "prod", ["alice"])
    assert verdict(result) == (
        "prod needs approvals from 3 different people besides alice, who started this run, "
        "but nobody else approved: 3 missing, so nothing was changed.")


def test_dev_needs_one_other_person():
    assert tally(reviews(review("bob", "dev")), "dev", ["alice"]).enough
    result = tally(reviews(review("alice", "dev")), "dev", ["alice"])
    assert (result.enough, result.missing) == (False, 1)


@pytest.mark.parametrize("payload", [
    {"message": "Not Found"},
    [{"state": "approved", "environments": [{"name": "sit"}]}],  # no user
    [{"state": "approved", "environments": [{"id": 1}], "user": {"login": "bob"}}],
    [{"environments": [{"name": "sit"}], "user": {"login": "bob"}}],
    [{"state": "approved", "environments": None, "user": {"login": "bob"}}],
    ["approved"],
])
def test_an_answer_of_another_shape_is_one_sentence(payload: Any):
    with pytest.raises(OperationError) as caught:
        parse_reviews(payload, "the test")
    assert_one_sentence(caught.value, "nothing was changed.")
    assert caught.value.exit_code == 1


# --- the review history from the API ------------------------------------------------------


class Api(ThreadingHTTPServer):
    """GitHub's REST API for one run's review history: records each request, answers with
    `status` and `body` after `delay` seconds."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[dict[str, Any]] = []
        self.status, self.delay = 200, 0.0
        self.body: bytes = b"[]"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def answer(self, *entries: dict[str, Any]) -> None:
        self.status, self.body = 200, json.dumps(list(entries)).encode()


class _Handler(BaseHTTPRequestHandler):
    server: Api

    def do_GET(self) -> None:
        self.server.requests.append({"path": self.path, "headers": {
            name.lower(): value for name, value in self.headers.items()}})
        time.sleep(self.server.delay)
        found = self.path == PATH
        body = self.server.body if found else b'{"message": "Not Found"}'
        self.send_response(self.server.status if found else 404)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    for name in PROXIES:  # a proxy from the environment must not take 127.0.0.1
        monkeypatch.delenv(name, raising=False)
    with serving(Api()) as server:
        yield server


def run_environ(api: Api, **changes: str | None) -> dict[str, str]:
    """What the runner and the step give the apply job (GITHUB_TOKEN from github.token)."""
    environ = {"GITHUB_RUN_ID": RUN_ID, "GITHUB_REPOSITORY": REPOSITORY,
               "GITHUB_API_URL": api.url, "GITHUB_TOKEN": "ghs_runtoken",
               "GITHUB_TRIGGERING_ACTOR": "alice", "GITHUB_ACTOR": "alice", **changes}
    return {k: v for k, v in environ.items() if v is not None}


def assert_one_sentence(error: BaseException, ending: str) -> None:
    text = str(error)
    assert "\n" not in text and "Traceback" not in text
    assert text.endswith(ending), text
    assert text.count(". ") == 0, text


def test_the_run_s_review_history_is_read_with_the_run_s_token(api: Api):
    api.answer(*RECORDED)
    result = check("prod", run_environ(api))
    assert result.approvers == ("bob", "carol", "dave")
    (request,) = api.requests
    assert request["path"] == PATH
    assert request["headers"]["authorization"] == "Bearer ghs_runtoken"
    assert request["headers"]["accept"] == "application/vnd.github+json"
    assert request["headers"]["x-github-api-version"] == "2022-11-28"


def test_too_few_approvals_refuse_with_exit_2(api: Api):
    api.answer(review("bob", "sit-approval-1"), review("bob", "sit"))
    with pytest.raises(UserError) as caught:
        check("sit", run_environ(api))
    assert caught.value.exit_code == 2
    assert str(caught.value) == (
        "sit needs approvals from 2 different people besides alice, who started this run, but "
        "only bob approved: 1 missing, so nothing was changed.")


def test_the_re_running_actor_is_excluded_too(api: Api):
    api.answer(review("bob", "sit-approval-1"), review("carol", "sit"))
    assert check("sit", run_environ(api, GITHUB_ACTOR="dave")).enough
    with pytest.raises(UserError, match="besides bob and alice, who started and re-ran"):
        check("sit", run_environ(api, GITHUB_TRIGGERING_ACTOR="bob"))


@pytest.mark.parametrize(("status", "hint"), [(403, True), (404, True), (401, True),
                                              (500, False), (502, False)])
def test_an_api_error_is_one_sentence(api: Api, status: int, hint: bool):
    api.status = status
    with pytest.raises(github.GitHubError) as caught:
        check("prod", run_environ(api))
    assert caught.value.exit_code == 1
    assert_one_sentence(caught.value, "; nothing was changed.")
    assert f"GitHub answered {status} to GET {api.url}{PATH}" in str(caught.value)
    assert ("permissions: actions: read" in str(caught.value)) is hint


def test_an_answer_that_is_not_json_is_one_sentence(api: Api):
    api.body = b"<html>rate limited</html>"
    with pytest.raises(github.GitHubError) as caught:
        check("sit", run_environ(api))
    assert_one_sentence(caught.value, "; nothing was changed.")
    assert "is not JSON" in str(caught.value)


def test_an_unreachable_api_is_one_sentence(api: Api):
    url = api.url
    api.shutdown()
    api.server_close()
    with pytest.raises(github.GitHubError) as caught:
        check("sit", run_environ(api, GITHUB_API_URL=url))
    assert_one_sentence(caught.value, "; nothing was changed.")
    assert "Could not reach GitHub" in str(caught.value)


def test_a_slow_api_times_out(api: Api, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(approvals, "TIMEOUT_SECONDS", 0.2)
    api.delay = 2.0
    started = time.monotonic()
    with pytest.raises(github.GitHubError) as caught:
        check("sit", run_environ(api))
    assert time.monotonic() - started < 1.5
    assert_one_sentence(caught.value, "; nothing was changed.")


def test_outside_a_workflow_run_the_check_refuses_and_asks_nothing(api: Api):
    with pytest.raises(UserError) as caught:
        check("prod", run_environ(api, GITHUB_RUN_ID=None))
    assert caught.value.exit_code == 2
    assert str(caught.value).startswith("invoke approvals counts the approvals of a GitHub "
                                        "Actions workflow run and only applies inside one")
    assert_one_sentence(caught.value, "nothing was checked.")
    assert api.requests == []


@pytest.mark.parametrize("variable", ["GITHUB_TOKEN", "GITHUB_REPOSITORY",
                                      "GITHUB_TRIGGERING_ACTOR"])
def test_a_missing_runner_variable_is_named(api: Api, variable: str):
    with pytest.raises(UserError) as caught:
        check("sit", run_environ(api, **{variable: None}))
    assert f"Counting this run's approvals needs {variable} " in str(caught.value)
    assert_one_sentence(caught.value, "nothing was changed.")
    assert api.requests == []


@pytest.mark.parametrize("changes", [{"GITHUB_RUN_ID": "12/../../x"},
                                     {"GITHUB_REPOSITORY": "acme/x?y=1"}])
def test_odd_runner_values_are_refused(api: Api, changes: dict[str, str]):
    with pytest.raises(UserError, match="is not what GitHub Actions sets"):
        check("sit", run_environ(api, **changes))
    assert api.requests == []


# --- the task's command -------------------------------------------------------------------


def test_the_command_prints_the_verdict_and_adds_it_to_the_job_summary(
        api: Api, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys):
    for name, value in run_environ(api).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary.md"))
    # who is in which approval team is checked after the count (against GitHub's team API in
    # test_approval_teams.py); here everyone is
    monkeypatch.setattr("bbws_infra.pipeline.approval_teams.check",
                        lambda env, approvers, environ: f"{env}: {approvers[0]} as Lead Dev.")
    api.answer(review("bob", "dev"))
    assert ci.approvals(env="dev") == 0
    said = "dev: approved by bob, 1 person besides alice, who started this run (1 required)."
    assert said in " ".join(capsys.readouterr().out.split())
    assert said in (tmp_path / "summary.md").read_text()

    api.answer(review("alice", "dev"))
    assert ci.approvals(env="dev") == 2
    error = " ".join(capsys.readouterr().err.split())
    assert error == ("error: dev needs approvals from 1 person besides alice, who "
                     "started this run, but nobody else approved (alice's own approval does "
                     "not count): 1 missing, so nothing was changed.")


def test_the_command_lists_the_gates_as_a_step_output(monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path, capsys):
    output = tmp_path / "output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    for env_name in PROMOTION_ORDER:
        assert ci.approvals(env=env_name, show_gates=True) == 0
        assert json.loads(capsys.readouterr().out) == gates(env_name)
    assert output.read_text().splitlines() == [
        "gates=[]", 'gates=["sit-approval-1"]', 'gates=["prod-approval-1", "prod-approval-2"]']


def test_the_command_outside_a_workflow_run_exits_2(monkeypatch: pytest.MonkeyPatch, capsys):
    monkeypatch.delenv("GITHUB_RUN_ID", raising=False)
    assert ci.approvals(env="sit") == 2
    assert "only applies inside one" in " ".join(capsys.readouterr().err.split())
    assert ci.approvals(env="sit", show_gates=True, gate="sit-approval-1") == 2


# --- a re-run counts only its own attempt's approvals -------------------------------------

# attempt 1 of a sit run: bob approved sit-approval-1 and carol sit (the apply then failed)
FIRST_ATTEMPT = [review("bob", "sit-approval-1"), review("carol", "sit")]


def _baseline(api: Api, attempt: str) -> str:
    """What the first job of an attempt records, before that attempt's approvals."""
    return approvals.record_baseline(run_environ(api, GITHUB_RUN_ATTEMPT=attempt))


def test_a_re_run_does_not_count_the_approvals_given_to_the_earlier_attempt(api: Api):
    api.answer(*FIRST_ATTEMPT)
    before = _baseline(api, "2")
    # attempt 2: only bob approves, both environments; carol's approval was attempt 1's
    api.answer(*FIRST_ATTEMPT, review("bob", "sit-approval-1"), review("bob", "sit"))
    environ = run_environ(api, GITHUB_RUN_ATTEMPT="2", APPROVALS_BASELINE=before)
    with pytest.raises(UserError) as caught:
        check("sit", environ)
    assert str(caught.value) == (
        "sit needs approvals from 2 different people besides alice, who started this run, but "
        "only bob approved in attempt 2 of the run (approvals of earlier attempts do not "
        "count): 1 missing, so nothing was changed.")
    # the same history counted as one attempt would have passed
    assert check("sit", run_environ(api)).enough


def test_the_same_people_approving_again_in_the_re_run_count(api: Api):
    api.answer(*FIRST_ATTEMPT)
    before = _baseline(api, "3")
    api.answer(*FIRST_ATTEMPT, *FIRST_ATTEMPT)
    result = check("sit", run_environ(api, GITHUB_RUN_ATTEMPT="3", APPROVALS_BASELINE=before))
    assert (result.enough, result.approvers, result.attempt) == (True, ("bob", "carol"), 3)


def test_a_first_attempt_s_baseline_is_empty_and_subtracts_nothing(api: Api):
    before = _baseline(api, "1")
    assert json.loads(before) == {"attempt": 1, "reviews": []}
    api.answer(*FIRST_ATTEMPT)
    assert check("sit", run_environ(api, GITHUB_RUN_ATTEMPT="1",
                                    APPROVALS_BASELINE=before)).enough


@pytest.mark.parametrize("recorded", [None, "1"])
def test_a_re_run_whose_first_job_did_not_run_again_is_refused(api: Api, recorded: str | None):
    """Re-run failed jobs keeps the first attempt's baseline (or none): its approvals cannot
    be told apart, so the check refuses and asks for a re-run of all jobs."""
    api.answer(*FIRST_ATTEMPT)
    before = _baseline(api, recorded) if recorded else None
    with pytest.raises(UserError) as caught:
        check("sit", run_environ(api, GITHUB_RUN_ATTEMPT="2", APPROVALS_BASELINE=before))
    assert caught.value.exit_code == 2
    assert str(caught.value).startswith("This is attempt 2 of the run, and its job that "
                                        "records the review history before the approvals did "
                                        "not run again")
    assert "re-run all jobs, so that every approval is given again" in str(caught.value)


@pytest.mark.parametrize("changes", [{"GITHUB_RUN_ATTEMPT": "0"},
                                     {"GITHUB_RUN_ATTEMPT": "two"},
                                     {"APPROVALS_BASELINE": '{"attempt": 1}'},
                                     {"APPROVALS_BASELINE": "[1, 2]"}])
def test_an_odd_attempt_or_baseline_is_refused(api: Api, changes: dict[str, str]):
    api.answer(*FIRST_ATTEMPT)
    with pytest.raises(UserError, match="nothing was changed"):
        check("sit", run_environ(api, **changes))


def test_the_command_records_the_baseline_as_a_step_output(
        api: Api, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys):
    for name, value in run_environ(api, GITHUB_RUN_ATTEMPT="2").items():
        monkeypatch.setenv(name, value)
    output = tmp_path / "output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    api.answer(*FIRST_ATTEMPT)
    assert ci.approvals(env="sit", baseline=True) == 0
    recorded = json.loads(capsys.readouterr().out)
    assert recorded == {"attempt": 2, "reviews": [["bob", "approved", ["sit-approval-1"]],
                                                  ["carol", "approved", ["sit"]]]}
    assert output.read_text() == f"baseline={json.dumps(recorded, separators=(',', ':'))}\n"
    assert ci.approvals(env="sit", show_gates=True, baseline=True) == 2
