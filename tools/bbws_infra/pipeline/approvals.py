"""How many people approved this workflow run: counted by the job about to change an
environment, before it changes anything.

A GitHub environment's required reviewers are a list, and a job bound to it starts as soon as
ONE of them approves: GitHub never counts approvals. An environment that needs N people
(REQUIRED_APPROVALS in registry.py) is therefore guarded twice:

- the workflows run N-1 approval jobs first, each bound to its own GitHub environment
  `<env>-approval-<n>` with its own reviewers; the job that changes the env is bound to `<env>`
  and is the last approval. gates() is that list; the workflows read it from
  `invoke approvals --env <env> --gates`, so it comes from the registry only;
- that job runs `invoke approvals --env <env>` first: it reads the run's review history from
  GitHub's REST API and refuses unless N different people approved over those environments,
  not counting whoever started (or re-ran) the run. However the environments' reviewers were
  configured, fewer than N people cannot get past it.

Approvals count for the current run attempt only: a re-run (GITHUB_RUN_ATTEMPT 2 and up) must
be approved again. GitHub's review history is one list per run, across its attempts, and its
entries carry no time (only state, comment, environments and user), so they cannot be dated
against the attempt's start. Instead the first job of every attempt, before any approval
environment, records the history as it stands (`invoke approvals --env <env> --baseline`, the
step output `baseline`, with the attempt's number), and the job that changes the env counts only
the reviews added since (APPROVALS_BASELINE). A re-run whose first job did not run again (re-run
failed jobs) carries an earlier attempt's baseline and is refused: re-run all jobs.

Outside a workflow run there is nothing to count: the check refuses, and applies from a laptop
are governed by the confirmation strings. Only the standard library talks to GitHub
(github.get_json).
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from bbws_infra.core.errors import OperationError, UserError
from bbws_infra.core.registry import (
    BREAK_GLASS_SUFFIX,
    REQUIRED_APPROVALS,
    load_environment,
)
from bbws_infra.core.untyped import Json
from bbws_infra.pipeline import github

APPROVED = "approved"  # a review's state: approved, rejected (or pending, with comments)
BASELINE_ENV = "APPROVALS_BASELINE"  # the review history before this attempt's approvals
TIMEOUT_SECONDS = 20
_RUN_ID = re.compile(r"[0-9]+")
_REPOSITORY = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+")


def required(env_name: str) -> int:
    """How many different people must approve a run that changes env_name; for its
    break-glass environment (`<env>-break-glass`, protected deletions), one more."""
    base = _base_env(env_name)
    try:
        count = REQUIRED_APPROVALS[base]
    except KeyError:
        raise UserError(f"Unknown environment {env_name!r}; choose one of: "
                        f"{', '.join(REQUIRED_APPROVALS)}.") from None
    if base == env_name:
        return count
    if not load_environment(base).deletion_protection:
        raise UserError(f"{base} has no deletion protection (envs/{base}.tfvars), so it has no "
                        f"break-glass environment: its own deploy role deletes; nothing was "
                        "checked.")
    return count + 1


def gates(env_name: str) -> list[str]:
    """The approval environments a run passes before the env's own: `<env>-approval-1` to
    `<env>-approval-<N-1>` (none where one approval is enough). A break-glass run passes the
    env's approval environments, one more, and then its own."""
    base = _base_env(env_name)
    return [f"{base}-approval-{n}" for n in range(1, required(env_name))]


def _base_env(env_name: str) -> str:
    """prod-break-glass -> prod; an env name stays itself."""
    if env_name.endswith(BREAK_GLASS_SUFFIX):
        return env_name.removesuffix(BREAK_GLASS_SUFFIX)
    return env_name


def counted_environments(env_name: str) -> list[str]:
    """Where an approval counts for env_name: its approval environments and its own."""
    return [*gates(env_name), env_name]


def describe_gate(env_name: str, gate: str) -> str:
    """What one approval job stands for; a gate that is not env_name's is refused."""
    names = gates(env_name)
    if gate not in names:
        choices = ", ".join(names) or f"none: {env_name} needs one approval, its own"
        raise UserError(f"{gate!r} is not an approval environment of {env_name} "
                        f"(those are: {choices}).")
    return (f"{gate}: approval {names.index(gate) + 1} of the {required(env_name)} that "
            f"{env_name} needs; the job bound to {env_name} is the last one, and it counts the "
            "different people who approved before it changes anything.")


@dataclass(frozen=True)
class Review:
    """One entry of a run's review history."""

    login: str
    state: str
    environments: tuple[str, ...]


