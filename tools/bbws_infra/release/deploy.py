"""The one deploy path: every guard an apply needs, in one place, for every caller (the apply,
promote and rollback tasks, and the workflows, which run those tasks).

A request is checked in two rounds, and a refusal in either changes nothing (no state write, no
resource change, no ledger record):
1. offline, before anything starts (no sandbox, no Terraform): the confirmation string, a
   complete bundle for this target, env and component, the plan file's and plan JSON's hashes,
   the commit and the input fingerprint against the source tree now (the working tree, or the
   commit's worktree when promoting), a dirty tree for the environments after the first, the
   bundle's age, and deletion protection per address (read from the hash-checked plan);
2. against the target, before Terraform runs: the remote state's lineage and serial must
   still be those the plan was made against; in every environment after the first the
   release order must hold: the previous environment applied and verified this very commit,
   and this environment runs no newer one (going back is a rollback); and a change that turns
   deletion protection off is still held to the protection of the commit running now.
Then an on-demand backup of every table the plans change, where the environment's tfvars ask
for it (prod), all taken and available before anything is applied; then per component, in one
Terraform process: `show -json` of a private copy of the plan file, a last check of what it
printed (it must be the reviewed plan.json; deletion protection and the backups are taken from
it; the state must not have moved), an intent left in the ledger, and the apply of that very
copy. Then the bundle archived, the result verified against the source (unless switched off),
and one ledger record written whatever the outcome (a refusal records nothing).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from rich.console import Console

from bbws_infra.core.errors import NothingApplied, OperationError, UserError
from bbws_infra.core.paths import REPO_ROOT
from bbws_infra.core.registry import (
    PROMOTION_ORDER,
    Component,
    Environment,
    discover_components,
    load_environment,
    previous_env,
)
from bbws_infra.core.untyped import JsonObject, Session
from bbws_infra.engine import interrupts, timings
from bbws_infra.plans import bundle, operations, plan_guard, runner
from bbws_infra.plans.plan_summary import PlanSummary, summarise
from bbws_infra.release import break_glass, data_migrations, pre_deploy_backups, verify, worktrees
from bbws_infra.release.bundle_age import DEFAULT_MAX_AGE, parse_age
from bbws_infra.release.verify_checks import Check
from bbws_infra.state import ledger, state_versions
from bbws_infra.state.doctor import age_text
from bbws_infra.targets import targets

# Clocks of the machine that planned and the one that applies may differ by this much.
CLOCK_SKEW_S = 300.0


@dataclass
class DeployRequest:
    env: Environment
    target: str
    components: list[Component]
    confirm: str | None
    allow_destroy: tuple[str, ...] = ()
    confirm_destroy: str | None = None
    max_age: str = DEFAULT_MAX_AGE
    action: str = "apply"  # what the ledger calls it: apply, promote or rollback
    source: Path = REPO_ROOT  # the tree the bundles were planned from
    verify: bool = True
    replan: str = ""  # the command that plans again, when not `invoke plan` (promotion)
    rollback_to: str = ""  # rollbacks: the state version id gone back to

    @property
    def confirmation(self) -> str:
        env = self.env
        return env.rollback_confirmation if self.action == "rollback" else env.apply_confirmation


@dataclass
class ApprovedBundle:
    """A bundle that passed the offline checks."""

    component: Component
    record: bundle.BundleRecord
    directory: Path

    @property
    def name(self) -> str:
        return self.component.name

    @property
    def plan_file(self) -> Path:
        return self.directory / bundle.PLAN_FILE

    @functools.cached_property
    def plan_json(self) -> JsonObject:
        """The plan's JSON, read once (its hash was checked in round 1)."""
        return cast(JsonObject, json.loads((self.directory / bundle.PLAN_JSON).read_text()))

    @property
    def protected_types_removed(self) -> list[str]:
        """Tables, buckets and vaults the plan deletes, replaces or forgets, read from the plan
        itself (never from bundle.json)."""
        return plan_guard.removals(summarise(self.plan_json))


@dataclass
class RemoteState:
    lineage: str
    serial: int
    version_id: str | None = None
    last_modified: str | None = None

    def point(self) -> ledger.StatePoint:
        return ledger.StatePoint(self.version_id, self.serial, self.lineage)


