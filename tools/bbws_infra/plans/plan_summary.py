"""Counts and human summaries (text and Markdown) of a saved plan's JSON.

Every action Terraform can plan is named here, including the ones that change no resource but
change what Terraform manages: forget (a `removed` block with `destroy = false`: the resource
stays in the account, unmanaged), import, and move (a `moved` block: same object, new address).
An action list this module does not know is refused, never passed over as "no changes": a
newer Terraform may plan something a reviewer would have to see.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from bbws_infra.core.errors import UserError
from bbws_infra.core.untyped import JsonObject

# Terraform's action lists (`change.actions` in `show -json`) -> one word.
_ACTIONS: dict[tuple[str, ...], str | None] = {
    ("no-op",): None,
    ("read",): None,  # data sources: read during plan and apply, nothing managed changes
    ("create",): "create",
    ("update",): "update",
    ("delete",): "delete",
    ("delete", "create"): "replace",
    ("create", "delete"): "replace",
    ("forget",): "forget",
    ("create", "forget"): "create-forget",  # a new object; the old one is forgotten, not deleted
}
_SYMBOLS = {"create": "+", "update": "~", "delete": "-", "replace": "-/+", "forget": "x",
            "create-forget": "+/x", "import": "<=", "move": "->"}
_WORDS = {"create": "create", "update": "update in place", "delete": "DELETE",
          "replace": "REPLACE (delete, then create)",
          "forget": "FORGET (stays in the account, no longer managed)",
          "create-forget": "REPLACE, FORGETTING the old object (it stays, unmanaged)",
          "import": "import", "move": "move"}
# Actions after which Terraform no longer manages an object it managed before.
REMOVING = frozenset({"delete", "replace", "forget", "create-forget"})


class UnknownPlanAction(UserError):
    """The plan holds an action this tool cannot classify: refused, never treated as none."""


class Change(NamedTuple):
    action: str
    address: str
    type: str
    previous_address: str = ""  # a move: where the object was managed until now
    importing: str = ""  # an import: the id of the object taken under management

    @property
    def note(self) -> str:
        notes = []
        if self.previous_address:
            notes.append(f"moved from {self.previous_address}")
        if self.importing:
            notes.append(f"imported from id {self.importing}")
        return f" ({'; '.join(notes)})" if notes else ""


@dataclass
class PlanSummary:
    add: int = 0
    change: int = 0
    destroy: int = 0
    forget: int = 0
    imports: int = 0
    moves: int = 0
    changes: list[Change] = field(default_factory=list)

    @property
    def has_changes(self) -> bool:
        return bool(self.add or self.change or self.destroy or self.forget or self.imports
                    or self.moves)

    @property
    def counts(self) -> str:
        text = f"{self.add} to add, {self.change} to change, {self.destroy} to destroy"
        extra = [f"{count} to {word}" for count, word in
                 ((self.forget, "forget"), (self.imports, "import"), (self.moves, "move"))
                 if count]
        return ", ".join([text, *extra])

    def removals(self) -> list[Change]:
        """Changes after which an object is no longer managed: deletes, replacements and
        forgets (a forgotten table is as gone from Terraform's care as a deleted one)."""
        return [c for c in self.changes if c.action in REMOVING]

    def _ordered(self) -> list[Change]:
        """Removals first, then the rest, each in address order."""
        return sorted(self.changes, key=lambda c: (c.action not in REMOVING, c.address))

    def text(self, heading: str, protected: list[str] | None = None) -> str:
        lines = [f"{heading}: {self.counts}."]
        if protected:
            lines.append("DELETION PROTECTION: this plan deletes, replaces or forgets "
                         f"{len(protected)} protected resource(s):")
            lines += [f"  ! {address}" for address in protected]
        lines += [f"  {_SYMBOLS[c.action]:>3} {c.address}{c.note}" for c in self._ordered()]
        return "\n".join(lines) + "\n"

    def markdown(self, heading: str, protected: list[str] | None = None) -> str:
        """For a pull-request comment or a GitHub job summary."""
        lines = [f"### {heading}", "", f"**{self.counts}**", ""]
        if protected:
            lines += ["> [!CAUTION]",
                      "> Deletion protection: this plan deletes, replaces or forgets protected "
                      "resources. Applying it needs each address named with `--allow-destroy` "
                      "and the `--confirm-destroy` string.", ">"]
            lines += [f"> - `{address}`" for address in protected]
            lines.append("")
        removals = [c for c in self._ordered() if c.action in REMOVING]
        if removals:
            lines += ["#### Deletions, replacements and forgets", ""]
            lines += [f"- **{_WORDS[c.action]}** `{c.address}`{c.note}" for c in removals]
            lines.append("")
        if self.changes:
            lines += ["#### All changes", "", "| action | address | type |",
                      "|---|---|---|"]
            lines += [f"| {_SYMBOLS[c.action]} {_WORDS[c.action]} | `{c.address}`{c.note} | "
                      f"`{c.type}` |" for c in self._ordered()]
        else:
            lines.append("No changes: the infrastructure matches the configuration.")
        return "\n".join(lines) + "\n"


def action_of(actions: list[str]) -> str | None:
    """Terraform's action list as one word; None for no-op and read. UnknownPlanAction for a
    list this tool does not know."""
    key = tuple(actions)
    if key not in _ACTIONS:
        raise UnknownPlanAction(
            f"The plan holds the action {'+'.join(actions) or '(none)'}, which this tool does "
            "not know, so it cannot show or guard it; nothing was changed. Use the Terraform "
            "and provider versions this repository pins.")
    return _ACTIONS[key]


def _change_of(resource: JsonObject) -> Change | None:
    change = resource["change"]
    action = action_of(change["actions"])
    previous = resource.get("previous_address") or ""
    if previous == resource["address"]:
        previous = ""
    importing = change.get("importing")
    import_id = str((importing or {}).get("id") or "(generated)") if importing is not None \
        else ""
    if action is None:
        if import_id:
            action = "import"
        elif previous:
            action = "move"
        else:
            return None
    return Change(action, resource["address"], resource["type"], previous, import_id)


def summarise(plan_json: JsonObject) -> PlanSummary:
    summary = PlanSummary()
    for resource in plan_json.get("resource_changes", []):
        change = _change_of(resource)
        if change is None:
            continue
        summary.changes.append(change)
        summary.add += change.action in ("create", "replace", "create-forget")
        summary.change += change.action == "update"
        summary.destroy += change.action in ("delete", "replace")
        summary.forget += change.action in ("forget", "create-forget")
        summary.imports += bool(change.importing)
        summary.moves += bool(change.previous_address)
    return summary
