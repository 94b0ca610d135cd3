"""How Terraform commands are named in the benchmark's stage timings (engine.timings)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bbws_infra.engine import terraform, timings
from bbws_infra.plans import operations


def test_a_command_is_timed_by_its_label_or_its_terraform_command() -> None:
    assert terraform.Command(["plan", "-out=x"]).stage == "plan"
    assert terraform.Command(["plan"], label="verification plan").stage == "verification plan"


def test_the_speculative_plans_are_told_apart(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    class Ctx:
        def var_args(self) -> list[str]:
            return []

    verify = operations._speculative(Ctx(), tmp_path / "p", False)  # type: ignore[arg-type]
    drift = operations._speculative(Ctx(), tmp_path / "p", True)  # type: ignore[arg-type]
    assert [c.stage for c in verify] == ["verification plan", "verification plan show"]
    assert [c.stage for c in drift] == ["refresh-only plan", "refresh-only plan show"]
    monkeypatch.delenv(timings.ENV_VAR, raising=False)
    assert not timings.enabled()