def check_offline(request: DeployRequest) -> list[ApprovedBundle]:
    """Round 1: everything that can be refused without starting anything."""
    env = request.env
    if request.confirm != request.confirmation:
        verb = "Rolling back in" if request.action == "rollback" else "Applying to"
        raise UserError(f"{verb} {env.name} needs --confirm {request.confirmation}; "
                        "nothing was changed.")
    if not request.components:
        raise UserError(f"No saved plans for {env.name} ({request.target}); run: invoke plan "
                        f"--env {env.name} --target {request.target}")
    max_age_s = parse_age(request.max_age)
    commit_now, _ = bundle.git_state(request.source)
    approved = []
    for component in request.components:
        record = bundle.load(request.target, env.name, component)
        directory = bundle.bundle_dir(request.target, env.name, component)
        _check_record(request, component, record, directory, commit_now, max_age_s)
        item = ApprovedBundle(component, record, directory)
        if env.deletion_protection:
            plan_guard.check(env, item.name, item.protected_types_removed,
                             request.allow_destroy, request.confirm_destroy)
        approved.append(item)
    return approved


def _plan_again(request: DeployRequest, component: str) -> str:
    """The command that makes a fresh plan for this request (a promotion plans its commit)."""
    return "plan again: " + (request.replan or f"invoke plan --env {request.env.name} "
                                               f"--component {component} --target "
                                               f"{request.target}")


def _check_record(request: DeployRequest, component: Component, record: bundle.BundleRecord,
                  directory: Path, commit_now: str, max_age_s: float) -> None:
    env, name = request.env, component.name
    again = _plan_again(request, name)
    for file_name, expected in record.hashed_files().items():
        path = directory / file_name
        if not path.exists() or bundle.sha256_file(path) != expected:
            raise UserError(f"The saved {file_name} of {name} in {env.name} is missing or no "
                            "longer matches the hash recorded when it was planned (it was "
                            f"changed after review); nothing was changed; {again}.")
    if record.age_s < -CLOCK_SKEW_S:
        raise UserError(f"The plan of {name} in {env.name} says it was made at "
                        f"{record.created_at}, which is in the future; a bundle nobody could "
                        f"have planned yet is not applied; nothing was changed; {again}.")
    if record.commit != commit_now:
        raise UserError(f"The plan of {name} in {env.name} was made at commit "
                        f"{record.commit[:12] or '(none)'}, but the working tree is at "
                        f"{commit_now[:12] or '(none)'} now; nothing was changed; {again}.")
    extra = targets.TARGET_IMPLEMENTATIONS[request.target].extra_vars
    if bundle.inputs_fingerprint(env, component, list(extra), request.source) \
            != record.inputs_sha256:
        raise UserError(f"The inputs of {name} in {env.name} (Terraform files, tfvars, schema "
                        "or templates) changed since the plan was made; nothing was changed; "
                        f"{again}.")
    if record.dirty and env.name != PROMOTION_ORDER[0]:
        raise UserError(f"The plan of {name} in {env.name} was made from a working tree with "
                        f"uncommitted changes, which {env.name} never accepts; commit, then "
                        f"{again}.")
    if record.age_s > max_age_s:
        raise UserError(f"The plan of {name} in {env.name} is {age_text(record.age_s)} old, "
                        f"older than --max-age {request.max_age}; nothing was changed; "
                        f"{again}.")


def check_protection_kept(request: DeployRequest, session: Session,
                          approved: Iterable[ApprovedBundle],
                          removed: list[str] | None = None) -> None:
    """Round 2 (and again on the plan being applied, with its `removed` addresses): a change
    cannot switch off the deletion protection it is checked against. Where the tfvars being
    applied turn it off, the setting of the commit the env runs now still holds for this
    apply; the switch takes effect once that change is applied. When which commit the env
    runs is unknown (no applied record names one: a state restored without a commit, or
    resources made outside the deploy path), protection holds: fail closed."""
    env = request.env
    if env.deletion_protection:
        return
    for item in approved:
        removals = item.protected_types_removed if removed is None else removed
        if not removals:
            continue
        running = ledger.running_commit(session, env, item.name)
        if running is None:
            where = (f"{env.name}, because no applied record of {item.name} names the commit "
                     f"{env.name} runs (a state restored without a commit, or resources made "
                     "outside the deploy path), so the protection it runs under is unknown "
                     f"and stays on (see invoke history --env {env.name} --component "
                     f"{item.name})")
        elif load_environment(env.name, worktrees.checkout(running.commit)).deletion_protection:
            where = (f"envs/{env.name}.tfvars of commit {running.commit[:12]}, which "
                     f"{env.name} runs now (turning it off takes effect once applied)")
        else:
            continue
        plan_guard.check(env, item.name, removals, request.allow_destroy,
                         request.confirm_destroy, switched_on_by=where)


