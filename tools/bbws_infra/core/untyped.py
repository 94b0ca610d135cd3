"""The values whose type the code cannot state, named so that every use says which one it
is; this is the only module where mypy allows `Any` to be written (pyproject.toml).

- Json: a value decoded from JSON, YAML or HCL (Terraform's plan JSON, state files, tool
  reports, usage files, API replies); JsonObject is such a document's mapping. Its shape is
  checked where it is read, at run time, and errors name the file and the path.
- Client: a boto3 client. boto3 ships no types (the boto3-stubs packages are large and
  generated per service), so its calls and replies are untyped at this boundary;
  ClientCall is one of its methods, e.g. `s3.head_bucket`. Session, the way to a client,
  is typed.
- TaskBody: the function behind an Invoke task, whose parameters are that task's flags:
  each task has its own, so only "some callable" can be said of all of them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

Json = Any
JsonObject = dict[str, Any]
# Where a value sits in a decoded document: keys and list indexes, from the top.
JsonPath = tuple[str | int, ...]

Client = Any
ClientCall = Callable[..., JsonObject]

TaskBody = Callable[..., object]


class Session(Protocol):
    """The slice of boto3.Session the tools use (the sandbox's SandboxSession offers the
    same)."""

    def client(self, service: str, /, region_name: str | None = None) -> Client: ...
