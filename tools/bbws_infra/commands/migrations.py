"""The data migration tasks: `invoke migrate` runs the pending migrations of each table (or
counts what they would change), `invoke migrations` lists each one as applied or pending."""

from __future__ import annotations

from dataclasses import asdict

from bbws_infra.commands.common import console, err_console, guarded, on_stop_say
from bbws_infra.commands.listings import Listing, show
from bbws_infra.core import git
from bbws_infra.core.errors import OperationError, UserError
from bbws_infra.core.paths import REPO_ROOT
from bbws_infra.core.registry import (
    PROMOTION_ORDER,
    Component,
    Environment,
    load_environment,
    resolve_components,
    resolve_target,
)
from bbws_infra.core.untyped import Json
from bbws_infra.engine import interrupts
from bbws_infra.migrations import catalog, checkpoints, pending, recorded, runner, throttle
from bbws_infra.migrations.catalog import Migration
from bbws_infra.targets import targets

MAX_SEGMENTS = 64


def _tables(component: str | None) -> list[Component]:
    chosen = [c for c in resolve_components(component) if c.kind == "dynamodb"]
    if not chosen:
        raise UserError("Migrations change table items; choose a table component: "
                        + ", ".join(c.name for c in resolve_components(None)
                                    if c.kind == "dynamodb") + ".")
    return chosen


def _all(found: dict[str, list[Migration]]) -> list[Migration]:
    return [m for migrations in found.values() for m in migrations]


def _whole(flag: str, value: str | int | None) -> int | None:
    if value is None or isinstance(value, int):
        return value
    try:
        return int(value)
    except ValueError:
        raise UserError(f"--{flag} takes a whole number, not {value!r}.") from None


def _options(environment: Environment, dry_run: bool, rate: str | int | None,
             segments: str | int | None) -> runner.Options:
    given_rate, given_segments = _whole("rate", rate), _whole("segments", segments)
    chosen_rate = throttle.default_rate(environment.name) if given_rate is None else given_rate
    if chosen_rate < 1:
        raise UserError("--rate must be at least 1 item per second.")
    count = 4 if given_segments is None else given_segments
    if not 1 <= count <= MAX_SEGMENTS:
        raise UserError(f"--segments must be between 1 and {MAX_SEGMENTS}.")
    return runner.Options(dry_run=dry_run, rate=chosen_rate, segments=count)


@guarded
def migrate(*, env: str, component: str | None, target: str | None, dry_run: bool = False,
            rate: str | int | None = None, segments: str | int | None = None,
            confirm: str | None = None, rerun: list[str] | None = None) -> int:
    """Run each table's pending migrations in id order (or count what they would change)."""
    environment, target_name = load_environment(env), resolve_target(target)
    tables = _tables(component)
    options = _options(environment, dry_run, rate, segments)
    if not dry_run and confirm != environment.migrate_confirmation:
        raise UserError(f"Changing the items of {environment.name}'s tables needs "
                        f"--confirm {environment.migrate_confirmation} (or --dry-run); nothing "
                        "was changed.")
    if not dry_run:
        _require_clean_tree(environment)
    found = _all(catalog.discover(tables))  # a broken migration file stops everything first
    unknown = sorted(set(rerun or ()) - {m.id for m in found})
    if unknown:
        raise UserError(f"--rerun {unknown[0]}: no such migration of "
                        f"{', '.join(t.name for t in tables)}; see invoke migrations --env "
                        f"{environment.name}.")
    session = targets.prepare(target_name, environment).live_session
    chosen = pending.pending(session, environment, found, rerun or ())
    if not chosen:
        console.print(f"{environment.name} ({target_name}): no pending migrations")
        return 0
    if not dry_run:
        _check_release_order(environment, target_name, chosen)
    on_stop_say("every segment stopped after the item it was on; each finished page is "
                "checkpointed under s3://" + environment.state_bucket + "/"
                + checkpoints.PREFIX + ", and the next invoke migrate goes on from there.")
    results = pending.run_pending(session, environment, target_name, chosen, options, console,
                                  err_console)
    if results.interrupted:
        return interrupts.exit_code()
    return OperationError.exit_code if results.failed else 0


def _require_clean_tree(environment: Environment) -> None:
    """After the first env, migrations run from committed files only (checked before anything is
    read, like any other bad input)."""
    if environment.name != PROMOTION_ORDER[0] and git.head_and_dirty(REPO_ROOT)[1]:
        raise UserError(f"Migrations run in {environment.name} from a clean working tree only "
                        "(commit first); nothing was changed.")


def _check_release_order(environment: Environment, target: str,
                         chosen: list[Migration]) -> None:
    """After the first env, a migration runs once the env before applied that very file: the
    release order of everything else."""
    if environment.name == PROMOTION_ORDER[0]:
        return
    problem = pending.release_order_problem(target, environment, chosen)
    if problem:
        raise UserError(f"{problem}; nothing was changed.")


@guarded
def migrations(*, env: str, component: str | None, target: str | None,
               as_json: bool = False) -> int:
    """Each migration with applied or pending (when, who, commit, counts); only reads."""
    environment, target_name = load_environment(env), resolve_target(target)
    found = catalog.discover(_tables(component))
    session = targets.reader_session(target_name, environment)
    statuses = recorded.statuses(session, environment, _all(found))
    rows, records = [], []
    for status in statuses:
        run = status.applied or status.newest
        counts = run.counts if run else {}
        state = {"applied": "[green]applied[/green]", "in progress": "[yellow]in progress[/yellow]"
                 }.get(status.state, status.state)
        if status.failed:
            state = "[red]pending (last run failed)[/red]"
        rows.append([status.migration.component, status.migration.id, state,
                     run.finished_at if run else "-", run.who if run else "-",
                     run.commit[:12] + (" +dirty" if run.dirty else "") if run else "-",
                     *(f"{counts.get(k, 0):,}" if run else "-"
                       for k in ("seen", "changed", "skipped", "failed"))])
        records.append(_record(status))
    return show(Listing(
        f"migrations in {environment.name} ({target_name})",
        ["component", "migration", "status", "when", "who", "commit", "seen", "changed",
         "skipped", "failed"], rows, records,
        empty=f"no migrations under {catalog.MIGRATIONS_DIR}/ for these tables",
        failed=any(s.failed for s in statuses)), as_json)


def _record(status: recorded.Status) -> Json:
    migration = status.migration
    return {"component": migration.component, "id": migration.id,
            "description": migration.description, "status": status.state,
            "needs_index": migration.needs_index, "needs_attribute": migration.needs_attribute,
            "applied": asdict(status.applied) if status.applied else None,
            "last_run": asdict(status.newest) if status.newest else None,
            "checkpoint": status.checkpoint.describe() if status.checkpoint else None}
