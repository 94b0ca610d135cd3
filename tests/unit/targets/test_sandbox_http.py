"""bbws_infra.targets.sandbox_http: each answer leaves the server in one send, with the same bytes,
and a connection serves request after request unless something about it cannot be trusted.

A real werkzeug server (threaded, as moto runs it) answers a real client over 127.0.0.1; the
sockets it accepts count their sends. Unpatched, werkzeug sends the headers and the body
apart, the gap in which Terraform's S3 backend closed its lock request's connection, and
closes every connection after one answer.
"""

from __future__ import annotations

import http.client
import selectors
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from werkzeug.serving import make_server

from bbws_infra.targets import sandbox_http, sandbox_server

BODY = b"{}"


class _CountingSocket(socket.socket):
    """An accepted connection that records what each send call carried."""

    sends: list[bytes]

    def _record(self, data) -> None:
        self.sends.append(bytes(data))

    def send(self, data, *args):  # type: ignore[override]
        self._record(data)
        return super().send(data, *args)

    def sendall(self, data, *args):  # type: ignore[override]
        self._record(data)
        return super().sendall(data, *args)


def _app(environ, start_response):
    """Answers `{}`; /echo answers the request's body, /short an answer cut short of its
    Content-Length, /chunked one without a length (werkzeug chunks it)."""
    path = environ["PATH_INFO"]
    if path == "/echo":
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    elif path == "/short":
        start_response("200 OK", [("Content-Length", "10")])
        return [BODY]
    else:
        body = BODY
    if path == "/chunked":
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body, body]
    start_response("200 OK", [("Content-Type", "application/x-amz-json-1.0"),
                              ("x-amz-crc32", "2745614147"),
                              ("Content-Length", str(len(body)))])
    return [] if environ["REQUEST_METHOD"] == "HEAD" else [body]


@pytest.fixture
def server() -> Iterator[tuple[int, list[_CountingSocket]]]:
    accepted: list[_CountingSocket] = []
    httpd = make_server("127.0.0.1", 0, _app, threaded=True)
    plain_get_request = httpd.get_request

    def get_request():
        connection, address = plain_get_request()
        counting = _CountingSocket(fileno=connection.detach())
        counting.sends = []
        accepted.append(counting)
        return counting, address

    httpd.get_request = get_request  # type: ignore[method-assign]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield httpd.server_port, accepted
    finally:
        httpd.shutdown()
        thread.join(timeout=5)


def _until_closed(port: int, request: bytes) -> bytes:
    """A raw request on its own connection; what came back until the server closed it (recv
    returns nothing only then)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
        client.sendall(request)
        received = b""
        while chunk := client.recv(65536):
            received += chunk
    return received


def _answer(port: int) -> bytes:
    return _until_closed(port, b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n"
                               b"Connection: close\r\n\r\n{}")


@pytest.fixture
def applied() -> Iterator[None]:
    sandbox_http.apply()
    try:
        yield
    finally:
        sandbox_http.remove()


def test_status_headers_and_body_leave_in_one_send(server, applied):
    port, accepted = server
    answer = _answer(port)
    (connection,) = accepted
    assert connection.sends == [answer]
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n") and answer.endswith(b"\r\n\r\n" + BODY)
    assert b"Connection: close\r\n" in answer


def test_unpatched_werkzeug_sends_the_headers_and_the_body_apart(server):
    """What the extension changes, and that remove() restores it."""
    port, accepted = server
    assert not sandbox_http.is_applied()
    answer = _answer(port)
    (connection,) = accepted
    assert len(connection.sends) == 2 and connection.sends[1] == BODY
    assert b"".join(connection.sends) == answer


def test_an_interim_100_continue_still_leaves_at_once(server, applied):
    """S3 clients send an object's body only after `100 Continue` (or after waiting a second):
    the interim answer is not held for the final one."""
    port, accepted = server
    with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
        client.sendall(b"PUT /bucket/key HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                       b"Content-Length: 2\r\nExpect: 100-continue\r\n\r\n")
        client.settimeout(0.5)  # botocore waits up to a second
        interim = client.recv(65536)
        assert interim.startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        client.settimeout(5)
        client.sendall(b"{}")
        # read by length: the connection stays open after the answer
        received = interim
        while not (b"200 OK" in received and received.endswith(BODY)):
            received += client.recv(65536)
    (connection,) = accepted
    deadline = time.monotonic() + 5
    while not connection.sends[-1].endswith(BODY) and time.monotonic() < deadline:
        time.sleep(0.01)
    final = connection.sends[-1]
    assert final.startswith(b"HTTP/1.1 200 OK\r\n") and final.endswith(b"\r\n\r\n" + BODY)
    assert connection.sends[:-1] == [b"HTTP/1.1 100 Continue\r\n\r\n"], "one, not two"
    assert received.endswith(final)


def _requests(port: int, *requests: tuple[str, str, bytes | None]
              ) -> list[tuple[int, bytes, str | None]]:
    """The requests one after another on one client connection (http.client opens another
    only if the server closed it); each answer's status, body and Connection header."""
    client = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    answers = []
    try:
        for method, path, body in requests:
            client.request(method, path, body=body)
            response = client.getresponse()
            answers.append((response.status, response.read(), response.getheader("Connection")))
    finally:
        client.close()
    return answers