def remote_state(session: Session, env: Environment, component: Component) -> RemoteState:
    """The component's current state object, read directly (no Terraform, no lock). Refuses
    a current object that is no state document: Terraform can neither read nor replace it."""
    current = state_versions.current_object(session, env, component)
    if current is None:
        return RemoteState("", 0)
    body, version_id, modified = current
    try:
        document = json.loads(body or b"{}")
        if not isinstance(document, dict):
            raise ValueError("not a JSON object")
    except ValueError as error:
        raise UserError(
            f"The current state of {component.name} in {env.name} (S3 version {version_id}) "
            f"is not a readable state document ({error}), so Terraform can neither read nor "
            "replace it; make the last good version current again as "
            "docs/runbooks/rollback.md describes (a damaged state), then run this again; "
            "nothing was changed.") from None
    return RemoteState(document.get("lineage", ""), int(document.get("serial", 0)), version_id,
                       modified)


def check_state(session: Session, request: DeployRequest, approved: Iterable[ApprovedBundle]
                ) -> dict[str, RemoteState]:
    """Round 2: refuse when another apply moved a component's state since its plan; the
    state each component is in now."""
    env = request.env
    found = {}
    for item in approved:
        now = remote_state(session, env, item.component)
        record = item.record
        found[item.name] = now
        if (now.lineage, now.serial) == (record.state_lineage, record.state_serial):
            continue
        when = f" at {now.last_modified}" if now.last_modified else ""
        raise UserError(
            f"The state of {item.component.name} in {env.name} moved since the plan: it was "
            f"serial {record.state_serial} (lineage {record.state_lineage or 'none'}) when "
            f"planned and is serial {now.serial} (lineage {now.lineage or 'none'}) now, "
            f"written{when}; someone applied in between. Nothing was changed; "
            f"{_plan_again(request, item.name)}.")
    return found


def release_order_problem(target: str, env: Environment, session: Session, component: str,
                          commit: str, source: Path) -> str | None:
    """Why `commit` (checked out in `source`) may not reach `component` in `env` now, or None:
    the previous environment must have applied and verified exactly this commit from a clean
    tree and applied its migrations, and `env` must not run a newer one (going back is a
    rollback, never a promotion)."""
    before = previous_env(env.name)
    if before is None:
        return None
    short = commit[:12] or "(none)"
    previous = load_environment(before)
    if ledger.verified(targets.reader_session(target, previous), previous, component,
                       commit) is None:
        return (f"{component} at commit {short} has not been applied and verified in "
                f"{before}, which every change passes before {env.name}")
    found = discover_components(source).get(component)
    problem = None if found is None else data_migrations.release_order_problem(
        target, env, found, source)
    if problem:
        return f"{component} at commit {short}: {problem}"
    running = ledger.running_commit(session, env, component)
    if running and running.commit != commit and not worktrees.is_ancestor(running.commit,
                                                                           commit):
        return (f"{env.name} runs {component} at commit {running.commit[:12]}, which {short} "
                "does not contain (older, or another branch); going back is a rollback, not "
                "a promotion")
    return None


def check_release_order(request: DeployRequest, session: Session,
                        approved: Iterable[ApprovedBundle]) -> None:
    """Round 2, environments after the first: the promotion rule for every bundle."""
    if request.action == "rollback":
        return
    for item in approved:
        problem = release_order_problem(request.target, request.env, session, item.name,
                                        item.record.commit, request.source)
        if problem:
            raise UserError(f"{problem}; nothing was changed.")


class VerificationFailed(OperationError):
    """Applied, but what is deployed differs from the source (printed check by check)."""


