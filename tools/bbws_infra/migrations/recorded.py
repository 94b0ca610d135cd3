"""Migration runs in the env's ledger: one record per real run (action "migrate"), and what is
applied: a migration is applied in an env when its ledger holds a successful migrate record
of that migration's id."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from bbws_infra.core import git
from bbws_infra.core.paths import REPO_ROOT
from bbws_infra.core.registry import Environment
from bbws_infra.core.untyped import Session
from bbws_infra.migrations.catalog import Migration
from bbws_infra.migrations.checkpoints import Checkpoint, CheckpointStore
from bbws_infra.migrations.runner import Outcome
from bbws_infra.state import ledger


def file_sha256(migration: Migration) -> str:
    """The migration file's own hash: which code changed the items (a record's inputs_sha256)."""
    return hashlib.sha256(migration.path.read_bytes()).hexdigest()


def record(outcome: Outcome, env: Environment, target: str,
           source: tuple[str, bool] | None = None) -> ledger.Record:
    """The ledger record of a real run (not yet written). source: the (commit, dirty) the
    migration file came from; by default the working tree's."""
    commit, dirty = source or git.head_and_dirty(REPO_ROOT)
    migration = outcome.migration
    error = outcome.error or ("; ".join(outcome.failures[:3]) if outcome.counts.failed else "")
    if outcome.interrupted:
        error = error or "stopped by a signal; the next run goes on from the checkpoints"
    return ledger.Record(
        env=env.name, component=migration.component, action=ledger.MIGRATE, target=target,
        commit=commit, dirty=dirty,
        inputs_sha256=file_sha256(migration),
        bundle_sha256="", state_before=ledger.StatePoint(), state_after=ledger.StatePoint(),
        who=git.who(), started_at=outcome.started_at, finished_at=outcome.finished_at,
        result=outcome.result, verification=ledger.SKIPPED, backups=list(outcome.backups),
        error=error, migration=migration.id, counts=outcome.counts.as_dict(),
        resumed_from=dict(outcome.resumed_from))


@dataclass(frozen=True)
class Status:
    """A migration in one env: its successful run (None: pending), its newest run whatever
    the result, and where an unfinished run stands."""

    migration: Migration
    applied: ledger.Record | None
    newest: ledger.Record | None
    checkpoint: Checkpoint | None

    @property
    def state(self) -> str:
        if self.applied is not None:
            return "applied"
        if self.checkpoint is not None and self.checkpoint.progressed:
            return "in progress"
        return "pending"

    @property
    def failed(self) -> bool:
        """Its newest run failed (not merely interrupted) and it is not applied."""
        return self.applied is None and self.newest is not None \
            and self.newest.result == ledger.NOT_APPLIED


def statuses(session: Session, env: Environment, migrations: list[Migration]) -> list[Status]:
    """Each migration's status in the env, in the order given; one listing of the ledger per
    component."""
    found: list[Status] = []
    by_component: dict[str, list[ledger.Record]] = {}
    for migration in migrations:
        if migration.component not in by_component:
            by_component[migration.component] = list(
                ledger.migration_records(session, env, migration.component))
        runs = [r for r in by_component[migration.component] if r.migration == migration.id]
        applied = next((r for r in runs if r.result == ledger.APPLIED), None)
        checkpoint = None if applied else CheckpointStore(
            session, env, migration.component, migration.id).load()
        found.append(Status(migration, applied, runs[0] if runs else None, checkpoint))
    return found


def release_order_problem(session: Session, previous: Environment, migrations: list[Migration],
                          env_name: str) -> str | None:
    """Why any of `migrations` may not run in env_name yet, or None: the environment before it
    must have applied each very file (its hash), as every change passes the environments in
    order. session reads the previous environment's ledger, once per component."""
    hashes: dict[tuple[str, str], set[str]] = {}
    for component in dict.fromkeys(m.component for m in migrations):
        for record in ledger.migration_records(session, previous, component):
            if record.result == ledger.APPLIED:
                hashes.setdefault((component, record.migration), set()).add(record.inputs_sha256)
    for migration in migrations:
        applied = hashes.get((migration.component, migration.id))
        if not applied:
            return (f"migration {migration.component} {migration.id} has not been applied in "
                    f"{previous.name}, which every migration passes before {env_name}")
        if file_sha256(migration) not in applied:
            return (f"migration {migration.component} {migration.id} is not the file "
                    f"{previous.name} applied (it changed since; a migration that ran is never "
                    "edited: add a new one)")
    return None
