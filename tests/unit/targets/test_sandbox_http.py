"""bbws_infra.targets.sandbox_http: each answer leaves the server in one send, with the same bytes.

A real werkzeug server (threaded, as moto runs it) answers a real client over 127.0.0.1; the
sockets it accepts count their sends. Unpatched, werkzeug sends the headers and the body
apart, the gap in which Terraform's S3 backend closed its lock request's connection.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
from werkzeug.serving import make_server

from bbws_infra.targets import sandbox_http, sandbox_server

BODY = b"{}"


class _CountingSocket(socket.socket):
    """An accepted connection that records what each send call carried, and whether Nagle's
    algorithm was off when it was made."""

    sends: list[bytes]
    nodelay: list[int]

    def _record(self, data) -> None:
        self.sends.append(bytes(data))
        self.nodelay.append(self.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

    def send(self, data, *args):  # type: ignore[override]
        self._record(data)
        return super().send(data, *args)

    def sendall(self, data, *args):  # type: ignore[override]
        self._record(data)
        return super().sendall(data, *args)


def _app(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/x-amz-json-1.0"),
                              ("x-amz-crc32", "2745614147"),
                              ("Content-Length", str(len(BODY)))])
    return [BODY]


@pytest.fixture
def server() -> Iterator[tuple[int, list[_CountingSocket]]]:
    accepted: list[_CountingSocket] = []
    httpd = make_server("127.0.0.1", 0, _app, threaded=True)
    plain_get_request = httpd.get_request

    def get_request():
        connection, address = plain_get_request()
        counting = _CountingSocket(fileno=connection.detach())
        counting.sends, counting.nodelay = [], []
        accepted.append(counting)
        return counting, address

    httpd.get_request = get_request  # type: ignore[method-assign]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd.server_port, accepted
    finally:
        httpd.shutdown()
        thread.join(timeout=5)


def _answer(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
        client.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\n{}")
        received = b""
        while chunk := client.recv(65536):
            received += chunk
    return received


def test_status_headers_and_body_leave_in_one_send(server):
    port, accepted = server
    sandbox_http.apply()
    try:
        answer = _answer(port)
    finally:
        sandbox_http.remove()
    (connection,) = accepted
    assert connection.sends == [answer]
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n") and answer.endswith(b"\r\n\r\n" + BODY)
    assert b"Connection: close\r\n" in answer
    assert connection.nodelay == [1]


def test_unpatched_werkzeug_sends_the_headers_and_the_body_apart(server):
    """What the extension changes, and that remove() restores it."""
    port, accepted = server
    assert not sandbox_http.is_applied()
    answer = _answer(port)
    (connection,) = accepted
    assert len(connection.sends) == 2 and connection.sends[1] == BODY
    assert connection.nodelay == [0, 0]
    assert b"".join(connection.sends) == answer


def test_the_server_applies_it():
    assert sandbox_http in sandbox_server.EXTENSIONS