def parse_reviews(payload: Json, source: str) -> list[Review]:
    """GitHub's answer to "Get the review history for a workflow run": a list of objects with
    `state`, `comment`, `environments` (objects with `name`) and `user` (with `login`)."""
    if not isinstance(payload, list):
        raise OperationError(f"GitHub's answer from {source} is not a list of reviews, so no "
                             "approval could be counted; nothing was changed.")
    reviews = []
    for index, item in enumerate(payload):
        try:
            reviews.append(Review(
                login=str(item["user"]["login"]), state=str(item["state"]),
                environments=tuple(str(e["name"]) for e in item["environments"])))
        except (KeyError, TypeError):
            raise OperationError(f"Review {index} in GitHub's answer from {source} lacks "
                                 "user.login, state or environments[].name, so no approval "
                                 "could be counted; nothing was changed.") from None
    return reviews


@dataclass(frozen=True)
class Tally:
    """The approvals that count for one environment in one run attempt."""

    env: str
    required: int
    approvers: tuple[str, ...]  # different people, first approval first
    not_counted: tuple[str, ...]  # approved, but started or re-ran the run
    starters: tuple[str, ...]  # who started (and re-ran) the run
    attempt: int = 1  # GITHUB_RUN_ATTEMPT: earlier attempts' approvals were left out

    @property
    def missing(self) -> int:
        return max(0, self.required - len(self.approvers))

    @property
    def enough(self) -> bool:
        return self.missing == 0


def tally(reviews: Iterable[Review], env_name: str, starters: Iterable[str],
          attempt: int = 1) -> Tally:
    """Count the different people who approved any of the env's counted environments; the
    same person approving several counts once, a rejection or another environment's review
    not at all, and nobody who started the run counts (logins compare case-insensitively, as
    GitHub's do)."""
    wanted = set(counted_environments(env_name))
    who_started = tuple(dict.fromkeys(s for s in starters if s))
    excluded = {s.casefold() for s in who_started}
    counted: dict[str, str] = {}
    own: dict[str, str] = {}
    for review in reviews:
        if review.state != APPROVED or not wanted.intersection(review.environments):
            continue
        key = review.login.casefold()
        (own if key in excluded else counted).setdefault(key, review.login)
    return Tally(env_name, required(env_name), tuple(counted.values()), tuple(own.values()),
                 who_started, attempt)


def verdict(result: Tally) -> str:
    """One sentence: who approved, and what is missing."""
    started = "started this run" if len(result.starters) < 2 else "started and re-ran this run"
    besides = f"besides {_people(result.starters)}, who {started}"
    if result.enough:
        return (f"{result.env}: approved by {_people(result.approvers)}, "
                f"{_headcount(len(result.approvers))} {besides} "
                f"({result.required} required).")
    if not result.approvers:
        approved = "nobody else approved"
    else:
        only = "only " if len(result.approvers) == 1 else ""
        approved = f"{only}{_people(result.approvers)} approved"
    if result.attempt > 1:
        approved += (f" in attempt {result.attempt} of the run (approvals of earlier attempts "
                     "do not count)")
    own = ""
    if result.not_counted:
        owners = _people(f"{name}'s" for name in result.not_counted)
        own = (f" ({owners} own approval does not count)" if len(result.not_counted) == 1
               else f" ({owners} own approvals do not count)")
    return (f"{result.env} needs approvals from {_headcount(result.required)} {besides}, "
            f"but {approved}{own}: {result.missing} missing, so nothing was changed.")


def run_attempt(environ: Mapping[str, str]) -> int:
    """GITHUB_RUN_ATTEMPT: 1 for a run's first attempt, 2 and up for its re-runs."""
    text = environ.get("GITHUB_RUN_ATTEMPT", "") or "1"
    if not text.isdigit() or int(text) < 1:
        raise UserError(f"GITHUB_RUN_ATTEMPT {text!r} is not what GitHub Actions sets; nothing "
                        "was changed.")
    return int(text)


def baseline(reviews: Iterable[Review], attempt: int) -> str:
    """The review history before this attempt's approvals, as the step output `baseline`."""
    return json.dumps({"attempt": attempt, "reviews": [
        [r.login, r.state, list(r.environments)] for r in reviews]}, separators=(",", ":"))


def _earlier(text: str) -> tuple[int, Counter[Review]]:
    try:
        data = json.loads(text)
        return int(data["attempt"]), Counter(Review(str(login), str(state), tuple(map(str, envs)))
                                             for login, state, envs in data["reviews"])
    except (ValueError, KeyError, TypeError):
        raise UserError(f"{BASELINE_ENV} is not the `baseline` output of invoke approvals "
                        "--baseline; nothing was changed.") from None


