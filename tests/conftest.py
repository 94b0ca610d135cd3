"""Shared fixtures: every test session gets its own work directory and sandbox."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bbws_infra.core.paths import REPO_ROOT


@pytest.fixture(scope="session")
def work(tmp_path_factory: pytest.TempPathFactory):
    """The work directory of this test session (never the repository's build/)."""
    from bbws_infra.targets import sandbox

    path = tmp_path_factory.mktemp("work")
    previous = os.environ.get("BBWS_WORK_DIR")
    os.environ["BBWS_WORK_DIR"] = str(path)
    yield path
    sandbox.down()
    if previous is None:
        os.environ.pop("BBWS_WORK_DIR", None)
    else:
        os.environ["BBWS_WORK_DIR"] = previous


def invoke(*args: str, env: dict[str, str | None] | None = None, timeout: float = 900
           ) -> subprocess.CompletedProcess:
    """Run the real CLI as a user would, from the repository root. A None value in env
    removes that variable."""
    merged = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "invoke", *args], cwd=REPO_ROOT,
                          env={k: v for k, v in merged.items() if v is not None},
                          capture_output=True, text=True, timeout=timeout)


def fresh_work_dir(base: Path, shared: Path) -> Path:
    """A separate work directory (own sandbox) that borrows the warm provider cache."""
    base.mkdir(parents=True, exist_ok=True)
    cache = shared / "terraform" / "plugin-cache"
    cache.mkdir(parents=True, exist_ok=True)
    (base / "terraform").mkdir(exist_ok=True)
    (base / "terraform" / "plugin-cache").symlink_to(cache)
    return base


def borrow_tool(work: Path, name: str, marker: str, digest: str) -> Path:
    """Link <work>/tools/<name> to the copy `invoke check` built under build/tools/ when that one
    is current (CI runs the check first); otherwise the test builds its own on first use, as a
    fresh machine does."""
    shared = REPO_ROOT / "build" / "tools" / name
    target = work / "tools" / name
    current = shared / marker
    if not target.exists() and current.exists() and current.read_text().strip() == digest:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(shared)
    return target


@pytest.fixture(scope="session")
def mermaid_cli(work: Path) -> Path:
    """Mermaid's CLI for this session's work directory (borrowed when current)."""
    from bbws_infra.docs import diagrams

    return borrow_tool(work, "mermaid", ".package.sha256", diagrams._package_digest())


@pytest.fixture
def own_work(work: Path, tmp_path: Path) -> Iterator[Path]:
    """A fresh work directory for one test (its own sandbox, started on demand, and the
    session's warm provider cache); its sandbox is stopped afterwards."""
    path = fresh_work_dir(tmp_path / "own-work", work)
    yield path
    stop_sandbox(path)


@contextlib.contextmanager
def using_work_dir(path: Path) -> Iterator[Path]:
    """Point this process's bbws_infra at another work directory for a while."""
    previous = os.environ.get("BBWS_WORK_DIR")
    os.environ["BBWS_WORK_DIR"] = str(path)
    try:
        yield path
    finally:
        if previous is None:
            os.environ.pop("BBWS_WORK_DIR", None)
        else:
            os.environ["BBWS_WORK_DIR"] = previous


def stop_sandbox(work_dir: Path) -> None:
    from bbws_infra.targets import sandbox

    with using_work_dir(work_dir):
        sandbox.down()


def _processes() -> Iterator[tuple[int, bytes, Path]]:
    """(pid, cmdline, proc dir) of every process we may look at."""
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                yield int(proc.name), (proc / "cmdline").read_bytes(), proc
            except OSError:
                continue


def terraform_processes_under(root: Path) -> list[int]:
    """Terraform workers (bbws_infra.engine.tf_worker) and provider plugins whose cwd is under
    root."""
    found = []
    for pid, cmdline, proc in _processes():
        if b"bbws_infra.engine.tf_worker" not in cmdline and b"terraform-provider-" not in cmdline:
            continue
        try:
            cwd = os.readlink(proc / "cwd")
        except OSError:
            continue
        if cwd.startswith(str(root)):
            found.append(pid)
    return found


def moto_servers_of(work_dir: Path) -> list[int]:
    """Sandbox emulator processes started for this work directory (they write its moto.log)."""
    from bbws_infra.targets.sandbox import SERVER_MODULE

    log = str(work_dir / "sandbox" / "moto.log")
    found = []
    for pid, cmdline, proc in _processes():
        if SERVER_MODULE.encode() not in cmdline and b"moto_server" not in cmdline:
            continue
        try:
            output = os.readlink(proc / "fd" / "1")
        except OSError:
            continue
        if output.startswith(log):
            found.append(pid)
    return found


def held_locks(work_dir: Path, env_name: str) -> list[str]:
    """LockIDs of the state locks held in env's lock table of this work directory's sandbox
    (the digest items ending in -md5 are not locks); never starts a sandbox."""
    from bbws_infra.core.registry import load_environment
    from bbws_infra.targets.sandbox import SandboxSession

    record_path = work_dir / "sandbox" / "server.json"
    if not record_path.exists():
        return []
    record = json.loads(record_path.read_text())
    env = load_environment(env_name)
    key = record["credentials"][env.account_id]
    session = SandboxSession(f"http://127.0.0.1:{record['port']}", key["access_key"],
                             key["secret_key"], env.region)
    items = session.client("dynamodb").scan(TableName=env.lock_table)["Items"]
    return sorted(i["LockID"]["S"] for i in items if not i["LockID"]["S"].endswith("-md5"))


def bundle_problems(work_dir: Path) -> list[str]:
    """Every way the saved plans under <work>/plans break the bundle rule: a complete
    bundle.json beside a tfplan and plan.json with the recorded hashes, no .incoming left."""
    from bbws_infra.plans.bundle import sha256_file

    plans = work_dir / "plans"
    problems = [f"{p} left behind" for p in plans.rglob(".incoming")]
    for record_path in plans.rglob("bundle.json"):
        record = json.loads(record_path.read_text())
        for name, key in (("tfplan", "plan_sha256"), ("plan.json", "plan_json_sha256")):
            path = record_path.parent / name
            if not path.exists():
                problems.append(f"{record_path} without {name}")
            elif sha256_file(path) != record[key]:
                problems.append(f"{path} does not match {record_path}")
    return problems


def git_status() -> str:
    if not (REPO_ROOT / ".git").exists():
        return ""
    return subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"],
                          cwd=REPO_ROOT, capture_output=True, text=True).stdout
