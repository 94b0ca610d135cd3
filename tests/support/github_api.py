"""A local stand-in for the parts of GitHub's REST API the workflows' tasks call, on 127.0.0.1
(GITHUB_API_URL), answering as GitHub does:

- a run's review history: GET /repos/<repo>/actions/runs/<id>/approvals;
- team membership: GET /orgs/<org>/teams/<team>/memberships/<user> (200 with `state`, or 404),
  with the approver-teams token only (the job's own token cannot read an organisation's teams);
- a pull request's comments: GET /repos/<repo>/issues/<n>/comments (paged), POST a new one,
  PATCH /repos/<repo>/issues/comments/<id>; a body over 65,536 characters is refused with 422.

Anything else, or another token, is GitHub's 404.
"""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

REPOSITORY = "acme/bbws-infra"
ORG = REPOSITORY.split("/")[0]
TOKEN = "ghs_thisrunstoken"  # the job's own github.token
TEAMS_TOKEN = "ghs_approverteamsreader"  # the APPROVER_TEAMS_TOKEN secret
COMMENT_LIMIT = 65_536


class GitHubApi(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.history: dict[str, list[dict[str, Any]]] = {}
        self.teams: dict[str, dict[str, str]] = {}  # team slug -> login -> state
        self.comments: dict[int, list[dict[str, Any]]] = {}  # pull request -> comments
        self.requests: list[str] = []
        self._next_comment = 900000001

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def record(self, run_id: str, approvals: list[tuple[str, str]]) -> None:
        """More reviews of a run, after those it has: (login, environment) per approval."""
        start = len(self.history.setdefault(run_id, []))
        self.history[run_id] += [{
            "state": "approved", "comment": "",
            "environments": [{"id": 100 + i, "node_id": f"EN_{i}", "name": environment,
                              "url": f"https://api.github.com/repos/{REPOSITORY}/environments/"
                                     f"{environment}",
                              "html_url": f"https://github.com/{REPOSITORY}/deployments",
                              "created_at": "2024-03-04T09:12:40Z",
                              "updated_at": "2024-03-04T09:12:40Z"}],
            "user": {"login": login, "id": 5000 + i, "type": "User", "site_admin": False},
        } for i, (login, environment) in enumerate(approvals, start)]

    def member(self, team: str, *logins: str, state: str = "active") -> None:
        for login in logins:
            self.teams.setdefault(team, {})[login.casefold()] = state

    def comment_bodies(self, number: int) -> list[str]:
        return [c["body"] for c in self.comments.get(number, [])]


class _Handler(BaseHTTPRequestHandler):
    server: GitHubApi

    def _answer(self, status: int, payload: Any) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"null")

    def _token(self) -> str:
        return (self.headers.get("Authorization") or "").removeprefix("Bearer ")

    def do_GET(self) -> None:
        self.server.requests.append(self.path)
        path = urlsplit(self.path)
        parts = path.path.split("/")
        if len(parts) == 8 and parts[1:3] == ["repos", ORG] and parts[4:6] == ["actions", "runs"] \
                and parts[7] == "approvals" and parts[6].isdigit() and self._token() == TOKEN \
                and "/".join(parts[2:4]) == REPOSITORY:
            return self._answer(200, self.server.history.get(parts[6], []))
        if len(parts) == 7 and parts[1:4] == ["orgs", ORG, "teams"] \
                and parts[5] == "memberships" and self._token() == TEAMS_TOKEN:
            state = self.server.teams.get(parts[4], {}).get(parts[6].casefold())
            if state is None:
                return self._answer(404, {"message": "Not Found"})
            return self._answer(200, {"state": state, "role": "member", "url": (
                f"https://api.github.com/organizations/1/team/2/memberships/{parts[6]}")})
        number = self._comments_of(parts)
        if number is not None:
            query = parse_qs(path.query)
            size, page = int(query.get("per_page", ["30"])[0]), int(query.get("page", ["1"])[0])
            listed = self.server.comments.get(number, [])
            return self._answer(200, listed[(page - 1) * size:page * size])
        return self._answer(404, {"message": "Not Found"})

    def _comments_of(self, parts: list[str]) -> int | None:
        if len(parts) == 7 and "/".join(parts[2:4]) == REPOSITORY and parts[1] == "repos" \
                and parts[4] == "issues" and parts[6] == "comments" and parts[5].isdigit() \
                and self._token() == TOKEN:
            return int(parts[5])
        return None

    def do_POST(self) -> None:
        self.server.requests.append(f"POST {self.path}")
        number = self._comments_of(urlsplit(self.path).path.split("/"))
        if number is None:
            return self._answer(404, {"message": "Not Found"})
        body = str(self._body()["body"])
        if len(body) > COMMENT_LIMIT:
            return self._answer(422, {"message": "Validation Failed", "errors": [
                {"resource": "IssueComment", "code": "custom", "field": "body",
                 "message": "body is too long (maximum is 65536 characters)"}]})
        comment = {"id": self.server._next_comment, "body": body}
        self.server._next_comment += 1
        self.server.comments.setdefault(number, []).append(comment)
        return self._answer(201, comment)

    def do_PATCH(self) -> None:
        self.server.requests.append(f"PATCH {self.path}")
        parts = urlsplit(self.path).path.split("/")
        if len(parts) == 7 and "/".join(parts[2:4]) == REPOSITORY and parts[4:6] == [
                "issues", "comments"] and self._token() == TOKEN:
            body = str(self._body()["body"])
            if len(body) > COMMENT_LIMIT:
                return self._answer(422, {"message": "Validation Failed"})
            for comments in self.server.comments.values():
                for comment in comments:
                    if str(comment["id"]) == parts[6]:
                        comment["body"] = body
                        return self._answer(200, comment)
        return self._answer(404, {"message": "Not Found"})

    def log_message(self, *args: Any) -> None:
        pass
