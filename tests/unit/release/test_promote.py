"""Promotion refuses a confirmation meant for another environment before anything starts, also
when it would only plan."""

from __future__ import annotations

import pytest

from bbws_infra.core.errors import UserError
from bbws_infra.release import promote


@pytest.mark.parametrize("plan_only", [False, True])
def test_a_wrong_confirmation_is_refused_even_for_a_plan(plan_only, monkeypatch):
    # Nothing past the confirmation may run: no ledger read, no worktree, no sandbox.
    monkeypatch.setattr(promote, "choose_commit", lambda *a: pytest.fail("went on"))
    with pytest.raises(UserError, match="needs --confirm promote-sit"):
        promote.prepare("sit", "sandbox", None, None, "promote-prod", plan_only)


def test_a_plan_needs_no_confirmation(monkeypatch):
    class Reached(Exception):
        pass

    def stop(*args):
        raise Reached

    monkeypatch.setattr(promote, "choose_commit", stop)
    with pytest.raises(Reached):
        promote.prepare("sit", "sandbox", None, None, None, True)


def test_applying_reviewed_plans_that_do_not_exist_says_how_to_write_them(tmp_path, monkeypatch):
    from bbws_infra.core.registry import discover_components, load_environment

    monkeypatch.setenv("BBWS_WORK_DIR", str(tmp_path))  # no bundles at all
    tenants = discover_components()["tenants"]
    with pytest.raises(UserError) as refused:
        promote.reviewed_commit("sandbox", load_environment("prod"), [tenants], None)
    assert str(refused.value) == (
        "No reviewed plan of tenants for prod (sandbox) to apply; write one with: invoke "
        "promote --to prod --component tenants --target sandbox --plan-only; nothing was "
        "changed.")
