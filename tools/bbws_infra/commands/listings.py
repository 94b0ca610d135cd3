"""The read-only listings: history, status, state-versions, backups, alarms and doctor.

Each builds a Listing (its rows as table cells and as records for `--json`) and hands it to
show(), the one place that prints a listing and decides its exit code: 0 when the listing
found nothing wrong, 1 when it found a failure (doctor: a failed check; status: an env whose
ledger cannot be read; alarms: an alarm firing or a table whose last backup job failed). An
empty listing is no failure."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from bbws_infra.commands.common import console, guarded
from bbws_infra.core import tables
from bbws_infra.core.errors import OperationError, UserError
from bbws_infra.core.registry import (
    Environment,
    env_names,
    load_environment,
    one_component,
    resolve_components,
    resolve_target,
)
from bbws_infra.core.untyped import Json, Session
from bbws_infra.pipeline import github
from bbws_infra.state import account_checks, ledger
from bbws_infra.state.alarm_states import alarm_states, last_backup_jobs
from bbws_infra.state.backups import list_backups, table_names
from bbws_infra.state.doctor import Finding, examine, examine_backend, fix_digests, markdown
from bbws_infra.state.state_versions import versions
from bbws_infra.targets import targets


@dataclass
class Listing:
    """What a listing prints: a table (title, columns, rows of cells) or, with --json, the
    records; `empty` replaces a table without rows, `notes` follow the table as plain lines (a
    sentence or a command to paste, which no table cell keeps on one line)."""

    title: str
    columns: Sequence[tables.Column | str]
    rows: list[list[str]]
    records: list[Json]
    empty: str = ""
    notes: list[str] = field(default_factory=list)
    failed: bool = False


def show(listing: Listing, as_json: bool) -> int:
    """Print the listing (the table, or its records as JSON on stdout alone); 1 when it found
    a failure, otherwise 0."""
    if as_json:
        print(json.dumps(listing.records, indent=2))
    elif not listing.rows and listing.empty:
        console.print(listing.empty)
    else:
        console.print(tables.table(listing.title, listing.columns, listing.rows))
        for note in listing.notes:
            console.print(note, markup=False)
    return OperationError.exit_code if listing.failed else 0


def _verification_text(record: ledger.Record) -> str:
    if record.result != ledger.APPLIED or record.action == ledger.MIGRATE:
        return "-"
    if record.verification == ledger.FAILED:
        return f"[red]failed[/red] ({len(record.failed_checks)})"
    return {"passed": "[green]passed[/green]"}.get(record.verification, record.verification)


def _action_text(record: ledger.Record) -> str:
    """The action; a migration run names its migration."""
    return f"{record.action} {record.migration}" if record.migration else record.action


def _serial_text(record: ledger.Record) -> str:
    """State serials before and after; a migration run touches no state."""
    if record.action == ledger.MIGRATE:
        return "-"
    return f"{record.state_before.serial} -> {record.state_after.serial}"


def _commit_text(record: ledger.Record) -> str:
    return record.commit[:12] + (" +dirty" if record.dirty else "")


@guarded
def history(*, env: str, component: str | None, target: str | None, limit: int | None,
            as_json: bool = False) -> int:
    """The env's ledger, newest first."""
    environment, target_name = load_environment(env), resolve_target(target)
    if component:
        resolve_components(component)  # a clear error for an unknown name
    if limit is not None and limit < 1:
        raise UserError("--limit must be at least 1.")
    session = targets.reader_session(target_name, environment)
    found = ledger.read(session, environment, component, limit)
    return show(Listing(
        f"history of {environment.name} ({target_name}), newest first",
        ["finished", "component", "action", "commit", "result", "verified", "serial", "who"],
        [[r.finished_at, r.component, _action_text(r), _commit_text(r),
          r.result if r.result == ledger.APPLIED else f"[red]{r.result}[/red]",
          _verification_text(r), _serial_text(r), r.who]
         for r in found],
        [asdict(r) for r in found],
        empty=f"no deployments recorded in {environment.name} ({target_name}) yet"), as_json)


@guarded
def status(*, target: str | None, as_json: bool = False) -> int:
    """Per env and component: the commit deployed, when, by whom, and whether it verified; a
    failure when an env's ledger cannot be read (the others are still listed)."""
    target_name = resolve_target(target)
    found, unreadable = ledger.deployed_everywhere(
        lambda environment: targets.reader_session(target_name, environment),
        [load_environment(name) for name in env_names()],
        [c.name for c in resolve_components(None)])
    rows = [[d.env, d.component, "-", "never deployed", "", "", ""] if d.record is None else
            [d.env, d.component, _commit_text(d.record), d.record.finished_at, d.record.who,
             d.record.action, _verification_text(d.record)] for d in found]
    rows += [[e, "(all)", "?", "[red]cannot read the ledger[/red]", "", "", ""]
             for e in unreadable]
    records: list[Json] = [{"env": d.env, "component": d.component,
                            "deployed": asdict(d.record) if d.record else None} for d in found]
    records += [{"env": e, "unreadable": why} for e, why in unreadable.items()]
    return show(Listing(
        f"deployed ({target_name})",
        ["env", "component", "commit", "when", "by", "action", "verified"], rows, records,
        notes=[f"{name}: cannot read the ledger: {why}" for name, why in unreadable.items()],
        failed=bool(unreadable)), as_json)