def apply(request: DeployRequest, console: Console,
          on_ready: Callable[[targets.TargetContext], None] = lambda ctx: None,
          ctx: targets.TargetContext | None = None,
          ) -> tuple[targets.TargetContext, list[runner.Row[ApprovedBundle]]]:
    """Check, then apply every approved bundle, verify and record it. Raises UserError
    (nothing changed) on a refusal; returns the per-component rows. on_ready(ctx) runs once
    the target is up, before anything changes (the caller prints, watches locks). `ctx`: the
    request's target already prepared and its source staged for every component (a promotion
    that just planned them there; on_ready is then the caller's business)."""
    with timings.timed("deploy checks offline"):
        approved = check_offline(request)
    if ctx is None:
        ctx = targets.prepare(request.target, request.env, request.source)
        on_ready(ctx)
        targets.stage(ctx, [item.component for item in approved])
    elif (ctx.target, ctx.env.name, ctx.source) != (request.target, request.env.name,
                                                      request.source):
        raise OperationError(f"deploy: the prepared {ctx.target} {ctx.env.name} of "
                             f"{ctx.source} is not this request's target.")
    with timings.timed("deploy checks on target"):
        states = check_state(ctx.live_session, request, approved)
        check_release_order(request, ctx.live_session, approved)
        check_protection_kept(request, ctx.live_session, approved)
        break_glass.check(request.target, request.env, ctx.live_session,
                          {item.name: item.protected_types_removed for item in approved})
    # every backup before any apply: one that fails stops the whole deployment
    with timings.timed("pre-deploy backups"):
        backups = {item.name: pre_deploy_backups.take(ctx.live_session, request.env,
                                                      item.plan_json)
                   for item in approved}

    def one(item: ApprovedBundle, report: operations.Report) -> operations.Outcome:
        return _deploy_one(request, ctx, item, states[item.name], backups[item.name], report,
                           console)

    # The component that took longest last time (the alerts component waits 5 s on its KMS
    # key, even on the sandbox) reaches its apply before the others start theirs.
    rows = runner.run(f"{request.action} {request.env.name} ({request.target})", approved, one,
                      console, alive=ctx.alive, timed_as="deploy", waiting=True,
                      head_start="apply")
    return ctx, rows


class AppliedPlanRefused(UserError):
    """The plan file about to be applied is not the one that was reviewed and checked."""


class StateMoved(NothingApplied):
    """Another apply changed the state after this one's checks, before its Terraform ran."""


def check_applied_plan(request: DeployRequest, session: Session, item: ApprovedBundle,
                       shown: JsonObject, backups: list[str]) -> PlanSummary:
    """The last check, made on the JSON of the plan file the same Terraform process applies
    next: it must be the reviewed plan.json, and deletion protection and the pre-deploy
    backups are taken from it (never from a file the bundle vouches for). Its summary."""
    env, name = request.env, item.name
    if _canonical(shown) != _canonical(item.plan_json):
        raise AppliedPlanRefused(
            f"The plan file about to be applied for {name} in {env.name} is not the plan that "
            "was reviewed (its contents differ from the bundle's plan.json; it was replaced "
            f"after review); nothing was changed; {_plan_again(request, name)}.")
    summary = summarise(shown)
    removed = plan_guard.removals(summary)
    if env.deletion_protection:
        plan_guard.check(env, name, removed, request.allow_destroy, request.confirm_destroy)
    check_protection_kept(request, session, [item], removed)
    backed_up = {pre_deploy_backups.table_of(arn) for arn in backups}
    missing = [t for t in pre_deploy_backups.touched_tables(shown) if t not in backed_up]
    if env.pre_deploy_backup and missing:
        raise AppliedPlanRefused(
            f"The plan of {name} in {env.name} changes table(s) {', '.join(missing)} that no "
            "pre-deploy backup covers; nothing was changed.")
    return summary


def _canonical(plan_json: JsonObject) -> str:
    return json.dumps(plan_json, sort_keys=True, separators=(",", ":"))


