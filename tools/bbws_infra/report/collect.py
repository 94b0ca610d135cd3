"""Gathering the status page's model, env by env, with read calls only: the ledger, the
current state object, on-demand backups and AWS Backup jobs, CloudWatch alarms, and the drift
and verify result files. No Terraform runs and nothing is written.

An env whose ledger cannot be read is shown as "unreachable: <why>" and the others are still
gathered; a part of an env that cannot be read (its alarms, say, with credentials that may not
describe them) is named in that env's problems and the rest of the env is still shown."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from botocore.exceptions import BotoCoreError, ClientError

from bbws_infra.core import git
from bbws_infra.core.errors import OperationError, UserError
from bbws_infra.core.paths import REPO_ROOT
from bbws_infra.core.registry import (
    PROMOTION_ORDER,
    Component,
    Environment,
    load_environment,
    resolve_components,
)
from bbws_infra.core.untyped import JsonObject, Session
from bbws_infra.release import worktrees
from bbws_infra.report import result_files
from bbws_infra.report.model import (
    BackupInfo,
    ComponentStatus,
    Deployment,
    EnvStatus,
    Event,
    Pending,
    Report,
    StateInfo,
)
from bbws_infra.report.running_cost import monthly_costs
from bbws_infra.report.sessions import reusing
from bbws_infra.state import ledger
from bbws_infra.state.alarm_states import alarm_states, last_backup_jobs
from bbws_infra.state.backups import Backup, list_backups, table_names
from bbws_infra.state.state_versions import current_object

READ_ERRORS = (ClientError, BotoCoreError, OperationError, UserError)
TIMELINE_PER_ENV = 25  # newest ledger records per env on the timeline

SessionFor = Callable[[Environment], Session]


def _reason(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def _deployment(record: ledger.Record | None) -> Deployment | None:
    if record is None:
        return None
    return Deployment(commit=record.commit, dirty=record.dirty, action=record.action,
                      finished_at=record.finished_at, who=record.who,
                      verification=record.verification, failed_checks=record.failed_checks)


def _state(session: Session, env: Environment, component: Component
           ) -> tuple[StateInfo | None, JsonObject | None]:
    found = current_object(session, env, component)
    if found is None:
        return None, None
    body, version_id, written = found
    try:
        document = json.loads(body)
    except ValueError:
        return StateInfo(version_id or "", -1, written or "", 0), None
    resources = sum(len(r.get("instances") or []) for r in document.get("resources") or []
                    if r.get("mode") == "managed")
    return StateInfo(version_id or "", int(document.get("serial", 0)), written or "",
                     resources), document


def _components(session: Session, env: Environment, components: list[Component],
                status: EnvStatus) -> None:
    states: dict[str, JsonObject] = {}
    rows = []
    for component in components:
        deployed = _deployment(ledger.current(session, env, component.name))
        state, document = _state(session, env, component)
        if document is not None and document.get("resources"):
            states[component.name] = document
        at = deployed.finished_at if deployed else ""
        rows.append((component.name, deployed, state,
                     result_files.read_check(result_files.VERIFY, env.name, component.name, at),
                     result_files.read_check(result_files.DRIFT, env.name, component.name, at)))
    costs: dict[str, float] = {}
    note = ""
    try:
        costs = monthly_costs(env, states)
    except READ_ERRORS as error:
        note = f"not priced: {_reason(error)}"
        status.problems.append(f"monthly cost: {_reason(error)}")
    status.components = [
        ComponentStatus(name, deployed, state, verify, drift, costs.get(name),
                        note if name in states else "nothing deployed")
        for name, deployed, state, verify, drift in rows]


def _pending(session_for: SessionFor, env: Environment, session: Session,
             components: list[Component], status: EnvStatus) -> None:
    """Commits the previous env verified that this env does not run yet (nor anything newer
    that contains them): what `invoke promote --to <env>` would bring."""
    index = PROMOTION_ORDER.index(env.name)
    if index == 0:
        return
    previous = load_environment(PROMOTION_ORDER[index - 1])
    try:
        before = session_for(previous)
        for component in components:
            verified = ledger.newest_verified(before, previous, component.name)
            if verified is None:
                continue
            running = ledger.running_commit(session, env, component.name)
            here = running.commit if running else ""
            if here == verified.commit or (here and worktrees.is_ancestor(verified.commit,
                                                                          here)):
                continue
            note = "" if not here or worktrees.is_ancestor(here, verified.commit) else (
                f"{env.name} runs a commit this one does not contain (older, or another "
                "branch): promoting it would be refused, going back is a rollback")
            status.pending.append(Pending(component.name, verified.commit, previous.name,
                                          verified.finished_at, here, note))
    except READ_ERRORS as error:
        status.problems.append(f"pending promotions (ledger of {previous.name}): "
                               f"{_reason(error)}")


def _backups(session: Session, env: Environment, status: EnvStatus) -> None:
    deployed = [c.component for c in status.components if c.deployed is not None]
    try:
        tables = {name: table for name, table in table_names(
            [c for c in resolve_components(None) if c.kind == "dynamodb"]).items()
            if name in deployed}
        if not tables:
            return
        newest: dict[str, Backup] = {}
        for backup in list_backups(session, env, tables):  # newest first
            newest.setdefault(backup.component, backup)
        jobs = {job.table: job for job in last_backup_jobs(session, env,
                                                           sorted(tables.values()))}
    except READ_ERRORS as error:
        status.problems.append(f"backups: {_reason(error)}")
        return
    for name, table in tables.items():
        job = jobs[table]
        taken = newest.get(name)
        status.backups.append(BackupInfo(
            component=name, table=table, last_backup=taken.created if taken else "",
            backup_name=taken.name if taken else "", backup_status=taken.status if taken
            else "", backup_arn=taken.arn if taken else "", job_state=job.state,
            job_created=job.created, job_message=job.message or job.job_id))


def _alarms(session: Session, env: Environment, status: EnvStatus) -> None:
    try:
        status.alarms = alarm_states(session, env)
    except READ_ERRORS as error:
        status.problems.append(f"alarms: {_reason(error)}")


def env_status(session_for: SessionFor, env: Environment, components: list[Component]
               ) -> tuple[EnvStatus, list[Event]]:
    """Everything the page shows of one env, and its newest ledger records."""
    status = EnvStatus(env.name, env.account_id, env.region)
    try:
        session = session_for(env)
        _components(session, env, components, status)
        events = [Event(r.env, r.component, f"{r.action} {r.migration}".strip(), r.commit,
                        r.result, r.verification, r.finished_at, r.who)
                  for r in ledger.read(session, env, None, TIMELINE_PER_ENV)]
    except READ_ERRORS as error:
        status.unreachable = _reason(error)
        status.components = []
        return status, []
    _pending(session_for, env, session, components, status)
    _backups(session, env, status)
    _alarms(session, env, status)
    return status, events


def collect(session_for: SessionFor, target: str, envs: list[Environment],
            components: list[Component]) -> Report:
    """The model of the page: each env in promotion order, and one timeline of them all,
    newest first."""
    started = time.monotonic()
    shared = reusing(session_for)
    # one thread per env: the reads are many small requests, each mostly waiting
    with ThreadPoolExecutor(max_workers=max(1, len(envs))) as pool:
        found = list(pool.map(lambda env: env_status(shared, env, components), envs))
    statuses = [status for status, _ in found]
    timeline = [event for _, events in found for event in events]
    timeline.sort(key=lambda e: e.finished_at, reverse=True)
    head, dirty = git.head_and_dirty(REPO_ROOT)
    return Report(target=target,
                  generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
                  repository_commit=head + (" (uncommitted changes)" if dirty else ""),
                  envs=statuses, timeline=timeline,
                  seconds=round(time.monotonic() - started, 2))
