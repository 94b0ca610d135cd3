"""The pending migrations of an env, run in id order, each under its lease and recorded in the
ledger: what `invoke migrate` does, and what the deploy path does after each table's apply.

A migration that does not finish (it failed, waits for an index, or was stopped) leaves the
later migrations of its table not started: they may build on it. Other tables go on.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from rich.console import Console

from bbws_infra.core.errors import UserError
from bbws_infra.core.registry import Environment, load_environment, previous_env
from bbws_infra.core.untyped import Session
from bbws_infra.engine import interrupts
from bbws_infra.migrations import lease, recorded, runner
from bbws_infra.migrations.catalog import Item, Migration
from bbws_infra.migrations.checkpoints import now_iso
from bbws_infra.state import ledger
from bbws_infra.targets import targets


@dataclass
class Results:
    outcomes: list[runner.Outcome] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # component -> why, one sentence
    interrupted: bool = False

    @property
    def ok(self) -> bool:
        return not self.failed and not self.interrupted


def pending(session: Session, env: Environment, migrations: list[Migration],
            rerun: Collection[str] = ()) -> list[Migration]:
    """The migrations not applied in env (and those named in rerun: a migration is idempotent,
    so running it again only reaches the items an older writer wrote since)."""
    return [s.migration for s in recorded.statuses(session, env, migrations)
            if s.applied is None or s.migration.id in rerun]


def release_order_problem(target: str, env: Environment, migrations: list[Migration]
                          ) -> str | None:
    """Why these migrations may not run in env yet (the previous environment has not applied
    each very file), or None; the first environment takes any."""
    before = previous_env(env.name)
    if before is None or not migrations:
        return None
    previous = load_environment(before)
    return recorded.release_order_problem(targets.reader_session(target, previous), previous,
                                          migrations, env.name)


def run_pending(session: Session, env: Environment, target: str, migrations: list[Migration],
                options: runner.Options, console: Console, err_console: Console | None = None,
                source: tuple[str, bool] | None = None,
                report: Callable[[str], None] | None = None) -> Results:
    """Run each migration (already chosen as pending) in order; record every real run.
    source: the (commit, dirty) the files come from (the working tree's by default); report:
    where progress goes instead of a line of its own (the deploy path's table)."""
    err_console = err_console or console
    results = Results()
    mode = "dry run" if options.dry_run else f"at most {options.rate} items/s"
    for migration in migrations:
        if migration.component in results.failed:
            console.print(f"{migration.component} {migration.id}: not started (an earlier "
                          "migration of this table did not finish)", markup=False)
            continue
        console.print(f"{migration.component} {migration.id} in {env.name} ({target}, {mode}): "
                      f"{migration.description}", markup=False)
        try:
            outcome = _run_one(session, env, migration, options, console, report)
        except (runner.NotReady, UserError) as error:
            err_console.print(f"[red]error:[/red] {error}")
            results.failed[migration.component] = str(error)
            continue
        if not options.dry_run:
            ledger.write(session, env, recorded.record(outcome, env, target, source))
        results.outcomes.append(outcome)
        show(outcome, options.dry_run, console, err_console)
        if outcome.interrupted or interrupts.requested():
            results.interrupted = True
            return results
        if not options.dry_run and outcome.result != ledger.APPLIED:
            results.failed[migration.component] = (
                f"{migration.id} {outcome.result}: {outcome.counts.text()}"
                + (f"; {outcome.error}" if outcome.error else "")
                + (f"; first: {outcome.failures[0]}" if outcome.failures else ""))
    return results


def _run_one(session: Session, env: Environment, migration: Migration,
             options: runner.Options, console: Console,
             report: Callable[[str], None] | None) -> runner.Outcome:
    if options.dry_run:  # writes nothing: no lease needed
        return runner.run(session, env, migration, options, console, report=report)
    with lease.held(session, env, migration.component, migration.id, now_iso()) as taken:
        outcome = runner.run(session, env, migration, options, console,
                             should_stop=lambda: interrupts.requested() or taken.lost.is_set(),
                             report=report)
    if taken.lost.is_set() and not interrupts.requested():
        outcome.interrupted = False
        outcome.error = outcome.error or (
            "its lease could not be renewed (another run may have taken it over); it stopped "
            "after the item it was on")
    return outcome


def show(outcome: runner.Outcome, dry_run: bool, console: Console,
         err_console: Console) -> None:
    """What one run did (or, dry, would do), with a few before/after samples."""
    name = f"{outcome.migration.component} {outcome.migration.id}"
    counts = outcome.counts.as_dict()
    for note in outcome.notes:
        console.print(f"{name}: {note}", markup=False)
    if outcome.resumed_from:
        console.print(f"{name}: resumed from the checkpoints: "
                      + ", ".join(f"segment {s} at {p}" for s, p in
                                  outcome.resumed_from.items()), markup=False)
    for arn in outcome.backups:
        console.print(f"{name}: backed up first: {arn}", markup=False)
    if dry_run:
        console.print(f"{name}: would change {counts['changed']:,} of {counts['seen']:,} items "
                      f"in table {outcome.table} (nothing written)")
        for before, after in outcome.samples:
            console.print(f"  before: {_shown(before, after)}", markup=False)
            console.print(f"  after:  {_shown(after, before)}", markup=False)
    else:
        console.print(f"{name}: {outcome.result}: {outcome.counts.text()} "
                      f"({counts['conflicts']:,} writes retried after a concurrent change)")
    for failure in outcome.failures:
        err_console.print(f"{name}: failed: {failure}", markup=False)
    if outcome.error:
        err_console.print(f"[red]error:[/red] {name}: {outcome.error}")


def _shown(item: Item, other: Item) -> str:
    """The item's key-like attributes and those that differ from `other`, as JSON."""
    wanted = {k for k in item if k in ("PK", "SK") or other.get(k, object()) != item[k]}
    wanted |= {k for k in other if k not in item}
    shown = {k: item.get(k, "(absent)") for k in sorted(wanted)}
    return json.dumps(shown, default=str)
