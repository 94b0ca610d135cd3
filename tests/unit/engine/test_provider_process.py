"""The shared provider process of a Terraform batch (engine.provider_process): which binary it
may be (only the lock file's package), and that it is started, handed to Terraform and always
stopped. The real provider's flow is tested on the sandbox (tests/e2e/test_provider_process.py).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import threading
from pathlib import Path

import pytest

from bbws_infra.core.paths import REPO_ROOT
from bbws_infra.engine import provider_process

ADDRESS = provider_process.ADDRESS


def _lock_file(path: Path, *hashes: str, version: str = "3.39.0") -> Path:
    listed = "".join(f'    "{h}",\n' for h in hashes)
    path.write_text(f'provider "{ADDRESS}" {{\n  version     = "{version}"\n'
                    f'  constraints = "{version}"\n  hashes = [\n{listed}  ]\n}}\n')
    return path


def _package(cache: Path, content: bytes, version: str = "3.39.0") -> Path:
    directory = cache / ADDRESS / version / provider_process.platform_dir()
    directory.mkdir(parents=True)
    binary = directory / f"terraform-provider-aws_v{version}_x5"
    binary.write_bytes(content)
    return binary


def test_the_committed_lock_files_pin_one_version_and_its_package_hashes() -> None:
    for lock in sorted(REPO_ROOT.glob("*/*/.terraform.lock.hcl")):
        version, hashes = provider_process.locked(lock) or ("", frozenset())
        assert version == "3.39.0", lock
        assert len(hashes) == 2 and all(h.startswith("h1:") for h in hashes), lock


def test_the_package_hash_is_terraforms_h1(tmp_path: Path) -> None:
    # Go's dirhash.Hash1 over one file, written out from its definition
    binary = _package(tmp_path, b"provider bytes")
    line = f"{hashlib.sha256(b'provider bytes').hexdigest()}  {binary.name}\n"
    expected = "h1:" + base64.b64encode(hashlib.sha256(line.encode()).digest()).decode()
    assert provider_process.package_hash(binary.parent) == expected


def test_only_the_package_the_lock_file_pins_is_started(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    cache = tmp_path / "cache"
    binary = _package(cache, b"the pinned provider")
    env = {"TF_PLUGIN_CACHE_DIR": str(cache)}
    root = tmp_path / "root"
    root.mkdir()
    pinned = provider_process.package_hash(binary.parent)
    _lock_file(root / ".terraform.lock.hcl", pinned)

    assert provider_process.spec(root, env, [["plan"], ["show", "-json", "p"]]) == {
        "binary": str(binary), "address": ADDRESS, "relay": True}
    assert provider_process.spec(root, env, [["init"], ["plan"]]) is not None
    # after an init that attached it, the provider is not installed: every command that needs
    # it (force-unlock and state commands too) attaches it
    assert provider_process.spec(root, env, [["force-unlock", "-force", "x"]]) is not None
    # nothing needs it (an init alone installs it); the per-command switch; a Terraform binary
    assert provider_process.spec(root, env, [["init"]]) is None
    assert provider_process.spec(root, env, []) is None
    monkeypatch.setenv(provider_process.SWITCH, "per-command")
    assert provider_process.spec(root, env, [["plan"]]) is None
    # shared, but attached directly: without the relay that lets Terraform read the schema once
    monkeypatch.setenv(provider_process.SWITCH, "direct")
    assert provider_process.spec(root, env, [["plan"]]) == {
        "binary": str(binary), "address": ADDRESS, "relay": False}
    monkeypatch.delenv(provider_process.SWITCH)
    monkeypatch.setenv("TERRAFORM_BIN", "/usr/bin/terraform")
    assert provider_process.spec(root, env, [["plan"]]) is None
    monkeypatch.delenv("TERRAFORM_BIN")

    # a binary changed in the cache is not the pinned one: Terraform's own check decides
    binary.write_bytes(b"something else")
    assert provider_process.spec(root, env, [["plan"]]) is None
    # a version the lock file does not pin, or no lock file: plain Terraform
    _lock_file(root / ".terraform.lock.hcl", pinned, version="3.40.0")
    assert provider_process.spec(root, env, [["plan"]]) is None
    (root / ".terraform.lock.hcl").unlink()
    assert provider_process.spec(root, env, [["plan"]]) is None


def _pinned_package(tmp_path: Path, content: bytes) -> tuple[Path, Path, Path]:
    """A plugin cache holding one package, and a root whose lock file pins its hash: (cache,
    binary, root)."""
    cache = tmp_path / "cache"
    binary = _package(cache, content)
    root = tmp_path / "root"
    root.mkdir()
    _lock_file(root / ".terraform.lock.hcl", provider_process.package_hash(binary.parent))
    return cache, binary, root


def test_a_package_hashed_ahead_is_not_read_again_until_it_changes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache, binary, root = _pinned_package(tmp_path, b"the pinned provider, hashed ahead")
    reads: list[Path] = []
    real = provider_process.package_hash
    monkeypatch.setattr(provider_process, "package_hash",
                        lambda directory: reads.append(directory) or real(directory))

    provider_process.prehash(cache)  # what the tests' preloaded CLI does before forking
    assert reads == [binary.parent]
    env = {"TF_PLUGIN_CACHE_DIR": str(cache)}
    assert provider_process.spec(root, env, [["plan"]]) is not None
    assert reads == [binary.parent]
    # rewritten afterwards (a new change time): hashed again, and refused
    binary.write_bytes(b"something else")
    assert provider_process.spec(root, env, [["plan"]]) is None
    assert reads == [binary.parent, binary.parent]
    provider_process.prehash(tmp_path / "empty")  # nothing installed yet: nothing to do
    assert len(reads) == 2


def _fake_provider(tmp_path: Path, pid: int | None = None, listen: bool = True
                   ) -> dict[str, str]:
    """A stand-in binary: says where to attach (with its own pid unless told another), as the
    provider's debug mode does, and waits."""
    script = tmp_path / "fake-provider"
    script.write_text(textwrap.dedent(f"""\
        #!{sys.executable}
        import json, os, sys, time
        open({str(tmp_path / "started")!r}, "w").write(f"{{os.getpid()}} {{os.environ['TMPDIR']}}")
        if not {listen}:
            sys.exit(3)
        config = {{"Protocol": "grpc", "Pid": {pid} or os.getpid(), "Test": True,
                   "Addr": {{"Network": "unix", "String": "sock"}}}}
        print("Provider started, to attach Terraform set the TF_REATTACH_PROVIDERS env var:")
        print("\\tTF_REATTACH_PROVIDERS='" + json.dumps({{{ADDRESS!r}: config}}) + "'",
              flush=True)
        time.sleep(300)
        """))
    script.chmod(0o755)
    return {"binary": str(script), "address": ADDRESS}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead too (not reaped yet by a parent that is gone)
    status = Path(f"/proc/{pid}/status")
    return not status.exists() or "zombie" not in status.read_text()


