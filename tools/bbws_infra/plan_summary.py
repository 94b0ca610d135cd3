"""Counts and human summaries (text and Markdown) of a saved plan's JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

_SYMBOLS = {"create": "+", "update": "~", "delete": "-", "replace": "-/+"}
_WORDS = {"create": "create", "update": "update in place", "delete": "DELETE",
          "replace": "REPLACE (delete, then create)"}


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

    def _ordered(self) -> list[tuple[str, str, str]]:
        """Deletions and replacements first, then the rest, each in address order."""
        return sorted(self.changes, key=lambda c: (c[0] not in ("delete", "replace"), c[1]))

    def text(self, heading: str, protected: list[str] | None = None) -> str:
        lines = [f"{heading}: {self.counts}."]
        if protected:
            lines.append("DELETION PROTECTION: this plan deletes or replaces "
                         f"{len(protected)} protected resource(s):")
            lines += [f"  ! {address}" for address in protected]
        lines += [f"  {_SYMBOLS[action]:>3} {address}" for action, address, _ in self._ordered()]
        return "\n".join(lines) + "\n"

    def markdown(self, heading: str, protected: list[str] | None = None) -> str:
        """For a pull-request comment or a GitHub job summary."""
        lines = [f"### {heading}", "", f"**{self.counts}**", ""]
        if protected:
            lines += ["> [!CAUTION]",
                      "> Deletion protection: this plan deletes or replaces protected "
                      "resources. Applying it needs each address named with `--allow-destroy` "
                      "and the `--confirm-destroy` string.", ">"]
            lines += [f"> - `{address}`" for address in protected]
            lines.append("")
        removals = [c for c in self._ordered() if c[0] in ("delete", "replace")]
        if removals:
            lines += ["#### Deletions and replacements", ""]
            lines += [f"- **{_WORDS[a]}** `{address}`" for a, address, _ in removals]
            lines.append("")
        if self.changes:
            lines += ["#### All changes", "", "| action | address | type |",
                      "|---|---|---|"]
            lines += [f"| {_SYMBOLS[a]} {_WORDS[a]} | `{address}` | `{kind}` |"
                      for a, address, kind in self._ordered()]
        else:
            lines.append("No changes: the infrastructure matches the configuration.")
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
