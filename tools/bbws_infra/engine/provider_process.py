"""One AWS provider process per Terraform batch instead of one per command and graph walk.

Terraform starts the provider anew for every schema load and every graph walk: three times for
a plan and its `show -json`, four for an apply with its verification plan. Before each command
it also hashes the 177 MB provider package against the lock file (five times in an init). A
batch's worker (bbws_infra.engine.tf_worker) can instead start the provider once, in the
provider's own debug-server mode, and point every command of the batch at it through
Terraform's TF_REATTACH_PROVIDERS; the commands, their plans and their checks stay the same.

What Terraform would have checked is checked here first, once per process: the binary started
is the plugin cache's copy of the version the root's committed lock file pins, and only when
its package hash (h1) is one the lock file lists. Otherwise the batch runs as before and
Terraform's own check reports the mismatch. An init with the provider attached does not
install it; plans.operations initialises again before a batch that cannot attach.

Only a root that uses one configuration of the provider attaches (the provider keeps one
configuration: a second region's would replace the first's), which plans.operations decides.

The process lives only as long as its batch, in the worker's process group (stopped with it),
with the batch's environment (one env's credentials), and listens on a socket in a private
folder (mode 0700): nothing else on the machine can reach it. See
docs/decisions/deploy-speed.md.

Terraform reaches the shared provider through a relay in the worker that lets it read the
provider's schema once per process instead of once per graph walk (provider_relay).

BBWS_PROVIDER_PROCESS=per-command turns this off (every command starts its own provider, as
plain Terraform does); BBWS_PROVIDER_PROCESS=direct shares the provider without the relay.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from bbws_infra.core import private_folders
from bbws_infra.core.untyped import JsonObject

ADDRESS = "registry.terraform.io/hashicorp/aws"
SWITCH = "BBWS_PROVIDER_PROCESS"
# How long the provider may take to start listening before the batch runs without it.
START_TIMEOUT_S = 60.0
STOP_GRACE_S = 10.0
# What a worker that started again (bbws_infra.engine.tf_worker) finds in its environment.
REATTACH_VAR = "TF_REATTACH_PROVIDERS"
_BATCH_VAR = "BBWS_TF_BATCH"
_PROCESS_VAR = "BBWS_TF_PROVIDER"
_LISTENING = "TF_REATTACH_PROVIDERS='"
_FOLDER_PREFIX = "bbws-provider-"
# Commands that never need the provider: a batch of these alone runs without one (an init
# alone then installs it). Every other command (force-unlock and state commands too) needs it
# installed or attached.
WITHOUT_PROVIDER = frozenset({"init", "fmt", "version"})

_BLOCK = re.compile(r'provider\s+"' + re.escape(ADDRESS) + r'"\s*\{(?P<body>.*?)\n\}', re.S)
_VERSION = re.compile(r'^\s*version\s*=\s*"(?P<version>[^"]+)"', re.M)
_HASHES = re.compile(r'"(h1:[A-Za-z0-9+/=]+)"')

# (binary, inode, size, ctime) -> h1: the package hash, computed once per process (a changed
# file has a new ctime, which no one can set back)
_hashes: dict[tuple[str, int, int, int], str] = {}
_hashes_lock = threading.Lock()


def enabled() -> bool:
    return os.environ.get(SWITCH, "shared") != "per-command"


def relayed() -> bool:
    return os.environ.get(SWITCH, "shared") != "direct"


def platform_dir() -> str:
    """Terraform's name for this machine's platform (linux_amd64, darwin_arm64...)."""
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)
    return f"{platform.system().lower()}_{arch}"


def locked(lock_file: Path) -> tuple[str, frozenset[str]] | None:
    """The AWS provider version the lock file pins and the package hashes (h1) it accepts."""
    try:
        match = _BLOCK.search(lock_file.read_text())
    except OSError:
        return None
    if match is None:
        return None
    version = _VERSION.search(match["body"])
    hashes = frozenset(_HASHES.findall(match["body"]))
    return (version["version"], hashes) if version and hashes else None


def package_hash(directory: Path) -> str:
    """Terraform's h1 hash of an unpacked provider package (Go's dirhash.Hash1): the SHA-256
    of the sorted lines `<sha256 of file>  <name>`."""
    summary = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
        summary.update(f"{digest.hexdigest()}  {path.relative_to(directory).as_posix()}\n"
                       .encode())
    return "h1:" + base64.b64encode(summary.digest()).decode()


def _hash_once(directory: Path, binary: Path) -> str:
    stat = binary.stat()
    key = (str(binary), stat.st_ino, stat.st_size, stat.st_ctime_ns)
    with _hashes_lock:  # components ask at once; one of them hashes
        if key not in _hashes:
            _hashes[key] = package_hash(directory)
        return _hashes[key]


def prehash(cache: Path) -> None:
    """Hash the provider packages installed in a plugin cache now, for a process that forks
    commands (the tests' preloaded CLI): each child then checks its binary's inode, size and
    change time against the key instead of reading 177 MB again (0.2 s of CPU a command)."""
    for binary in sorted((cache / ADDRESS).glob(f"*/{platform_dir()}/terraform-provider-aws*")):
        _hash_once(binary.parent, binary)


# the plugin caches a thread of this process hashes, or hashed (prehash_meanwhile); a lock of
# its own: _hashes_lock is held for the whole of a hash, and a second call must not wait on it
_prehashed: set[Path] = set()
_prehashed_lock = threading.Lock()


def prehash_meanwhile(cache: Path) -> None:
    """prehash, in a thread of its own, once per process and cache: a command starts it before
    the work that comes ahead of its first Terraform batch (the target's set-up, the staging),
    whose check (spec) then finds the hash taken, or waits for the thread instead of hashing
    again. File reads and hashlib let go of the interpreter lock, so the 0.15 to 0.2 s of
    hashing run on another core."""
    with _prehashed_lock:
        if cache in _prehashed:
            return
        _prehashed.add(cache)
    threading.Thread(target=prehash, args=(cache,), name="provider hash", daemon=True).start()


def spec(root: Path, env: dict[str, str], commands: list[list[str]]) -> JsonObject | None:
    """What the worker needs to start the shared provider for these commands in this root
    (its binary and address), or None: the commands run as plain Terraform runs them."""
    if not enabled() or os.environ.get("TERRAFORM_BIN") \
            or all(args[0] in WITHOUT_PROVIDER for args in commands):
        return None
    pinned = locked(root / ".terraform.lock.hcl")
    cache = env.get("TF_PLUGIN_CACHE_DIR")
    if pinned is None or not cache:
        return None
    version, hashes = pinned
    directory = Path(cache) / ADDRESS / version / platform_dir()
    binaries = sorted(directory.glob("terraform-provider-aws*")) if directory.is_dir() else []
    if len(binaries) != 1 or _hash_once(directory, binaries[0]) not in hashes:
        return None  # not installed yet, or not what the lock file pins: Terraform decides
    return {"binary": str(binaries[0]), "address": ADDRESS, "relay": relayed()}


# The worker's side: start the provider, hand it to Terraform, stop it.


@dataclass(frozen=True)
class Started:
    """A provider process listening for Terraform, and its private folder."""

    pid: int
    folder: str
    reattach: str  # TF_REATTACH_PROVIDERS's value

    def environment(self, payload: JsonObject) -> dict[str, str]:
        """The environment a worker starts again with: Terraform pointed at the provider, the
        batch and the process to stop at its end."""
        return {**os.environ, REATTACH_VAR: self.reattach, _BATCH_VAR: json.dumps(payload),
                _PROCESS_VAR: json.dumps({"pid": self.pid, "folder": self.folder})}

    def stop(self) -> None:
        _stop(self.pid, self.folder)


@dataclass(frozen=True)
class Attached:
    """What a worker that started again runs (its batch) and stops at the end."""

    payload: JsonObject
    pid: int
    folder: str

    @property
    def relayed(self) -> bool:
        """Whether Terraform should reach the provider through the relay."""
        return bool((self.payload.get("provider") or {}).get("relay"))

    def stop(self) -> None:
        _stop(self.pid, self.folder)


def attached() -> Attached | None:
    """The batch and provider this worker started again with, if it did."""
    process = os.environ.pop(_PROCESS_VAR, None)
    if process is None:
        return None
    owned = json.loads(process)
    return Attached(json.loads(os.environ.pop(_BATCH_VAR)), int(owned["pid"]),
                    str(owned["folder"]))


def start(spec: JsonObject | None) -> Started | None:
    """Start the provider in its debug-server mode and wait until it listens; None when no
    spec was given or it did not start (the batch then runs as plain Terraform runs it)."""
    if spec is None:
        return None
    # mode 0700: ours alone; named by this worker, whose end makes it litter
    folder = str(private_folders.make(_FOLDER_PREFIX))
    out = Path(folder) / "provider.out"
    # Its output goes to a file, not a pipe: the worker starts again (execve) and a pipe's
    # reading end would close, killing the provider at its next line (SIGPIPE). It stays in
    # the worker's process group, so whatever kills the worker's group kills it too.
    with out.open("wb") as handle:
        process = subprocess.Popen(
            [str(spec["binary"]), "-debug"], stdin=subprocess.DEVNULL, stdout=handle,
            stderr=None if os.environ.get("TF_LOG") else subprocess.DEVNULL,
            env={**os.environ, "TMPDIR": folder})
    try:
        reattach = _listening(process, out, str(spec["address"]))
    except BaseException:  # Ctrl-C while it starts: never leave it behind
        _stop(process.pid, folder)
        raise
    if reattach is None:
        _stop(process.pid, folder)
        return None
    return Started(process.pid, folder, reattach)


def _listening(process: subprocess.Popen[bytes], out: Path, address: str) -> str | None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline and process.poll() is None:
        for line in out.read_text(errors="replace").splitlines():
            if _LISTENING in line:
                try:
                    listed = json.loads(line.split(_LISTENING, 1)[1].rstrip("'"))
                except ValueError:
                    return None
                config = listed.get(address, {}) if isinstance(listed, dict) else {}
                # its own address, nothing else: Terraform would attach any provider named
                return json.dumps({address: config}) if config.get("Pid") == process.pid \
                    else None
        time.sleep(0.01)
    return None


def _stop(pid: int, folder: str) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_S
    while True:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            break  # reaped already
        if done:
            break
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            break
        time.sleep(0.01)
    shutil.rmtree(folder, ignore_errors=True)