def _deploy_one(request: DeployRequest, ctx: targets.TargetContext, item: ApprovedBundle,
                before: RemoteState, backups: list[str], report: operations.Report,
                console: Console) -> operations.Outcome:
    env, record = request.env, item.record
    started = bundle.now_iso()
    failure: BaseException | None = None
    plan_after: JsonObject | None = None
    stages: list[str] = []
    applied_summary: list[PlanSummary] = []

    def tracked(stage: str) -> None:
        stages.append(stage)
        report(stage)

    def check(shown: JsonObject) -> None:
        # Under the component's lock, right before Terraform applies: a racing apply of the
        # same bundle that went first moved the state, and this one applies nothing.
        now = remote_state(ctx.live_session, env, item.component)
        if (now.lineage, now.serial) != (before.lineage, before.serial):
            raise StateMoved(
                f"Another apply changed the state of {item.name} in {env.name} (serial "
                f"{before.serial} to {now.serial}) while this one waited; this run applied "
                f"nothing; see invoke history --env {env.name} --component {item.name}.")
        summary = check_applied_plan(request, ctx.live_session, item, shown, backups)
        heading = f"{item.name} in {env.name} ({request.target}), applying now"
        console.print(summary.text(heading, plan_guard.protected_removals(env, summary)),
                      markup=False, highlight=False, end="")
        with timings.timed("ledger", item.name):
            ledger.write_intent(ctx.live_session, env, _record(
                request, item, before, before, started, ledger.STARTED, ledger.SKIPPED,
                backups))
        applied_summary.append(summary)

    try:
        with bundle.private_copy(request.target, env.name, item.component,
                                 record.plan_sha256) as plan_file:
            plan_after = operations.apply_saved_plan(ctx, item.component, plan_file, check,
                                                     tracked, then_plan=request.verify)
    except UserError:
        raise  # a guard refused the plan before Terraform applied it: nothing is recorded
    except BaseException as error:  # recorded below, then raised again
        failure = error
    with timings.timed("state read", item.name):
        after = remote_state(ctx.live_session, env, item.component)
    checks: list[Check] = []
    verification = ledger.SKIPPED
    if failure is None:
        bundle.archive(request.target, env.name, item.component, record.plan_sha256)
        if plan_after is not None and not interrupts.requested():
            checks = verify.deployed_checks(ctx, item.component, report, plan_after)
            verification = ledger.PASSED if all(c.ok for c in checks) else ledger.FAILED
    result = ledger.APPLIED if failure is None else (
        ledger.NOTHING_APPLIED if _applied_nothing(failure, stages, before, after)
        else ledger.NOT_APPLIED)
    entry = _record(request, item, before, after, started, result, verification, backups,
                    failed_checks=[c.name for c in checks if not c.ok], error=failure)
    with timings.timed("ledger", item.name):
        ledger.write(ctx.live_session, env, entry)
    if failure is not None:
        raise failure
    if verification == ledger.FAILED:
        raise VerificationFailed(
            f"{item.name} was applied, but {len(entry.failed_checks)} verification check(s) "
            f"failed (recorded in the ledger as {entry.key}); what is deployed differs from "
            "the commit's files.", details=verify.table_text([c for c in checks if not c.ok]))
    note = "applied, verified" if verification == ledger.PASSED else "applied, not verified"
    if request.action != "rollback":  # a rollback names the runs since instead (rollback.py)
        with timings.timed("migrations", item.name):
            ran = data_migrations.run_after_apply(
                ctx.live_session, env, request.target, item.component, request.source,
                (record.commit, record.dirty), console, report)
        note += f", {ran} migration(s) run" if ran else ""
    counts = applied_summary[0] if applied_summary else None
    return operations.Outcome(summary=counts, note=note)


def _record(request: DeployRequest, item: ApprovedBundle, before: RemoteState,
            after: RemoteState, started: str, result: str, verification: str,
            backups: list[str], failed_checks: list[str] | None = None,
            error: BaseException | None = None) -> ledger.Record:
    record = item.record
    return ledger.Record(
        env=request.env.name, component=item.name, action=request.action,
        target=request.target, commit=record.commit, dirty=record.dirty,
        inputs_sha256=record.inputs_sha256, bundle_sha256=record.plan_sha256,
        state_before=before.point(), state_after=after.point(), who=bundle.who(),
        started_at=started, finished_at=bundle.now_iso(), result=result,
        verification=verification, failed_checks=failed_checks or [], backups=backups,
        error=str(error or ""), rolled_back_to=request.rollback_to)


# Terraform errors that mean it never got to change anything.
_NOTHING_DONE = ("Error acquiring the state lock", "Saved plan is stale")


def _applied_nothing(failure: BaseException, stages: list[str], before: RemoteState,
                     after: RemoteState) -> bool:
    """Whether a failed apply provably changed nothing: Terraform's apply never started (the
    bundle was taken, init failed), or it stopped before changing anything (no state lock,
    a stale plan) and the state is where it was. Such a run does not withdraw an earlier
    verification of the commit."""
    if isinstance(failure, NothingApplied) or "apply" not in stages:
        return True
    details = f"{failure} {getattr(failure, 'details', '')}"
    return (after.version_id, after.serial) == (before.version_id, before.serial) \
        and any(marker in details for marker in _NOTHING_DONE)