@guarded
def state_versions(*, env: str, component: str | None, target: str | None,
                   limit: int | None = None, as_json: bool = False) -> int:
    """The S3 versions of one component's state, newest first."""
    environment, item = load_environment(env), one_component(component, "state-versions")
    target_name = resolve_target(target)
    found = versions(targets.reader_session(target_name, environment), environment, item,
                     limit)
    return show(Listing(
        f"state versions of {item.name} in {environment.name} ({target_name}), newest first",
        ["version id", "written", "serial", "lineage", "bytes", "commit", "action"],
        [[v.version_id + (" (current)" if v.current else ""), v.last_modified,
          "-" if v.serial is None else str(v.serial),
          v.lineage[:8] if v.readable else "[red]unreadable[/red]", str(v.size),
          v.commit[:12] or "-", v.action or "-"] for v in found],
        [asdict(v) for v in found],
        empty=f"{item.name} has no state in {environment.name} ({target_name}) yet"), as_json)


@guarded
def backups(*, env: str, component: str | None, target: str | None,
            as_json: bool = False) -> int:
    """The on-demand backups of the env's tables (the pre-deploy ones among them)."""
    environment, target_name = load_environment(env), resolve_target(target)
    tables_of = table_names(resolve_components(component))  # refused before anything is read
    found = list_backups(targets.reader_session(target_name, environment), environment,
                         tables_of)
    return show(Listing(
        f"on-demand backups in {environment.name} ({target_name}), newest first",
        ["created", "component", "backup", "status", "bytes", "arn"],
        [[b.created, b.component, b.name, b.status, str(b.bytes), b.arn] for b in found],
        [asdict(b) for b in found],
        empty=f"no on-demand backups in {environment.name} ({target_name})"), as_json)


def alarms(*, env: str, target: str | None, as_json: bool = False) -> int:
    """The env's alarms (firing first) and each table's last AWS Backup job; a failure when an
    alarm fires or a last job failed."""
    environment, target_name = load_environment(env), resolve_target(target)
    table_of = table_names(resolve_components(None))
    session = targets.reader_session(target_name, environment)
    found = alarm_states(session, environment)
    jobs = last_backup_jobs(session, environment, sorted(set(table_of.values())))
    rows = [["alarm", a.name, a.state, a.since, a.reason] for a in found]
    rows += [["last backup", j.table, j.state, j.created, j.message or j.job_id] for j in jobs]
    notes = [] if found else [
        f"no alarms in {environment.name}: its tfvars switch them off (monitoring."
        "alarms_enabled), or monitoring/alerts is not deployed there"]
    return show(Listing(
        f"alarms and last backup jobs in {environment.name} ({target_name})",
        ["kind", "name", "state", "since", tables.prose("reason")], rows,
        [{"alarms": [asdict(a) for a in found], "backup_jobs": [asdict(j) for j in jobs]}],
        notes=notes,
        failed=any(a.firing for a in found) or any(j.failed for j in jobs)), as_json)


def bootstrap_command(env: str, target: str) -> str:
    """The command that (re)creates and hardens the env's state backend."""
    return f"invoke bootstrap --env {env}" + (" --target aws" if target == "aws" else "")


def backend_and_account(session: Session, environment: Environment, target: str
                        ) -> tuple[list[Finding], list[str]]:
    """The state bucket's finding and, on AWS, the account checks; the notes to print."""
    findings = examine_backend(session, environment,
                               bootstrap_command(environment.name, target))
    if target != "aws":
        return findings, [account_checks.SKIPPED_ON_SANDBOX]
    return [*account_checks.examine_account(session, environment), *findings], []


@guarded
def doctor(*, env: str, component: str | None, target: str | None, fix_digest: bool = False,
           as_json: bool = False) -> int:
    """The account (on AWS) and the state bucket, then the health of each component's state:
    readable, sane serial, digest, lock, ledger; a failure when any check fails."""
    environment, components = load_environment(env), resolve_components(component)
    target_name = resolve_target(target)
    session = targets.reader_session(target_name, environment)
    findings = examine(session, environment, components)
    if fix_digest:
        fixed = 0
        for name, old, new in fix_digests(session, environment, components, findings):
            console.print(f"{name}: digest {old or '(none)'} -> {new}")
            fixed += 1
        if not fixed:
            console.print("no digest needed fixing")
        findings = examine(session, environment, components)  # re-check after acting
    first, notes = backend_and_account(session, environment, target_name)
    findings = [*first, *findings]
    title = f"state health in {environment.name} ({target_name})"
    # in a workflow (a cancelled or failed apply job): the findings in the job summary too;
    # a summary that cannot be written must not turn doctor's own verdict into an error
    with contextlib.suppress(OSError):
        github.job_summary(markdown(title, findings))
    return show(Listing(
        title, ["component", "check", "result", tables.prose("found")],
        [[f.component, f.check, "[green]ok[/green]" if f.ok else "[red]FAIL[/red]", f.found]
         for f in findings],
        [asdict(f) for f in findings],
        notes=[*notes, *(f"fix {f.component} {f.check}: {f.fix}" for f in findings if f.fix)],
        failed=any(not f.ok for f in findings)), as_json)