def this_attempt(reviews: list[Review], environ: Mapping[str, str]) -> list[Review]:
    """The reviews given in this run attempt: the history minus the baseline the attempt's
    first job recorded (as a multiset: the same person approving the same environment in two
    attempts is two entries). Without a baseline only a first attempt is counted."""
    attempt, text = run_attempt(environ), environ.get(BASELINE_ENV, "")
    if not text and attempt == 1:
        return reviews  # nothing can precede a first attempt's approvals
    recorded, earlier = _earlier(text) if text else (0, Counter())
    if recorded != attempt:
        had = f"attempt {recorded}'s" if recorded else "no"
        raise UserError(f"This is attempt {attempt} of the run, and its job that records the "
                        f"review history before the approvals did not run again ({had} "
                        "baseline), so approvals given to earlier attempts cannot be told "
                        "apart: re-run all jobs, so that every approval is given again; nothing "
                        "was changed.")
    kept = []
    for review in reviews:
        if earlier[review]:
            earlier[review] -= 1
        else:
            kept.append(review)
    return kept


def fetch_reviews(environ: Mapping[str, str]) -> tuple[list[Review], tuple[str, ...]]:
    """This run's review history from GitHub (every attempt's), and who started (and re-ran)
    the run; refused outside a workflow run, and when the runner's variables are missing."""
    run_id = environ.get("GITHUB_RUN_ID", "")
    if not run_id:
        raise UserError("invoke approvals counts the approvals of a GitHub Actions workflow "
                        "run and only applies inside one (GITHUB_RUN_ID is not set); on a "
                        "laptop the confirmation string governs an apply, and nothing was "
                        "checked.")
    repository = environ.get("GITHUB_REPOSITORY", "")
    token = environ.get("GITHUB_TOKEN", "")
    starter = environ.get("GITHUB_TRIGGERING_ACTOR", "")
    missing = [name for name, value in (("GITHUB_REPOSITORY", repository),
                                        ("GITHUB_TOKEN", token),
                                        ("GITHUB_TRIGGERING_ACTOR", starter)) if not value]
    if missing:
        raise UserError(f"Counting this run's approvals needs {', '.join(missing)} (the runner "
                        "sets GITHUB_REPOSITORY and GITHUB_TRIGGERING_ACTOR; the step sets "
                        "GITHUB_TOKEN from github.token); nothing was changed.")
    if not _RUN_ID.fullmatch(run_id) or not _REPOSITORY.fullmatch(repository):
        raise UserError(f"GITHUB_RUN_ID {run_id!r} or GITHUB_REPOSITORY {repository!r} is not "
                        "what GitHub Actions sets; nothing was changed.")
    api = environ.get("GITHUB_API_URL", "").rstrip("/") or "https://api.github.com"
    url = f"{api}/repos/{repository}/actions/runs/{run_id}/approvals"
    try:
        payload = github.get_json(url, token, timeout=TIMEOUT_SECONDS)
    except github.GitHubError as error:
        hint = ("; the job needs `permissions: actions: read` and GITHUB_TOKEN from "
                "github.token" if error.status in (401, 403, 404) else "")
        raise github.GitHubError(f"Could not read this run's approvals "
                                 f"({str(error).rstrip('.')}{hint}); nothing was changed.",
                                 error.status) from None
    starters = (starter, environ.get("GITHUB_ACTOR", ""))
    return parse_reviews(payload, url), tuple(dict.fromkeys(s for s in starters if s))


def check(env_name: str, environ: Mapping[str, str] | None = None) -> Tally:
    """The approvals of this run for env_name; UserError (exit 2) with the verdict when fewer
    different people than required approved."""
    required(env_name)  # an unknown env is refused before GitHub is asked
    environ = os.environ if environ is None else environ
    run_attempt(environ)  # an odd attempt number is refused before GitHub is asked too
    reviews, starters = fetch_reviews(environ)
    result = tally(this_attempt(reviews, environ), env_name, starters, run_attempt(environ))
    if not result.enough:
        raise UserError(verdict(result))
    return result


def record_baseline(environ: Mapping[str, str] | None = None) -> str:
    """The `baseline` output: this run's review history now, before this attempt's approvals
    (the first job of every attempt records it)."""
    environ = os.environ if environ is None else environ
    attempt = run_attempt(environ)
    reviews, _ = fetch_reviews(environ)
    return baseline(reviews, attempt)


def _people(names: Iterable[str]) -> str:
    names = list(names)
    if len(names) < 2:
        return "".join(names) or "nobody"
    return f"{', '.join(names[:-1])} and {names[-1]}"



def _headcount(number: int) -> str:
    return "1 person" if number == 1 else f"{number} different people"
