"""bbws_infra.targets.sandbox.start_early: when a command starts the emulator ahead of its
modules, and how an emulator started that way waits to be recorded (sandbox_server)."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bbws_infra.targets import sandbox


@pytest.fixture
def spawned(tmp_path, monkeypatch) -> list[int]:
    """Ports start_early would start an emulator on (nothing is started)."""
    monkeypatch.setenv("BBWS_WORK_DIR", str(tmp_path))
    monkeypatch.delenv("BBWS_TARGET", raising=False)
    ports: list[int] = []

    class _Process:
        pid = 1

    def spawn(port, extra_env=None):
        assert extra_env == {sandbox.PARENT_VAR: str(os.getpid()),
                             sandbox.RECORD_VAR: str(tmp_path / "sandbox" / "server.json")}
        ports.append(port)
        return _Process()

    monkeypatch.setattr(sandbox, "_spawn", spawn)
    yield ports
    for early in sandbox._early:
        early.lock.close()
    sandbox._early.clear()


def _lock_is_free(tmp_path: Path) -> bool:
    with (tmp_path / "sandbox" / "lock").open("w") as other:
        try:
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(other, fcntl.LOCK_UN)
        return True


def test_a_sandbox_command_starts_one_and_holds_the_start_lock(spawned, tmp_path):
    sandbox.start_early(None)
    assert len(spawned) == 1 and [e.port for e in sandbox._early] == spawned
    sandbox.start_early(None)  # once per command
    assert len(spawned) == 1
    # other commands wait for it; this one's own sandbox calls do not wait on themselves
    assert not _lock_is_free(tmp_path)
    with sandbox._locked():
        pass
    sandbox._early[0].lock.close()
    assert _lock_is_free(tmp_path)


@pytest.mark.parametrize("target", ["aws", "nowhere"])
def test_another_target_starts_nothing(spawned, target):
    sandbox.start_early(target)
    assert spawned == [] and sandbox._early == []


def test_the_target_from_the_environment_counts(spawned, monkeypatch):
    monkeypatch.setenv("BBWS_TARGET", "aws")
    sandbox.start_early(None)
    assert spawned == []


def test_a_recorded_sandbox_is_left_to_the_command(spawned, tmp_path):
    record = tmp_path / "sandbox" / "server.json"
    record.parent.mkdir(parents=True)
    record.write_text(json.dumps({"pid": 1, "port": 20001, "started_at": 0.0}))
    sandbox.start_early(None)
    assert spawned == [] and sandbox._early == []


_WATCH = textwrap.dedent("""
    import sys
    from pathlib import Path
    from bbws_infra.targets import sandbox_server
    sandbox_server.watch_adoption(int(sys.argv[1]), Path(sys.argv[2]))
    print("adopted")
""")


def _watcher(parent: int, record: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", _WATCH, str(parent), str(record)],
                            stdout=subprocess.PIPE, text=True)


def test_an_early_emulator_runs_on_once_recorded(tmp_path):
    record = tmp_path / "server.json"
    watcher = _watcher(os.getpid(), record)
    record.write_text(json.dumps({"pid": watcher.pid, "port": 1, "started_at": 0.0}))
    out, _ = watcher.communicate(timeout=60)
    assert (watcher.returncode, out.strip()) == (0, "adopted")


def test_an_early_emulator_stops_when_its_command_ends_first(tmp_path):
    command = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1)"])
    watcher = _watcher(command.pid, tmp_path / "server.json")
    command.wait()
    out, _ = watcher.communicate(timeout=60)
    assert (watcher.returncode, out) == (0, "")  # stopped before "adopted"
