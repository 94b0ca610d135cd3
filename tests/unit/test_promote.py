"""Promotion refuses a confirmation meant for another environment before anything starts, also
when it would only plan."""

from __future__ import annotations

import pytest

from bbws_infra import promote
from bbws_infra.errors import UserError


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
