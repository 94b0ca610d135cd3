"""A stand-in for a Slack incoming webhook on 127.0.0.1: every message posted to its one path is
kept (the decoded JSON), answered "ok" as Slack does; any other path is Slack's 404."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PATH = "/services/T000/B000/secretpart"


class SlackWebhook(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.messages: list[dict[str, Any]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{PATH}"

    def texts(self) -> list[str]:
        return [str(message["text"]) for message in self.messages]


class _Handler(BaseHTTPRequestHandler):
    server: SlackWebhook

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        known = self.path == PATH
        if known:
            self.server.messages.append(json.loads(body))
        answer = b"ok" if known else b"no_service"
        self.send_response(200 if known else 404)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: Any) -> None:
        pass
