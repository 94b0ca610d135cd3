"""One GitHub issue per scheduled check, environment and component (drift of dev's tenants,
verification of prod's templates, ...), found again on every run by its label and a hidden
marker in its body, never by its title alone (anyone may retitle an issue).

The issue is opened when a problem appears, edited (with a comment) when it changes, and closed
(with a comment) when it is gone. Whether it changed is read from a second hidden marker, the
signature of the problem the body describes, so no other state is kept between runs. Only the
repository's issues API is used, with the workflow's GITHUB_TOKEN (`permissions: issues:
write`); should two open issues ever carry the same marker, the oldest is kept and the others
are closed as duplicates.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from dataclasses import dataclass

from bbws_infra.core.errors import UserError
from bbws_infra.core.untyped import Json, JsonObject
from bbws_infra.pipeline import github

_PAGE = 100
_SIGNATURE = re.compile(r"<!-- bbws-signature (\S*) -->")


@dataclass(frozen=True)
class Subject:
    """What one issue is about: a kind of check (its label), an env and a component."""

    kind: str  # "drift" or "verify"
    env: str
    component: str

    @property
    def label(self) -> str:
        return self.kind

    @property
    def marker(self) -> str:
        return f"<!-- bbws-health {self.kind} {self.env} {self.component} -->"


@dataclass
class Issue:
    number: int
    body: str
    html_url: str

    @property
    def signature(self) -> str | None:
        """The signature the body was written for (None: a body without one, edited by hand)."""
        found = _SIGNATURE.search(self.body)
        return found.group(1) if found else None


def body_with_markers(subject: Subject, signature: str, markdown: str) -> str:
    return f"{subject.marker}\n<!-- bbws-signature {signature} -->\n{markdown.rstrip()}\n"


class IssueTracker:
    """The issues of one repository, through the REST API at `api`."""

    def __init__(self, api: str, repository: str, token: str) -> None:
        self.api, self.repository, self.token = api.rstrip("/"), repository, token
        self.requests = 0  # how many calls this run made (for the summary)

    @classmethod
    def from_environment(cls) -> IssueTracker:
        """The run's repository (GITHUB_REPOSITORY, GITHUB_API_URL) and token (GITHUB_TOKEN);
        UserError naming what is missing, before anything is checked."""
        token = os.environ.get("GITHUB_TOKEN", "")
        repository = os.environ.get("GITHUB_REPOSITORY", "")
        missing = [name for name, value in (("GITHUB_TOKEN", token),
                                            ("GITHUB_REPOSITORY", repository)) if not value]
        if missing:
            raise UserError(f"--triage keeps GitHub issues and needs {' and '.join(missing)} "
                            "(GitHub Actions sets GITHUB_REPOSITORY; pass the token from "
                            "github.token with `permissions: issues: write`); nothing was "
                            "checked.")
        return cls(github.api_url(), repository, token)

    def _call(self, method: str, path: str, body: JsonObject | None = None) -> Json:
        self.requests += 1
        return github.request(method, f"{self.api}/repos/{self.repository}{path}",
                               self.token, body)

    def find_open(self, subject: Subject) -> Issue | None:
        """The open issue carrying the subject's marker; the oldest when there are more (the
        others are closed as its duplicates)."""
        found: list[Issue] = []
        query = urllib.parse.urlencode({"state": "open", "labels": subject.label,
                                        "per_page": _PAGE, "sort": "created",
                                        "direction": "asc"})
        page = 1
        while True:
            listed = self._call("GET", f"/issues?{query}&page={page}")
            if not isinstance(listed, list):
                raise github.GitHubError("GitHub's list of issues is not a list.")
            found += [Issue(int(item["number"]), str(item.get("body") or ""),
                            str(item.get("html_url") or "")) for item in listed
                      if "pull_request" not in item
                      and subject.marker in str(item.get("body") or "")]
            if len(listed) < _PAGE:
                break
            page += 1
        found.sort(key=lambda issue: issue.number)
        for duplicate in found[1:]:
            self.close(duplicate, f"Closed as a duplicate of #{found[0].number}, which tracks "
                                  "the same check.", reason="not_planned")
        return found[0] if found else None

    def open(self, subject: Subject, title: str, body: str) -> Issue:
        created = self._call("POST", "/issues", {"title": title, "body": body,
                                                 "labels": [subject.label]})
        if not isinstance(created, dict):
            raise github.GitHubError("GitHub's answer to opening an issue is not an object.")
        issue = Issue(int(created["number"]), body, str(created.get("html_url") or ""))
        labels = {str(label.get("name")) for label in created.get("labels") or []
                  if isinstance(label, dict)}
        if subject.label not in labels:
            # GitHub drops labels silently for a token without the right: the issue could
            # never be found again, and every run would open another one
            raise github.GitHubError(
                f"GitHub opened issue #{issue.number} without the label {subject.label!r}, so "
                "the next run could not find it; create the label in the repository and give "
                "the workflow `permissions: issues: write`.")
        return issue

    def update(self, issue: Issue, title: str, body: str, comment: str) -> None:
        self._call("PATCH", f"/issues/{issue.number}", {"title": title, "body": body})
        issue.body = body
        self.comment(issue, comment)

    def comment(self, issue: Issue, text: str) -> None:
        self._call("POST", f"/issues/{issue.number}/comments", {"body": text})

    def close(self, issue: Issue, comment: str, reason: str = "completed") -> None:
        self.comment(issue, comment)
        self._call("PATCH", f"/issues/{issue.number}",
                   {"state": "closed", "state_reason": reason})
