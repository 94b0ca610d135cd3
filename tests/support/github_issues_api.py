"""A stand-in for GitHub's issues REST API on 127.0.0.1, shaped like GitHub's answers: list a
repository's issues (state, labels, pagination, oldest or newest first), open one, edit its
title, body or state, and comment on it. Another repository, another token or another path is
GitHub's 404. Every request is recorded as (method, path) so a test can say what was called."""

from __future__ import annotations

import json
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class IssuesApi(ThreadingHTTPServer):
    def __init__(self, repository: str, token: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.repository, self.token = repository, token
        self.issues: dict[int, dict[str, Any]] = {}
        self.comments: dict[int, list[str]] = {}
        self.requests: list[tuple[str, str]] = []
        # GitHub drops the labels of a new issue, silently, when the token may not set them
        self.drop_labels = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def add(self, title: str, body: str, labels: list[str], state: str = "open",
            pull_request: bool = False) -> dict[str, Any]:
        """An issue (or pull request, which GitHub lists among issues too) made elsewhere."""
        number = len(self.issues) + 1
        issue = {
            "number": number, "title": title, "body": body, "state": state,
            "state_reason": None, "labels": [{"name": name} for name in labels],
            "html_url": f"https://github.com/{self.repository}/issues/{number}",
            "created_at": f"2026-01-01T00:00:{number:02d}Z", "comments": 0,
        }
        if pull_request:
            issue["pull_request"] = {"url": issue["html_url"]}
        self.issues[number] = issue
        self.comments[number] = []
        return issue

    def with_label(self, label: str, state: str | None = None) -> list[dict[str, Any]]:
        return [i for i in self.issues.values()
                if label in {x["name"] for x in i["labels"]}
                and (state is None or i["state"] == state) and "pull_request" not in i]

    def writes(self) -> list[tuple[str, str]]:
        return [(method, path) for method, path in self.requests if method != "GET"]


class _Handler(BaseHTTPRequestHandler):
    server: IssuesApi

    def _answer(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _route(self) -> tuple[list[str], dict[str, list[str]]] | None:
        """The path after /repos/<repository>/issues, split; None for anything else."""
        self.server.requests.append((self.command, self.path))
        url = urllib.parse.urlsplit(self.path)
        prefix = f"/repos/{self.server.repository}/issues"
        if self.headers.get("Authorization") != f"Bearer {self.server.token}" or not (
                url.path == prefix or url.path.startswith(prefix + "/")):
            self._answer(404, {"message": "Not Found"})
            return None
        rest = [part for part in url.path[len(prefix):].split("/") if part]
        return rest, urllib.parse.parse_qs(url.query)

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"{}")

    def do_GET(self) -> None:
        routed = self._route()
        if routed is None:
            return
        rest, query = routed
        if rest:
            self._answer(404, {"message": "Not Found"})
            return
        state = query.get("state", ["open"])[0]
        labels = {x for x in query.get("labels", [""])[0].split(",") if x}
        listed = [i for i in self.server.issues.values()
                  if (state == "all" or i["state"] == state)
                  and labels <= {x["name"] for x in i["labels"]}]
        listed.sort(key=lambda i: i["number"], reverse=query.get("direction", ["desc"])[0]
                    == "desc")
        per_page = int(query.get("per_page", ["30"])[0])
        page = int(query.get("page", ["1"])[0])
        self._answer(200, listed[(page - 1) * per_page:page * per_page])

    def do_POST(self) -> None:
        routed = self._route()
        if routed is None:
            return
        rest, _ = routed
        body = self._body()
        if not rest:
            if not body.get("title"):
                self._answer(422, {"message": "Validation Failed"})
                return
            issue = self.server.add(body["title"], body.get("body", ""),
                                    [] if self.server.drop_labels
                                    else list(body.get("labels", [])))
            self._answer(201, issue)
        elif len(rest) == 2 and rest[1] == "comments" and int(rest[0]) in self.server.issues:
            number = int(rest[0])
            self.server.comments[number].append(body["body"])
            self.server.issues[number]["comments"] += 1
            self._answer(201, {"id": 900 + len(self.server.comments[number]),
                               "body": body["body"]})
        else:
            self._answer(404, {"message": "Not Found"})

    def do_PATCH(self) -> None:
        routed = self._route()
        if routed is None:
            return
        rest, _ = routed
        if len(rest) != 1 or int(rest[0]) not in self.server.issues:
            self._answer(404, {"message": "Not Found"})
            return
        issue = self.server.issues[int(rest[0])]
        for key, value in self._body().items():
            if key in ("title", "body", "state", "state_reason"):
                issue[key] = value
        self._answer(200, issue)

    def log_message(self, *args: Any) -> None:
        pass
