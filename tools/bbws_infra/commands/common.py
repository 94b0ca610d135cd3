"""What the command modules share: the consoles, the `guarded` wrapper that turns errors and
signals into an exit code, and the steps of a Terraform task (prepare the target, watch the
state locks, plan a commit, deploy, report the rows)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, ParamSpec

from rich.console import Console

from bbws_infra.core.errors import OperationError, UserError
from bbws_infra.core.paths import REPO_ROOT, work_dir
from bbws_infra.core.registry import (
    Component,
    Environment,
    load_environment,
    resolve_components,
    resolve_target,
)
from bbws_infra.engine import interrupts, terraform
from bbws_infra.inputs import preflight
from bbws_infra.plans import bundle, operations, runner
from bbws_infra.state import state_backend
from bbws_infra.targets import sandbox, targets

if TYPE_CHECKING:
    from bbws_infra.plans.plan_summary import PlanSummary
    from bbws_infra.release.deploy import DeployRequest

# soft_wrap: a line is never cut or wrapped at the console's width, so a table may be wider
# than the console rather than split an id (see bbws_infra.core.tables)
console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


# The parameters of a guarded command, checked at every call (tasks.py).
P = ParamSpec("P")


def guarded(function: Callable[P, int]) -> Callable[P, int]:
    """Turn our errors into one sentence on stderr and their exit code, never a traceback;
    Ctrl-C anywhere means exit 130 (SIGTERM 143, SIGHUP 129), even if something on the way
    swallowed the interrupt."""

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> int:
        terraform.forget_killed()
        with interrupts.handling():
            try:
                return _interruptible(function, *args, **kwargs)
            finally:
                _on_interrupt.clear()
                _stopped_note.clear()

    return wrapper


# Registered by a task while it runs: what to tell the user if a signal stops it (or kills
# one of its Terraform processes).
_on_interrupt: list[Callable[[], list[str]]] = []
# What a task that runs no Terraform says instead, once a signal stopped it (set by the task).
_stopped_note: list[str] = []


def on_stop_say(note: str) -> None:
    """For a task that runs no Terraform: what to say, after "interrupted", if a signal stops
    it (instead of the Terraform runs and bundles)."""
    _stopped_note[:] = [note]


def _interruptible(function: Callable[P, int], *args: P.args, **kwargs: P.kwargs) -> int:
    code = 0
    try:
        code = function(*args, **kwargs)
    except (UserError, OperationError) as error:
        if not interrupts.requested():
            _print_error(error)
            code = error.exit_code
    except KeyboardInterrupt:
        pass
    if not interrupts.requested():
        if code and terraform.killed():  # a SIGKILLed Terraform cannot release its lock
            _report_held_locks()
        return code
    terraform.stop_all()
    logs = work_dir() / "logs"
    name = interrupts.signal_name()
    said = "interrupted" if name == "SIGINT" else f"interrupted ({name})"
    if _stopped_note:
        err_console.print(f"[yellow]{said}[/yellow]: {_stopped_note[0]}")
        return interrupts.exit_code()
    err_console.print(f"[yellow]{said}[/yellow]: every Terraform run was stopped and no "
                      "bundle was left half-written"
                      + (f"; the logs are under {rel(logs)}." if logs.exists() else "."))
    _report_held_locks()
    return interrupts.exit_code()


def _report_held_locks() -> None:
    for check in _on_interrupt:
        for line in check():
            err_console.print(line, markup=False)


def _print_error(error: UserError | OperationError) -> None:
    err_console.print(f"[red]error:[/red] {error}")
    details = getattr(error, "details", "")
    if details:
        err_console.print(details, markup=False)


def rel(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def refuse_bad_inputs(components: list[Component], source: Path = REPO_ROOT) -> None:
    """Schemas, contracts and templates first: a broken one stops the task before anything
    starts (the tfvars were checked when the environment was loaded)."""
    findings = preflight.check_components(components, source)
    if findings:
        for finding in findings:
            err_console.print(str(finding), markup=False)
        names = sorted({f.file for f in findings})
        raise UserError(f"{len(findings)} problem(s) in {', '.join(names)}; fix them first "
                        "(invoke validate lists them all); nothing was started.")


def prepare_target(env: str, component: str | None, target: str | None
             ) -> tuple[Environment, list[Component], targets.TargetContext]:
    environment = load_environment(env)
    components = resolve_components(component)
    target_name = resolve_target(target)
    refuse_bad_inputs(components)
    ctx = targets.prepare(target_name, environment)
    for note in ctx.notes:
        console.print(f"[dim]{note}[/dim]")
    interrupts.checkpoint("stage")
    targets.stage(ctx, components)
    return environment, components, ctx


def watch_locks(ctx: targets.TargetContext, components: list[Component]) -> None:
    """If Ctrl-C stops this task, say which state locks (if any) are still held."""

    def held() -> list[str]:
        try:
            locks = state_backend.held_locks(ctx.live_session, ctx.env,
                                             [c.state_key for c in components])
        except Exception as error:  # the target may be gone too
            return [f"could not check the state locks: {error}"]
        if not locks:
            return ["no state lock is left held."]
        lines = []
        for c in components:
            info = locks.get(c.state_key)
            if info:
                lines.append(f"{c.name}: the state is still locked (lock {info.id}, "
                             f"{info.operation} by {info.who}); once nothing runs, release it: "
                             f"invoke unlock --env {ctx.env.name} --component {c.name} "
                             f"--target {ctx.target} --lock-id {info.id}")
        return lines

    _on_interrupt.append(held)


def finish(rows: list[runner.Row[runner.N]], ctx: targets.TargetContext) -> int:
    lost = [row for row in rows if isinstance(row.error, runner.TargetLost)]
    if lost:
        sandbox.forget_dead()
        groups = {"stopped": [r.item.name for r in rows if not r.ok and r.started],
                  "not started": [r.item.name for r in rows if not r.ok and not r.started],
                  "finished before it died": [r.item.name for r in rows if r.ok]}
        said = "; ".join(f"{', '.join(names)}: {what}" for what, names in groups.items() if names)
        err_console.print(
            f"[red]error:[/red] the sandbox emulator died during this run, so everything in it "
            f"(state, tables, buckets) is gone. {said}. The next command starts a fresh "
            "sandbox; plan again there.")
        return OperationError.exit_code
    return runner.report_failures(rows, err_console, lambda c: rel(ctx.log_file(c)))


def planned(row: runner.Row[Component]) -> PlanSummary:
    """The summary of a row that planned (operations.plan always returns one)."""
    if row.outcome is None or row.outcome.summary is None:
        raise OperationError(f"{row.item.name}: the plan returned no summary")
    return row.outcome.summary


def deploy_request(request: DeployRequest, ctx: targets.TargetContext | None = None) -> int:
    """Apply the request; into `ctx` when the caller already prepared and staged the request's
    source for every component of it (a promotion that just planned them)."""
    from bbws_infra.release import deploy  # the deploy path: loaded by the tasks that apply

    def ready(ctx: targets.TargetContext) -> None:
        for note in ctx.notes:
            console.print(f"[dim]{note}[/dim]")
        watch_locks(ctx, request.components)

    ctx, rows = deploy.apply(request, console, on_ready=ready, ctx=ctx)
    return finish(rows, ctx)


def prepare_source(env: Environment, target: str, source: Path, components: list[Component]
                   ) -> targets.TargetContext:
    """The target prepared and a commit's worktree staged for components, their state locks
    watched: what planning and then applying that commit share."""
    refuse_bad_inputs(components, source)
    ctx = targets.prepare(target, env, source)
    for note in ctx.notes:
        console.print(f"[dim]{note}[/dim]")
    targets.stage(ctx, components)
    watch_locks(ctx, components)
    return ctx


def plan_commit(env: Environment, target: str, source: Path, commit: str,
                components: list[Component], dry_run: bool = False,
                ctx: targets.TargetContext | None = None) -> int:
    """Plan components from a commit's worktree into the env's bundles (a dry run: beside
    them, leaving a bundle under review alone); the exit code. `ctx`: that worktree already
    staged (prepare_source) for at least these components."""
    if ctx is None:
        ctx = prepare_source(env, target, source, components)
    else:
        refuse_bad_inputs(components, source)
    staged = ctx

    def one(component: Component, report: Callable[[str], None]) -> operations.Outcome:
        into = bundle.dry_run_dir(target, env.name, component) if dry_run else None
        return operations.plan(staged, component, report, into)

    rows = runner.run(f"plan {env.name} ({target}) at {commit[:12]}", components, one,
                      console, alive=ctx.alive, timed_as="plan")
    return finish(rows, ctx)
