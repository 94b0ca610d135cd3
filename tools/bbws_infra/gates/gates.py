"""The static gates behind `invoke check`: each gate checks one thing over the repository (or a
fixture tree) and reports findings with file and line.

Gate functions take the tree's root and return a Checked (findings and a note); they raise
GateError when their tool cannot run (a missing tool never counts as a pass) and GateSkipped
when they do not apply. run_gate() turns either into a GateResult; run_check() runs several
gates at once.

checkov and Trivy pin old versions of libraries the task runner shares, so they live in their
own virtualenv under the work directory, built on first use from the `scan` extra of
pyproject.toml (the one place their versions are listed).

The pieces: results.py (what a gate reports), scanners.py (running tools, the scanners'
virtualenv), parsers.py (tool output -> findings); the names are importable from here too.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sys
import time
import tomllib
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from bbws_infra.core import registry, tables
from bbws_infra.core.errors import OperationError, UserError
from bbws_infra.core.findings import Finding
from bbws_infra.core.paths import REPO_ROOT, file_lock, relative_name, work_dir
from bbws_infra.gates.parsers import (
    from_validator,
    parse_actionlint,
    parse_checkov,
    parse_fmt_diff,
    parse_mypy,
    parse_ruff,
    parse_terraform_diagnostics,
    parse_tfsec,
    parse_trivy,
    parse_zizmor,
)
from bbws_infra.gates.results import Checked, GateError, GateResult, GateSkipped
from bbws_infra.gates.scanners import (
    WORKFLOWS_DIR,
    _dedupe,
    _dev_binary,
    _json_output,
    _last_line,
    _relocate,
    _run_tool,
    _unstage,
    scan_dirs,
    scanner_env,
    stage_scan_tree,
    trivy_binary,
)

if TYPE_CHECKING:
    from bbws_infra.docs.doc_commands import DocProblem

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


def _terraform_validate() -> list[Finding]:
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
        findings += parsed or [Finding(
            name, 0,
            f"{row.error} (failed in {row.stage}; log: {static_checks.validate_log(row.item)})",
            rule="terraform-validate")]
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


def _cost_input_findings(root: Path) -> list[Finding]:
    """The price table and every env's usage file must load (file, line, sentence)."""
    from bbws_infra.core.errors import InputFileError
    from bbws_infra.gates.cost_table import load_prices
    from bbws_infra.gates.cost_usage import load_usage

    findings = []
    prices = root / "pricing" / "prices.json"
    loaders: list[tuple[Callable[[Path], object], Path]] = (
        [(load_prices, prices)] if prices.exists() else [])
    loaders += [(load_usage, path) for path in sorted((root / "envs").glob("*.usage.yml"))]
    for load, path in loaders:
        try:
            load(path)
        except InputFileError as error:
            findings.append(replace(error.finding, line=error.line or 1, rule="cost-input"))
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
            findings.append(Finding(
                f"envs/{env_name}.usage.yml", 1,
                cost.threshold_sentence(env_name, report.total, report.threshold),
                rule="cost-review", severity="MEDIUM", blocking=False))
    if not notes:
        raise GateSkipped(f"no saved plans ({target}) to price; run invoke plan first")
    return Checked(findings, note=f"{'; '.join(notes)} ({report.engine})")


def _doc_findings(problems: Iterable[DocProblem], rule: str) -> list[Finding]:
    return [Finding(p.file, p.line, p.message, rule=rule) for p in problems]


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
    executor = ThreadPoolExecutor(max_workers=runner.max_workers(len(order), cpu_only=True))
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
        "gates": [{**asdict(r), "findings": [f.as_json() for f in r.findings],
                   "seconds": round(r.seconds, 2)} for r in results],
    }, indent=2)
