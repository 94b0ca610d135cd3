"""Hardening, through the real CLI: Ctrl-C at every stage of a plan and during an apply,
SIGTERM and SIGHUP (how runners stop a job) like Ctrl-C, a SIGKILLed Terraform worker, the
emulator dying during an apply, and broken input files. Interrupts are injected
deterministically (BBWS_FAULT_INTERRUPT_AT: the process sends itself a real SIGINT, or the
signal BBWS_FAULT_SIGNAL names, the moment that stage begins), so nothing here races the
clock."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bbws_infra.bench import repo_copy
from bbws_infra.engine.interrupts import FAULT_ENV, FAULT_SIGNAL_ENV
from bbws_infra.plans.bundle import BundleRecord
from tests.support.cli import invoke
from tests.support.leftovers import (
    bundle_problems,
    held_locks,
    moto_servers_of,
    terraform_processes_under,
)

pytestmark = pytest.mark.e2e

# Stage lines the runner prints per component when stdout is not a terminal.
_STAGE_LINE = re.compile(r"^\[([\w-]+)\] (\S+)$", re.M)


class StartedAfterInterrupt(AssertionError):
    """A Terraform command began after Ctrl-C had been handled."""


@pytest.fixture(scope="module")
def sit_planned(work: Path) -> Path:
    """The session sandbox with every sit component planned once: a warm provider cache,
    state backend and init, and a complete bundle per component that an interrupted plan
    must either leave intact or remove."""
    result = invoke("plan", "--env", "sit")
    assert result.returncode == 0, result.stdout + result.stderr
    return work


def _late_commands(stdout: str, stage: str) -> dict[str, list[str]]:
    """Per component, the Terraform commands begun after the one Ctrl-C came at. Allowed:
    none for the component that was interrupted, and at most one for another component (the
    command it was starting at that very moment); never a further one."""
    events = _STAGE_LINE.findall(stdout)
    at = next((i for i, (_, name) in enumerate(events) if name == stage), -1)
    later: dict[str, list[str]] = {}
    for component, name in events[at + 1:]:
        later.setdefault(component, []).append(name)
    interrupted = events[at][0] if at >= 0 else None
    return {c: names for c, names in later.items() if c == interrupted or len(names) > 1}


def _assert_stopped_cleanly(result: subprocess.CompletedProcess, work_dir: Path,
                            code: int = 130, said: str = "interrupted") -> None:
    assert result.returncode == code, result.stdout + result.stderr
    assert result.stderr.startswith(f"{said}: every Terraform run was stopped"), (
        result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    assert terraform_processes_under(work_dir) == []


@pytest.mark.parametrize("stage", ["sandbox", "stage", "init", "plan", "show",
                                   "next-component"])
def test_ctrl_c_at_every_stage(stage: str, sit_planned: Path, request: pytest.FixtureRequest):
    """Ctrl-C at each stage of `invoke plan --env sit`: exit 130 and one sentence, no Terraform
    or emulator process left, no half-written or new bundle, no state lock held, and no
    Terraform command begun after the interrupt."""
    work_dir = request.getfixturevalue("own_work") if stage == "sandbox" else sit_planned
    if stage == "init":  # a changed init fingerprint: every component initialises again
        for stamp in (work_dir / "terraform" / "data" / "sandbox" / "sit").glob("*/init.*"):
            stamp.unlink()
    started = time.time()
    result = invoke("plan", "--env", "sit",
                    env={FAULT_ENV: stage, "BBWS_WORK_DIR": str(work_dir)}, timeout=300)

    _assert_stopped_cleanly(result, work_dir)
    assert bundle_problems(work_dir) == []
    for path in (work_dir / "plans").rglob("bundle.json"):
        assert BundleRecord.from_json(path.read_text()).created_epoch < started, (
            f"an interrupted plan committed {path}")
    if stage in ("sandbox", "stage"):  # before any Terraform
        assert _STAGE_LINE.findall(result.stdout) == []
    if stage == "sandbox":  # the half-started emulator is stopped, and nothing else ran
        assert moto_servers_of(work_dir) == []
        assert not (work_dir / "sandbox" / "server.json").exists()
        assert not (work_dir / "logs").exists() and not (work_dir / "stage").exists()
    else:  # (the task's own output says what it saw of the locks when this fails)
        assert held_locks(work_dir, "sit") == [], result.stdout + result.stderr
    if stage not in ("sandbox", "stage"):  # the task watched the locks and says so
        assert "no state lock is left held." in result.stderr
    late = _late_commands(result.stdout, stage)
    if late:
        raise StartedAfterInterrupt(f"begun after Ctrl-C at {stage}: {late}\n{result.stdout}")


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """A committed copy of the repository that runs its own code: its commit and code stay
    put while the real working tree changes (an apply needs the plan's commit)."""
    return repo_copy.copy_repository(tmp_path / "repo")


def _cli(copy: Path, work: Path, *args: str, **extra: str) -> subprocess.CompletedProcess:
    return repo_copy.run_cli(copy, work, *args, extra=extra or None, timeout=300)


@pytest.mark.parametrize(("sent", "code", "said"), [
    ("INT", 130, "interrupted"), ("TERM", 143, "interrupted (SIGTERM)")])
def test_a_signal_during_apply_keeps_the_state_usable(copy: Path, own_work: Path, sent: str,
                                                      code: int, said: str):
    """Ctrl-C, or SIGTERM (GitHub cancelling the job), as `terraform apply` starts: exit
    128 + the signal, the state lock is released (or reported with the unlock command), no
    errored.tfstate, and the next plan works."""
    components = ("--env", "dev", "--component", "tenants,products")
    planned = _cli(copy, own_work, "plan", *components)
    assert planned.returncode == 0, planned.stdout + planned.stderr

    result = _cli(copy, own_work, "apply", *components, "--confirm", "deploy-dev",
                  **{FAULT_ENV: "apply", FAULT_SIGNAL_ENV: sent})
    _assert_stopped_cleanly(result, own_work, code, said)
    assert re.search(r"^\[(tenants|products)\] apply$", result.stdout, re.M), (
        "the apply stage was never reached")
    held = held_locks(own_work, "dev")
    if held:
        assert result.stderr.count("the state is still locked") == len(held)
        assert "invoke unlock --env dev" in result.stderr
    else:
        assert "no state lock is left held." in result.stderr
    assert list((own_work / "stage").rglob("errored.tfstate")) == []

    again = _cli(copy, own_work, "plan", *components)
    assert again.returncode == 0, again.stdout + again.stderr
    assert bundle_problems(own_work) == []


def test_sighup_during_plan_keeps_the_state_usable(copy: Path, own_work: Path):
    """SIGHUP (a runner's session ending) as `terraform plan` starts: exit 129, no bundle at
    all (none existed), no state lock held, no Terraform left, and the next plan works."""
    component = ("--env", "dev", "--component", "tenants")
    result = _cli(copy, own_work, "plan", *component,
                  **{FAULT_ENV: "plan", FAULT_SIGNAL_ENV: "HUP"})
    _assert_stopped_cleanly(result, own_work, 129, "interrupted (SIGHUP)")
    assert re.search(r"^\[tenants\] plan$", result.stdout, re.M), "plan was never reached"
    assert "no state lock is left held." in result.stderr
    assert held_locks(own_work, "dev") == []
    assert list((own_work / "plans").rglob("bundle.json")) == []
    assert bundle_problems(own_work) == []

    again = _cli(copy, own_work, "plan", *component)
    assert again.returncode == 0, again.stdout + again.stderr
    assert bundle_problems(own_work) == []


def _workers_under(root: Path) -> list[int]:
    return [pid for pid in terraform_processes_under(root)
            if b"bbws_infra.engine.tf_worker" in Path(f"/proc/{pid}/cmdline").read_bytes()]


def _when(condition, timeout: float = 60.0):
    """condition()'s first truthy value, polled until timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"not within {timeout} s")


def test_a_sigkilled_worker_holding_the_lock_is_reported_with_the_unlock_command(
        copy: Path, own_work: Path):
    """SIGKILL the Terraform worker while its apply holds the state lock: the task fails
    (exit 1) saying Terraform was killed, prints the exact `invoke unlock` command with the
    lock's id, leaves no provider behind, and that command releases the lock."""
    component = ("--env", "dev", "--component", "tenants")
    planned = _cli(copy, own_work, "plan", *component)
    assert planned.returncode == 0, planned.stdout + planned.stderr

    process = subprocess.Popen(
        [sys.executable, "-m", "invoke", "apply", *component, "--confirm", "deploy-dev"],
        cwd=copy, env=repo_copy.cli_env(copy, own_work, {"PYTHONUNBUFFERED": "1"}),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        seen = []
        for line in process.stdout:
            seen.append(line)
            if line.strip() == "[tenants] apply":
                break
        (locked,) = _when(lambda: held_locks(own_work, "dev"))
        (worker,) = _workers_under(own_work)
        os.kill(worker, signal.SIGKILL)
        stdout, stderr = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            process.kill()
    output = "".join(seen) + stdout + stderr
    assert process.returncode == 1, output
    assert "terraform apply was killed (SIGKILL) before it finished" in stderr, output
    assert "Traceback" not in output
    assert held_locks(own_work, "dev") == [locked]  # nobody could release it
    command = re.search(r"invoke unlock --env dev --component tenants --target sandbox "
                        r"--lock-id (\S+)", stderr)
    assert command, stderr
    assert _when(lambda: terraform_processes_under(own_work) == [], 10)

    released = _cli(copy, own_work, "unlock", *component, "--lock-id", command.group(1))
    assert released.returncode == 0, released.stdout + released.stderr
    assert held_locks(own_work, "dev") == []


def test_emulator_death_during_apply_is_reported_once(copy: Path, own_work: Path):
    """SIGKILL the moto server the moment apply begins: exit 1, one sentence saying the
    emulator died (no connection error per component), no Terraform left, and the dead
    record is dropped, so the next command starts a fresh sandbox."""
    planned = _cli(copy, own_work, "plan", "--env", "dev")
    assert planned.returncode == 0, planned.stdout + planned.stderr
    record = own_work / "sandbox" / "server.json"
    dead_pid = json.loads(record.read_text())["pid"]

    process = subprocess.Popen(
        [sys.executable, "-m", "invoke", "apply", "--env", "dev", "--confirm", "deploy-dev"],
        cwd=copy, env=repo_copy.cli_env(copy, own_work, {"PYTHONUNBUFFERED": "1"}),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        seen = []
        for line in process.stdout:  # the runner prints "[<component>] <stage>" as it goes
            seen.append(line)
            if re.fullmatch(r"\[[\w-]+\] apply", line.strip()):
                os.kill(dead_pid, signal.SIGKILL)
                break
        stdout, stderr = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            process.kill()
    output = "".join(seen) + stdout
    assert seen and seen[-1].strip().endswith("] apply"), output

    assert process.returncode == 1, output + stderr
    assert stderr.count("died") == 1, stderr
    assert "the sandbox emulator died during this run" in stderr
    assert stderr.lower().count("connection refused") <= 1, stderr
    assert "Traceback" not in output + stderr
    assert terraform_processes_under(own_work) == []
    assert not record.exists(), "the dead emulator's record must be dropped"

    status = _cli(copy, own_work, "sandbox.status")
    assert (status.returncode, status.stdout.strip()) == (1, "The sandbox is not running.")
    again = _cli(copy, own_work, "plan", "--env", "dev", "--component", "tenants")
    assert again.returncode == 0, again.stdout + again.stderr
    fresh = json.loads(record.read_text())["pid"]
    assert fresh != dead_pid and moto_servers_of(own_work) == [fresh]


# ---- broken input files, in a repository copy ----------------------------------------------


def _refused(copy: Path, work: Path, *args: str) -> str:
    result = repo_copy.run_cli(copy, work, *args, timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert not (work / "sandbox").exists(), "no emulator may start on a broken input file"
    assert not (work / "logs").exists(), "no Terraform may run on a broken input file"
    return result.stderr


def test_a_stray_line_in_tfvars_stops_plan_before_anything_starts(copy: Path, tmp_path: Path):
    """`region = ` with no value in envs/dev.tfvars: exit 2 and one sentence naming the file
    and line."""
    path = copy / "envs" / "dev.tfvars"
    lines = path.read_text().splitlines()
    at = lines.index("deletion_protection = false") + 1
    path.write_text("\n".join([*lines[:at], "region = ", *lines[at:]]) + "\n")
    stderr = _refused(copy, tmp_path / "work", "plan", "--env", "dev")
    assert stderr == (f"error: envs/dev.tfvars:{at + 1}: is not valid HCL near `region =` "
                      "(column 10); every line must read `name = value`.\n")


def test_a_broken_schema_stops_plan_before_anything_starts(copy: Path, tmp_path: Path):
    """Invalid JSON in a table schema: exit 2 naming the file and line; no sandbox, no
    Terraform."""
    path = copy / "dynamodb" / "tenants" / "tenant.schema.json"
    lines = path.read_text().splitlines()
    at = lines.index('  "type": "object",')
    lines[at] = '  "type": "object"'  # the missing comma is reported on the next line
    path.write_text("\n".join(lines) + "\n")
    stderr = _refused(copy, tmp_path / "work", "plan", "--env", "dev")
    assert re.search(rf"^dynamodb/tenants/tenant\.schema\.json:( line )?{at + 2}: ", stderr,
                     re.M), stderr
    assert stderr.splitlines()[-1] == (
        "error: 1 problem(s) in dynamodb/tenants/tenant.schema.json; fix them first (invoke "
        "validate lists them all); nothing was started.")


def test_a_broken_template_contract_stops_plan_before_anything_starts(copy: Path,
                                                                       tmp_path: Path):
    """Invalid JSON in s3/templates/contracts.json stops a plan of the templates component."""
    path = copy / "s3" / "templates" / "contracts.json"
    path.write_text(path.read_text().rstrip().removesuffix("}") + "\n")
    stderr = _refused(copy, tmp_path / "work", "plan", "--env", "dev", "--component",
                      "templates")
    assert re.search(r"^s3/templates/contracts\.json:( line )?\d+: ", stderr, re.M), stderr
    assert stderr.splitlines()[-1] == (
        "error: 1 problem(s) in s3/templates/contracts.json; fix them first (invoke validate "
        "lists them all); nothing was started.")
