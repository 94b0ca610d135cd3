"""`invoke check`'s gates with the real tools: a deliberately bad tree fails the relevant ones
with file and line, and a scanner that cannot be installed fails its gate.

That the repository passes every blocking gate, and that the gates write nothing into it, is
`nox`'s check session: it runs `invoke check`, which fails when a blocking gate fails or when
the repository's files changed while the gates ran (tests/unit/commands/test_checks_guard.py).
Running every gate here again cost the suite about a minute."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bbws_infra.core.paths import REPO_ROOT
from bbws_infra.gates import gates
from bbws_infra.gates.results import GateResult
from bbws_infra.gates.scanners import _requirements_digest, scanner_requirements
from tests.support.work_dirs import borrow_tool

pytestmark = pytest.mark.e2e

BAD = REPO_ROOT / "tests" / "fixtures" / "gates" / "bad"


@pytest.fixture(scope="module")
def scanners(work: Path) -> Path:
    """The scanner environment, borrowed from build/ when current."""
    return borrow_tool(work, "scanners", ".requirements.sha256",
                       _requirements_digest(scanner_requirements()))


def _where(result: GateResult) -> set[tuple[str, int, str]]:
    return {(f.file, f.line, f.rule) for f in result.findings if f.blocking}


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