def test_a_started_provider_is_handed_over_in_a_private_folder_and_stopped(
        tmp_path: Path) -> None:
    started = provider_process.start(_fake_provider(tmp_path))
    assert started is not None
    pid, folder = (tmp_path / "started").read_text().split()
    assert started.pid == int(pid) and started.folder == folder
    assert Path(folder).stat().st_mode & 0o777 == 0o700
    assert json.loads(started.reattach)[ADDRESS]["Pid"] == started.pid
    environment = started.environment({"commands": []})
    assert environment[provider_process.REATTACH_VAR] == started.reattach
    started.stop()
    assert not _alive(started.pid) and not Path(folder).exists()


@pytest.mark.parametrize("listen,pid", [(False, None), (True, 1)])
def test_a_provider_that_does_not_listen_as_itself_is_stopped_and_not_used(
        tmp_path: Path, listen: bool, pid: int | None) -> None:
    assert provider_process.start(_fake_provider(tmp_path, pid=pid, listen=listen)) is None
    started_pid, folder = (tmp_path / "started").read_text().split()
    assert not _alive(int(started_pid)) and not Path(folder).exists()


def test_the_folders_of_dead_workers_are_swept(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)  # read TMPDIR again
    dead = subprocess.Popen(["true"])
    dead.wait()
    litter = tmp_path / f"bbws-provider-{dead.pid}-abc"
    mine = tmp_path / f"bbws-provider-{os.getpid()}-def"
    litter.mkdir()
    mine.mkdir()
    started = provider_process.start(_fake_provider(tmp_path))
    assert started is not None
    started.stop()
    assert not litter.exists() and mine.exists()


def test_a_worker_runs_its_batch_attached_and_stops_the_provider(tmp_path: Path) -> None:
    spec = _fake_provider(tmp_path)
    payload = {"provider": spec, "commands": [{"args": ["version"], "ok": [0]}]}
    # the parent keeps the worker's stdin open while the batch runs (its end means stop)
    worker = subprocess.Popen([sys.executable, "-m", "bbws_infra.engine.tf_worker", "--batch"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                              cwd=tmp_path)
    assert worker.stdin is not None and worker.stdout is not None
    worker.stdin.write(json.dumps(payload) + "\n")
    worker.stdin.flush()
    lines = list(worker.stdout)
    worker.stdin.close()
    assert worker.wait(timeout=60) == 0, lines
    result = json.loads(lines[-1].removeprefix("@@result "))
    assert result[0]["code"] == 0 and "Terraform v" in result[0]["stdout"]
    pid, folder = (tmp_path / "started").read_text().split()
    assert not _alive(int(pid)) and not Path(folder).exists()


def test_a_package_hashed_meanwhile_is_hashed_once_on_its_own_thread(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache, binary, root = _pinned_package(tmp_path,
                                          b"the pinned provider, hashed on another thread")
    reads: list[tuple[Path, str]] = []
    real = provider_process.package_hash
    monkeypatch.setattr(provider_process, "package_hash", lambda directory: reads.append(
        (directory, threading.current_thread().name)) or real(directory))
    monkeypatch.setattr(provider_process, "_prehashed", set())

    provider_process.prehash_meanwhile(cache)
    provider_process.prehash_meanwhile(cache)  # once per process and cache
    for thread in threading.enumerate():
        if thread.name == "provider hash":
            thread.join(10)
    assert reads == [(binary.parent, "provider hash")]
    # the check before a batch finds the hash taken (while it is being taken, it waits for it
    # under the same lock rather than hashing again)
    assert provider_process.spec(root, {"TF_PLUGIN_CACHE_DIR": str(cache)}, [["plan"]])
    assert len(reads) == 1
    # asked while a hash is under way (its lock held), it starts its thread without waiting
    with provider_process._hashes_lock:
        asking = threading.Thread(target=provider_process.prehash_meanwhile,
                                  args=(tmp_path / "another cache",))
        asking.start()
        asking.join(5)
        assert not asking.is_alive()
