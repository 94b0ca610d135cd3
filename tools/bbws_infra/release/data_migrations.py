"""The data migrations of a release: a commit's pending migrations of a table run right after
that table's apply was verified, in every environment the commit reaches (dev, then sit, then
prod), and a migration the environment before has not applied holds the promotion back like a
failed verification. A rollback runs none: it names the migrations that ran since the version
it goes back to (their data is not rolled back by the state; docs/runbooks/rollback.md).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from rich.console import Console

from bbws_infra.core.errors import OperationError
from bbws_infra.core.registry import Component, Environment
from bbws_infra.core.untyped import Session
from bbws_infra.migrations import catalog, pending, runner, throttle
from bbws_infra.migrations.catalog import Migration
from bbws_infra.state import ledger


class MigrationFailed(OperationError):
    """Applied and verified, but a migration of the commit did not finish."""


def of_commit(component: Component, source: Path) -> list[Migration]:
    """The component's migrations in the tree the commit was checked out to (none for
    anything but a table)."""
    if component.kind != "dynamodb":
        return []
    return catalog.discover([component], source).get(component.name, [])


def release_order_problem(target: str, env: Environment, component: Component,
                          source: Path) -> str | None:
    """Why the commit in `source` may not reach env for its migrations: the environment before
    has not applied one of them (failed, waiting, or never run), or applied another file."""
    return pending.release_order_problem(target, env, of_commit(component, source))


def run_after_apply(session: Session, env: Environment, target: str, component: Component,
                    source: Path, commit: tuple[str, bool], console: Console,
                    report: Callable[[str], None]) -> int:
    """Run the component's pending migrations of the commit in `source` (recorded against that
    commit); how many ran. MigrationFailed names the first that did not finish."""
    chosen = pending.pending(session, env, of_commit(component, source))
    if not chosen:
        return 0
    options = runner.Options(rate=throttle.default_rate(env.name))
    report(f"migrate {', '.join(m.id for m in chosen)}")
    results = pending.run_pending(session, env, target, chosen, options, console,
                                  source=commit, report=report)
    if results.interrupted:
        raise MigrationFailed(
            f"{component.name} was applied and verified in {env.name}, but its migrations "
            "were stopped; the next invoke migrate goes on from the checkpoints, and the "
            "commit is not promoted until they are applied.")
    why = results.failed.get(component.name)
    if why is not None:
        raise MigrationFailed(
            f"{component.name} was applied and verified in {env.name}, but a migration did not "
            f"finish ({why}); it is recorded in the ledger, and the commit is not promoted "
            f"until it is applied: fix it, then invoke migrate --env {env.name} --component "
            f"{component.name} --confirm {env.migrate_confirmation}.")
    return len(chosen)


def since(session: Session, env: Environment, component: Component,
          moment: str) -> list[ledger.Record]:
    """The migration runs that changed items of the component's table after a moment (ISO
    8601), newest first: what a rollback to a state version of that moment leaves in place."""
    after = _instant(moment)
    return [r for r in ledger.migration_records(session, env, component.name)
            if r.counts.get("changed", 0) and _instant(r.finished_at or r.started_at) > after]


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def since_text(runs: list[ledger.Record], env: Environment) -> str:
    """What a rollback says about them: data is not rolled back with the state."""
    if not runs:
        return "no migration changed this table's items since that version"
    listed = "; ".join(f"{r.migration} ({r.result}, {r.counts.get('changed', 0):,} items "
                       f"changed, {r.finished_at or r.started_at}, commit {r.commit[:12]})"
                       for r in runs)
    return (f"{len(runs)} migration run(s) changed this table's items since that version, and a "
            f"rollback leaves items as they are: {listed}. If the older code cannot read them, "
            f"add a reverse migration or restore a backup (docs/runbooks/rollback.md, data "
            f"migrations); invoke migrations --env {env.name} lists them.")
