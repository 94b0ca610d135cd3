"""What a run may leave behind in a work directory: Terraform workers and emulators still running,
state locks still held, saved plans that break the bundle rule."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path


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
