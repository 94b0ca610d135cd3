"""The sandbox tasks: up, down, status and the shell exports (sandbox.env)."""

from __future__ import annotations

from bbws_infra.commands.common import console, guarded
from bbws_infra.core.registry import load_environment
from bbws_infra.targets import sandbox


@guarded
def up(*, port: int | None = None) -> int:
    server, started = sandbox.up(port)
    verb = "started" if started else "already running"
    console.print(f"sandbox {verb} at {server.endpoint} (pid {server.pid})")
    return 0


@guarded
def down() -> int:
    console.print("sandbox stopped" if sandbox.down() else "sandbox was not running")
    return 0


@guarded
def status() -> int:
    """Exit 1 when the sandbox is not running."""
    server, sentence = sandbox.status()
    console.print(sentence)
    return 0 if server else 1


@guarded
def exports(*, env: str) -> int:
    print(sandbox.shell_exports(load_environment(env)))
    return 0
