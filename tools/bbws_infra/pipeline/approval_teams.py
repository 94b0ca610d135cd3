"""Who may approve: each environment's approval roles, mapped to GitHub teams here and nowhere
else, and the check that the people who approved a run fill those roles.

approvals.py counts different people; this module asks GitHub whether they are the right
people. Each role needs its own approver (one person fills one role, however many teams they
are in), an active member of the role's team: GitHub's "Get team membership for a user"
(GET /orgs/{org}/teams/{team_slug}/memberships/{username}) answers 200 with `state` "active"
(or "pending", an invitation not yet accepted) for a member, 404 for anyone else. The job's
own token cannot read an organisation's teams, so the workflows pass a token that can
(TEAMS_TOKEN_VARIABLE, from the APPROVER_TEAMS_TOKEN secret: a GitHub App or fine-grained token
with the organisation's Members permission, read-only).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import quote

from bbws_infra.core.errors import UserError
from bbws_infra.core.registry import BREAK_GLASS_SUFFIX
from bbws_infra.pipeline import github

TEAMS_TOKEN_VARIABLE = "GITHUB_TEAMS_TOKEN"
TIMEOUT_SECONDS = 20
_LOGIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})")


@dataclass(frozen=True)
class Role:
    """An approval role of the specification and the GitHub team whose members fill it."""

    title: str
    team: str  # the team's slug in the repository owner's organisation


TECH_LEAD = Role("Tech Lead", "bbws-tech-leads")
# The one mapping: per environment, the roles whose approvals a run needs (as many as
# REQUIRED_APPROVALS in registry.py: a unit test holds them equal).
APPROVER_ROLES: dict[str, tuple[Role, ...]] = {
    "dev": (Role("Lead Dev", "bbws-lead-devs"),),
    "sit": (TECH_LEAD, Role("QA", "bbws-qa")),
    "prod": (TECH_LEAD, Role("Product Owner", "bbws-product-owners"),
             Role("DevOps", "bbws-devops")),
}
# A break-glass run (protected deletions) needs the env's roles and this one more.
BREAK_GLASS_ROLE = Role("Break-glass approver", "bbws-break-glass")


def roles(env_name: str) -> tuple[Role, ...]:
    """The roles a run that changes env_name (or its break-glass environment) needs filled."""
    base = env_name.removesuffix(BREAK_GLASS_SUFFIX)
    if base not in APPROVER_ROLES:
        raise UserError(f"No approval roles are mapped for {env_name!r}; known: "
                        f"{', '.join(APPROVER_ROLES)}.")
    extra = (BREAK_GLASS_ROLE,) if env_name != base else ()
    return (*APPROVER_ROLES[base], *extra)


def assign(approvers: Iterable[str], needed: tuple[Role, ...],
           member: Callable[[Role, str], bool]) -> dict[Role, str]:
    """The largest assignment of different approvers to roles, each approver a member of the
    role's team (a small search: at most four roles)."""
    people = list(approvers)
    best: dict[Role, str] = {}

    def search(index: int, taken: dict[Role, str]) -> None:
        nonlocal best
        if len(taken) > len(best):
            best = dict(taken)
        if index == len(needed) or len(best) == len(needed):
            return
        role = needed[index]
        for person in people:
            if person not in taken.values() and member(role, person):
                search(index + 1, {**taken, role: person})
        search(index + 1, taken)  # leave this role unfilled

    search(0, {})
    return best


def describe(needed: Iterable[Role]) -> str:
    names = [f"a {r.title} (team {r.team})" for r in needed]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


class TeamMembership:
    """Active membership of a login in a team of org, read from GitHub once per pair."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        repository = environ.get("GITHUB_REPOSITORY", "")
        self.org = repository.split("/", 1)[0]
        self.token = environ.get(TEAMS_TOKEN_VARIABLE, "")
        self.api = environ.get("GITHUB_API_URL", "").rstrip("/") or "https://api.github.com"
        if not self.token:
            raise UserError(f"Checking that the approvers are in the approval teams needs "
                            f"{TEAMS_TOKEN_VARIABLE} (the step sets it from the "
                            "APPROVER_TEAMS_TOKEN secret, a token that reads the "
                            "organisation's teams); nothing was changed.")
        if not self.org:
            raise UserError("GITHUB_REPOSITORY is not set, so the organisation whose teams "
                            "approve is unknown; nothing was changed.")
        self.known: dict[tuple[str, str], bool] = {}

    def __call__(self, role: Role, login: str) -> bool:
        key = (role.team, login.casefold())
        if key not in self.known:
            self.known[key] = self._active(role.team, login)
        return self.known[key]

    def _active(self, team: str, login: str) -> bool:
        if not _LOGIN.fullmatch(login):
            return False
        url = (f"{self.api}/orgs/{quote(self.org)}/teams/{quote(team)}/memberships/"
               f"{quote(login)}")
        try:
            answer = github.get_json(url, self.token, timeout=TIMEOUT_SECONDS)
        except github.GitHubError as error:
            if error.status == 404:  # not a member (or no such team)
                return False
            hint = ("; APPROVER_TEAMS_TOKEN needs read access to the organisation's members"
                    if error.status in (401, 403) else "")
            raise github.GitHubError(f"Could not read the membership of {login} in team "
                                     f"{team} ({str(error).rstrip('.')}{hint}); nothing was "
                                     "changed.", error.status) from None
        return isinstance(answer, dict) and answer.get("state") == "active"


def check(env_name: str, approvers: tuple[str, ...], environ: Mapping[str, str]) -> str:
    """One sentence naming who filled which role; UserError (nothing changed) when a role is
    left without an approver from its team."""
    needed = roles(env_name)
    filled = assign(approvers, needed, TeamMembership(environ))
    if len(filled) == len(needed):
        return (f"{env_name}: " + ", ".join(f"{filled[r]} as {r.title}" for r in needed)
                + " (each an active member of the role's team).")
    missing = [r for r in needed if r not in filled]
    who = ", ".join(approvers) or "nobody"
    raise UserError(f"{env_name} needs approvals from {describe(needed)}; of this run's "
                    f"approvers ({who}) none can stand as {describe(missing)} (an active "
                    "member of its team not already counted for another role), so nothing "
                    "was changed.")
