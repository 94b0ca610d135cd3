"""The README's first plan starts the sandbox's emulator at its first line (start_early), so it
boots while the command loads its modules and checks its inputs; an emulator started that way
and never recorded stops with the command that started it (a refused plan, a killed one), so
nothing is left behind and the next command starts a fresh one as before."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bbws_infra.core.paths import REPO_ROOT
from tests.support.cli import invoke

pytestmark = pytest.mark.e2e


def _emulators_of(work: Path) -> list[int]:
    """Pids of the sandbox emulators started for this work directory (their recorder file
    lives in it)."""
    marker = f"MOTO_RECORDER_FILEPATH={work / 'sandbox' / 'recording.jsonl'}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if b"sandbox_server" in (entry / "cmdline").read_bytes() and \
                    marker in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _gone_within(work: Path, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while _emulators_of(work):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_the_first_plan_starts_the_emulator_before_its_set_up(own_work: Path, tmp_path: Path):
    timings = tmp_path / "timings.jsonl"
    planned = invoke("plan", "--env", "dev", "--component", "tenants",
                     env={"BBWS_WORK_DIR": str(own_work), "BBWS_TIMINGS": str(timings)})
    assert planned.returncode == 0, planned.stdout + planned.stderr
    stages = {line["stage"]: line for line in map(json.loads, timings.read_text().splitlines())}
    # without the early start, the sandbox starts inside the target's set-up
    assert stages["sandbox start"]["start"] < stages["target set-up"]["start"]
    recorded = json.loads((own_work / "sandbox" / "server.json").read_text())
    assert _emulators_of(own_work) == [recorded["pid"]]


def test_a_refused_plan_leaves_no_emulator(own_work: Path):
    refused = invoke("plan", "--env", "nope", "--component", "tenants",
                     env={"BBWS_WORK_DIR": str(own_work)})
    assert refused.returncode == 2 and "Unknown environment 'nope'" in refused.stderr
    assert _gone_within(own_work, 10)
    assert not (own_work / "sandbox" / "server.json").exists()


def test_a_plan_killed_while_its_emulator_boots_leaves_none(own_work: Path):
    env = {**os.environ, "BBWS_WORK_DIR": str(own_work)}
    plan = subprocess.Popen([sys.executable, "-m", "invoke", "plan", "--env", "dev",
                             "--component", "tenants"], cwd=REPO_ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while not _emulators_of(own_work):
        assert plan.poll() is None and time.monotonic() < deadline, "no early emulator"
        time.sleep(0.02)
    plan.send_signal(signal.SIGKILL)  # a dead runner: no handler, no clean-up of its own
    plan.wait()
    # killed before its emulator could answer (it was seen as a process, still importing)
    assert not (own_work / "sandbox" / "server.json").exists()
    assert _gone_within(own_work, 10)
    # the next command starts a fresh one, as after any stop
    planned = invoke("plan", "--env", "dev", "--component", "tenants",
                     env={"BBWS_WORK_DIR": str(own_work)})
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert len(_emulators_of(own_work)) == 1
