"""`invoke check`'s gates with the real tools: the repository passes every blocking gate, and a
deliberately bad tree fails the relevant ones with file and line."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from bbws_infra.core.paths import REPO_ROOT
from bbws_infra.gates import gates
from bbws_infra.gates.results import GateResult
from bbws_infra.gates.scanners import _requirements_digest, scanner_requirements
from tests.support.cli import git_status
from tests.support.work_dirs import borrow_tool

pytestmark = pytest.mark.e2e

BAD = REPO_ROOT / "tests" / "fixtures" / "gates" / "bad"


@pytest.fixture(scope="module")
def scanners(work: Path, mermaid_cli: Path) -> Path:
    """The scanner environment (and Mermaid's CLI, for the diagrams gate), borrowed from build/
    when current."""
    return borrow_tool(work, "scanners", ".requirements.sha256",
                       _requirements_digest(scanner_requirements()))


def _where(result: GateResult) -> set[tuple[str, int, str]]:
    return {(f.file, f.line, f.rule) for f in result.findings if f.blocking}


def test_the_repository_passes_every_blocking_gate(scanners: Path):
    # the diagrams gate among them: Mermaid parses every diagram of the docs (one run of
    # Mermaid over them all, not a second one in test_docs.py)
    before = git_status()
    started = time.monotonic()
    results = gates.run_check()
    print(f"\nrun_check() on the repository: {time.monotonic() - started:.1f} s")
    report = gates.format_results(results)
    print(report)
    by_name = {r.name: r for r in results}
    assert list(by_name) == list(gates.GATES)
    assert all(r.ok for r in results if r.blocking), report
    assert gates.exit_code(results) == 0
    infracost = by_name["infracost"]  # advisory: priced when earlier tests left saved plans
    assert infracost.blocking is False and infracost.status in ("skipped", "passed")
    assert json.loads(gates.results_json(results))["ok"] is True
    assert git_status() == before, "the gates must not write into the repository"


def test_a_bad_tree_fails_the_relevant_gates_with_file_and_line(scanners: Path):
    results = {r.name: r for r in gates.run_check(
        ["fmt", "tfsec", "checkov", "lint-workflows"], root=BAD)}
    report = gates.format_results(list(results.values()))
    assert all(r.status == "failed" for r in results.values()), report
    assert gates.exit_code(list(results.values())) == 1

    assert _where(results["fmt"]) == {("s3/public/variables.tf", 3, "terraform-fmt")}
    # public-read ACL and no encryption: HIGH for Trivy (or tfsec), a failed check for checkov
    assert {("s3/public/main.tf", 14, "AVD-AWS-0092"),
            ("s3/public/main.tf", 11, "AVD-AWS-0088")} <= _where(results["tfsec"]), report
    assert any(not f.blocking and f.severity == "LOW" for f in results["tfsec"].findings)
    checkov = _where(results["checkov"])
    assert {("s3/public/main.tf", 11, "CKV_AWS_20"),
            ("s3/public/main.tf", 11, "CKV_AWS_145")} <= checkov, report
    assert not any(rule == "CKV_AWS_144" for _, _, rule in checkov)  # skipped with a reason
    assert {(".github/workflows/bad.yml", 11, "zizmor:unpinned-uses"),
            (".github/workflows/bad.yml", 13, "zizmor:template-injection"),
            (".github/workflows/bad.yml", 13, "actionlint:expression")
            } <= _where(results["lint-workflows"]), report
    assert "s3/public/main.tf:14: [AVD-AWS-0092 HIGH] Bucket has a public ACL" in report


def test_a_scanner_that_cannot_be_installed_fails_its_gate(tmp_path: Path, monkeypatch):
    # A fresh work directory and a pip that finds no packages: as on a machine offline.
    monkeypatch.setenv("BBWS_WORK_DIR", str(tmp_path / "work"))
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    (tmp_path / "no-wheels").mkdir()
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "no-wheels"))
    result = gates.run_gate("checkov", BAD)
    assert (result.status, result.ok, result.findings) == ("error", False, [])
    assert "could not be installed" in result.note and "checkov==" in result.note
    assert "\n" not in result.note
    assert gates.exit_code([result]) == 1
    assert not (tmp_path / "work" / "tools" / "scanners").exists()
