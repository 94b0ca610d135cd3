"""Counts and a short human summary from `terraform show -json` of a saved plan."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

_SYMBOLS = {"create": "+", "update": "~", "delete": "-", "replace": "-/+"}


@dataclass
class PlanSummary:
    add: int = 0
    change: int = 0
    destroy: int = 0
    changes: list[tuple[str, str, str]] = field(default_factory=list)  # (action, address, type)

    @property
    def has_changes(self) -> bool:
        return bool(self.add or self.change or self.destroy)

    @property
    def counts(self) -> str:
        return f"{self.add} to add, {self.change} to change, {self.destroy} to destroy"

    def removals(self) -> list[tuple[str, str, str]]:
        """Changes that delete something: plain deletes and replacements."""
        return [c for c in self.changes if c[0] in ("delete", "replace")]

    def text(self, heading: str) -> str:
        lines = [f"{heading}: {self.counts}."]
        lines += [f"  {_SYMBOLS[action]:>3} {address}" for action, address, _ in self.changes]
        return "\n".join(lines) + "\n"


def action_of(actions: list[str]) -> str | None:
    """Terraform's action list as one word; None for no-op and read."""
    if sorted(actions) == ["create", "delete"]:
        return "replace"
    if actions in (["create"], ["update"], ["delete"]):
        return actions[0]
    return None


def summarise(plan_json: dict[str, Any]) -> PlanSummary:
    summary = PlanSummary()
    for change in plan_json.get("resource_changes", []):
        action = action_of(change["change"]["actions"])
        if action is None:
            continue
        summary.changes.append((action, change["address"], change["type"]))
        summary.add += action in ("create", "replace")
        summary.change += action == "update"
        summary.destroy += action in ("delete", "replace")
    return summary