def test_one_connection_serves_request_after_request(server, applied):
    port, accepted = server
    answers = _requests(port, ("POST", "/", b"{}"), ("GET", "/", None), ("HEAD", "/", None),
                        ("POST", "/echo", b"x" * 100_000), ("POST", "/chunked", None))
    assert [(status, body) for status, body, _ in answers] == [
        (200, BODY), (200, BODY), (200, b""), (200, b"x" * 100_000), (200, BODY + BODY)]
    assert all(connection is None for _, _, connection in answers), "no Connection: close"
    (connection,) = accepted
    assert all(sent.startswith(b"HTTP/1.1 200 OK") for sent in connection.sends[:3])


def test_a_body_the_application_left_unread_is_not_taken_for_the_next_request(server, applied):
    port, accepted = server
    unread = b'{"TableName": "tenants"}' * 50  # the application answers `{}` without reading
    answers = _requests(port, ("POST", "/", unread), ("POST", "/echo", b"next"))
    assert [(status, body) for status, body, _ in answers] == [(200, BODY), (200, b"next")]
    assert len(accepted) == 1


@pytest.mark.parametrize(("path", "headers", "why"), [
    ("/short", {}, "an answer cut short of its Content-Length"),
    ("/", {"Transfer-Encoding": "chunked"}, "a chunked request body"),
    ("/", {"Connection": "close"}, "the client's own close"),
])
def test_a_connection_that_cannot_be_trusted_is_closed(server, applied, path, headers, why):
    port, accepted = server
    body = b"2\r\n{}\r\n0\r\n\r\n" if "Transfer-Encoding" in headers else b"{}"
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    length = "" if "Transfer-Encoding" in headers else f"Content-Length: {len(body)}\r\n"
    received = _until_closed(port, f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{length}"
                                   f"{head}\r\n".encode() + body)
    assert received.startswith(b"HTTP/1.1 200 OK\r\n"), why
    assert len(accepted) == 1


@pytest.fixture
def made_selectors(monkeypatch) -> list[object]:
    """Every epoll selector made from now on (werkzeug's drain makes one per answer)."""
    made: list[object] = []
    plain = selectors.DefaultSelector

    def counted() -> selectors.BaseSelector:
        made.append(selector := plain())
        return selector

    monkeypatch.setattr(selectors, "DefaultSelector", counted)
    return made


def test_a_kept_connection_skips_werkzeugs_wait_for_a_readable_socket(server, applied,
                                                                      made_selectors):
    port, _ = server
    unread = b'{"TableName": "tenants"}' * 50
    answers = _requests(port, ("POST", "/", unread), ("POST", "/echo", b"next"),
                        ("GET", "/", None))
    assert [(status, body) for status, body, _ in answers] == [
        (200, BODY), (200, b"next"), (200, BODY)]
    assert made_selectors == [], "the body's stream drained it; no socket wait"


def test_a_connection_that_is_not_kept_drains_as_werkzeug_does(server, applied, made_selectors):
    port, _ = server
    assert _answer(port).endswith(b"\r\n\r\n" + BODY)  # read until closed, after the drain
    assert len(made_selectors) == 1


def test_removing_it_gives_werkzeug_its_selectors_back(server, made_selectors):
    sandbox_http.apply()
    sandbox_http.remove()
    port, _ = server
    # werkzeug closes the connection after its drain: read until then
    _until_closed(port, b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\n{}")
    assert len(made_selectors) == 1


def test_http_1_0_is_answered_and_closed(server, applied):
    port, _ = server
    received = _until_closed(port, b"GET / HTTP/1.0\r\n\r\n")
    assert received.endswith(b"\r\n\r\n" + BODY)


def test_the_server_applies_it():
    assert sandbox_http in sandbox_server.EXTENSIONS
