"""Slack notifications: the message, and send() against a local webhook on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from bbws_infra.core.errors import OperationError, UserError
from bbws_infra.pipeline import notify
from bbws_infra.pipeline.notify import Event, message, send
from tests.support.local_http import PROXIES, serving

SECRET_PATH = "/services/T0000/B0000/XXXXSECRETXXXX"
EVENT = Event(env="prod", components=["tenants", "templates"],
              commit="0123456789abcdef0123456789abcdef01234567", action="promote",
              result="failure", who="alice",
              run_url="https://github.com/acme/bbws-infra/actions/runs/42")


class Webhook(ThreadingHTTPServer):
    """Records every request; answers with `status` and `answer` (after `delay` seconds)."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[dict[str, Any]] = []
        self.status, self.answer, self.delay = 200, b"ok", 0.0
        self.headers: dict[str, str] = {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{SECRET_PATH}"


class _Handler(BaseHTTPRequestHandler):
    server: Webhook

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.server.requests.append({
            "method": self.command, "path": self.path, "headers": dict(self.headers),
            "body": self.rfile.read(length)})
        time.sleep(self.server.delay)
        self.send_response(self.server.status)
        for name, value in self.server.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(self.server.answer)))
        self.end_headers()
        self.wfile.write(self.server.answer)

    do_POST = do_GET = _answer

    def log_message(self, *args: Any) -> None:  # keep the test output quiet
        pass


@pytest.fixture
def webhook(monkeypatch: pytest.MonkeyPatch) -> Iterator[Webhook]:
    for name in PROXIES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv(notify.WEBHOOK_VARIABLE, raising=False)
    with serving(Webhook()) as server:
        yield server


def assert_no_secret(error: BaseException, url: str) -> None:
    for text in (str(error), getattr(error, "details", "")):
        assert url not in text
        assert "SECRET" not in text


# --- the message --------------------------------------------------------------------------


def test_message_text_names_everything_once():
    payload = message(EVENT)
    assert set(payload) == {"text", "blocks"}
    assert payload["text"] == (
        "prod: promote FAILED (tenants, templates) at 0123456789ab by alice; "
        "run: https://github.com/acme/bbws-infra/actions/runs/42")
    assert json.loads(json.dumps(payload)) == payload


def test_message_blocks_lay_out_the_same_facts():
    blocks = message(EVENT)["blocks"]
    assert [b["type"] for b in blocks] == ["section", "section", "context"]
    assert blocks[0]["text"] == {"type": "mrkdwn", "text": "*prod: promote FAILED*"}
    fields = {f["text"].split("\n")[0]: f["text"].split("\n")[1] for f in blocks[1]["fields"]}
    assert fields == {"*Environment*": "prod", "*Action*": "promote", "*Result*": "FAILED",
                      "*Components*": "tenants, templates", "*Commit*": "`0123456789ab`",
                      "*By*": "alice"}
    assert blocks[2]["elements"][0]["text"] == (
        "<https://github.com/acme/bbws-infra/actions/runs/42|Workflow run>")


@pytest.mark.parametrize(("result", "marker"), [
    ("success", "succeeded"), ("failure", "FAILED"), ("FAILED", "FAILED"),
    ("rejected", "rejected"), ("cancelled", "cancelled"), ("skipped", "skipped"),
    ("partial", "partial"),
])
def test_result_markers_are_words_not_emoji(result: str, marker: str):
    event = Event("dev", ["tenants"], "abc", "deploy", result, "bob", "https://x/1")
    assert message(event)["text"].startswith(f"dev: deploy {marker} (tenants)")


def test_slack_control_characters_are_escaped():
    event = Event("dev", ["<b>&c"], "abc", "deploy", "success", "bot <x>", "https://x/1?a=1&b=2")
    text = message(event)["text"]
    assert "(&lt;b&gt;&amp;c)" in text and "by bot &lt;x&gt;" in text
    assert "https://x/1?a=1&amp;b=2" in text
    assert "<" not in text.replace("&lt;", "")


def test_missing_parts_are_said_plainly():
    event = Event("sit", [], "", "drift", "success", "", "")
    payload = message(event)
    assert payload["text"] == ("sit: drift succeeded ((no components)) at (no commit) by "
                               "unknown")
    assert [b["type"] for b in payload["blocks"]] == ["section", "section"]


# --- send ---------------------------------------------------------------------------------


def test_send_posts_the_message_as_json(webhook: Webhook):
    said = send(EVENT, webhook.url)
    assert said == "Sent the prod promote notification to Slack."
    assert len(webhook.requests) == 1
    request = webhook.requests[0]
    assert (request["method"], request["path"]) == ("POST", SECRET_PATH)
    assert request["headers"]["Content-Type"].startswith("application/json")
    assert json.loads(request["body"]) == message(EVENT)
    assert webhook.url not in said


def test_send_reads_the_webhook_from_the_environment(webhook: Webhook,
                                                     monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(notify.WEBHOOK_VARIABLE, webhook.url)
    assert send(EVENT).startswith("Sent ")
    assert len(webhook.requests) == 1


@pytest.mark.parametrize("given", [None, "", "   "])
def test_without_a_webhook_nothing_is_sent_and_that_is_fine(webhook: Webhook, given):
    said = send(EVENT, given)
    assert said == ("No Slack webhook is set (SLACK_WEBHOOK_URL), so the prod promote "
                    "notification was not sent.")
    assert webhook.requests == []


def test_an_error_answer_raises_without_the_url(webhook: Webhook):
    webhook.status, webhook.answer = 500, b"internal_error"
    with pytest.raises(OperationError) as caught:
        send(EVENT, webhook.url)
    assert str(caught.value) == ("The Slack webhook answered HTTP 500 (internal_error); the "
                                 "prod promote notification was not sent.")
    assert_no_secret(caught.value, webhook.url)


def test_an_answer_echoing_the_url_has_it_removed(webhook: Webhook):
    webhook.status, webhook.answer = 404, f"no_service {SECRET_PATH}".encode()
    with pytest.raises(OperationError) as caught:
        send(EVENT, webhook.url)
    assert "HTTP 404" in str(caught.value)
    assert_no_secret(caught.value, webhook.url)


def test_a_redirect_is_not_followed(webhook: Webhook):
    webhook.status, webhook.answer = 302, b""
    webhook.headers = {"Location": "/elsewhere"}
    with pytest.raises(OperationError, match="answered HTTP 302"):
        send(EVENT, webhook.url)
    assert [r["path"] for r in webhook.requests] == [SECRET_PATH]


def test_an_unreachable_webhook_raises_without_the_url(webhook: Webhook):
    with socket.socket() as sock:  # a port nobody listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}{SECRET_PATH}"
    with pytest.raises(OperationError, match=r"^Could not reach the Slack webhook") as caught:
        send(EVENT, url)
    assert_no_secret(caught.value, url)


def test_a_slow_webhook_times_out(webhook: Webhook):
    webhook.delay = 1.0
    with pytest.raises(OperationError, match="Could not reach the Slack webhook") as caught:
        send(EVENT, webhook.url, timeout=0.2)
    assert_no_secret(caught.value, webhook.url)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "hooks.slack.com/services/SECRET",
                                 "http://127.0.0.1:notaport/services/SECRET"])
def test_a_webhook_that_is_not_an_http_url_is_refused(webhook: Webhook, url: str):
    with pytest.raises(UserError) as caught:
        send(EVENT, url)
    assert_no_secret(caught.value, url)
