"""The two ways out of drift, both reviewed changes, neither written into a tracked file:

- revert: a normal plan bundle of exactly the files the component was last applied from, which
  puts AWS back to that configuration; `invoke apply` takes it like any reviewed plan. It is
  made only from a working tree whose inputs are those of the last apply (the ledger's input
  fingerprint), so the bundle changes nothing but the drift.
- accept: allowlist entries for the drift (release/drift.py's format), each with the reason
  given, written under the work directory and printed to be added to envs/drift-allowlist.yml
  in a pull request. The entries are read back with the allowlist's own validation and must
  accept exactly the drift they were made for before they are shown.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from bbws_infra.core.errors import OperationError, UserError
from bbws_infra.core.paths import work_dir
from bbws_infra.core.registry import Component, Environment
from bbws_infra.core.untyped import Session
from bbws_infra.plans import bundle
from bbws_infra.release.drift import ALLOWLIST_PATH, DELETED, Drift, classify, load_allowlist
from bbws_infra.state import ledger

_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
# plain words a YAML reader takes for something else than text
_YAML_WORDS = {"true", "false", "yes", "no", "on", "off", "null", "y", "n"}


# --- revert ------------------------------------------------------------------------------


def revert_problem(session: Session, env: Environment, component: Component,
                   extra_vars: list[str]) -> str | None:
    """Why a revert bundle of the component cannot be planned from this working tree, or
    None: something must have been applied, from exactly the inputs this tree holds."""
    record = ledger.running_commit(session, env, component.name)
    if record is None:
        return (f"nothing was ever applied to {component.name} in {env.name}, so there is no "
                "configuration to put back")
    if bundle.inputs_fingerprint(env, component, extra_vars) != record.inputs_sha256:
        return (f"{component.name} in {env.name} was last applied from commit "
                f"{record.commit[:12]}{' with uncommitted changes' if record.dirty else ''}, "
                "and this working tree's inputs of it differ; check that commit out (git "
                f"switch --detach {record.commit[:12]}) and run this again, so the bundle "
                "puts back exactly what was applied and nothing else")
    return None


def check_revertable(session: Session, env: Environment, components: list[Component],
                     extra_vars: list[str]) -> None:
    """UserError, before anything is planned, naming the first component no revert bundle can
    be made for."""
    for component in components:
        problem = revert_problem(session, env, component, extra_vars)
        if problem:
            raise UserError(f"No revert bundle: {problem}; nothing was planned.")


# --- accept ------------------------------------------------------------------------------


def clean_reason(reason: str | None) -> str:
    """The reason as one line of printable text; UserError when there is none."""
    text = " ".join((reason or "").split())
    if not text or not text.isprintable():
        raise UserError("--accept needs --reason with one sentence saying why this drift is "
                        "harmless (printable text); nothing was checked.")
    return text


def _quoted(text: str) -> str:
    """A YAML scalar that reads back as exactly text (single-quoted unless a plain name)."""
    if _PLAIN.fullmatch(text) and text.lower() not in _YAML_WORDS:
        return text
    return "'" + text.replace("'", "''") + "'"


def entries_yaml(env_name: str, found: list[Drift], reason: str) -> str:
    """Allowlist entries for these drifts, indented to go under `accepted:`: one per address,
    naming its changed attributes (a deletion names none: the entry then covers deletion)."""
    lines: list[str] = []
    for drift in found:
        lines += [f"  - component: {drift.component}",
                  f"    address: {_quoted(drift.address)}",
                  f"    env: {env_name}"]
        if drift.action != DELETED:
            # block form: a path with [ ] would end a YAML flow list
            lines += ["    attributes:"] + [f"      - {_quoted(c.path)}" for c in drift.changes]
        lines.append(f"    reason: {_quoted(reason)}")
    return "\n".join(lines) + "\n"


def checked_entries(env_name: str, found: list[Drift], reason: str) -> str:
    """entries_yaml, read back with the allowlist's validation; they must accept every one of
    these drifts."""
    text = entries_yaml(env_name, found, reason)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "entries.yml"
        path.write_text("accepted:\n" + text)
        entries = load_allowlist(path)
    unaccepted = [d.address for d in classify(found, entries, env_name) if d.allowed_by is None]
    if unaccepted:
        raise OperationError(f"The allowlist entries made do not accept "
                             f"{', '.join(unaccepted)}; nothing was written.")
    return text


def write_entries(env_name: str, text: str) -> Path:
    """The entries under the work directory (never into the tracked allowlist)."""
    path = work_dir() / "drift-accept" / f"{env_name}.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"# add under `accepted:` in {ALLOWLIST_PATH.name}, in a pull request\n"
                    + text)
    return path
