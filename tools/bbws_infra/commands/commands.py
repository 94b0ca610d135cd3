"""What each invoke task does. Every function validates all of its input before starting
anything, prints for people, and returns the process exit code."""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, ParamSpec

from rich.console import Console

from bbws_infra.core import tables
from bbws_infra.core.errors import OperationError, UserError
from bbws_infra.core.paths import REPO_ROOT, work_dir
from bbws_infra.core.registry import (
    PROMOTION_ORDER,
    Component,
    Environment,
    load_environment,
    one_component,
    resolve_components,
    resolve_target,
)
from bbws_infra.engine import interrupts, terraform
from bbws_infra.gates import static_checks
from bbws_infra.inputs import preflight
from bbws_infra.pipeline import github
from bbws_infra.plans import bundle, operations, runner
from bbws_infra.release import deploy, worktrees
from bbws_infra.state import ledger, state_backend
from bbws_infra.targets import sandbox, targets

if TYPE_CHECKING:
    from bbws_infra.gates.gates import GateResult
    from bbws_infra.plans.plan_summary import PlanSummary
    from bbws_infra.release.rollback import Rollback
    from bbws_infra.state.doctor import Finding

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

    return wrapper


# Registered by a task while it runs: what to tell the user if a signal stops it (or kills
# one of its Terraform processes).
_on_interrupt: list[Callable[[], list[str]]] = []


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
    err_console.print(f"[yellow]{said}[/yellow]: every Terraform run was stopped and no "
                      "bundle was left half-written"
                      + (f"; the logs are under {_rel(logs)}." if logs.exists() else "."))
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


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _refuse_bad_inputs(components: list[Component], source: Path = REPO_ROOT) -> None:
    """Schemas, contracts and templates first: a broken one stops the task before anything
    starts (the tfvars were checked when the environment was loaded)."""
    findings = preflight.check_components(components, source)
    if findings:
        for finding in findings:
            err_console.print(str(finding), markup=False)
        names = sorted({f.file for f in findings})
        raise UserError(f"{len(findings)} problem(s) in {', '.join(names)}; fix them first "
                        "(invoke validate lists them all); nothing was started.")


def _prepare(env: str, component: str | None, target: str | None
             ) -> tuple[Environment, list[Component], targets.TargetContext]:
    environment = load_environment(env)
    components = resolve_components(component)
    target_name = resolve_target(target)
    _refuse_bad_inputs(components)
    ctx = targets.prepare(target_name, environment)
    for note in ctx.notes:
        console.print(f"[dim]{note}[/dim]")
    interrupts.checkpoint("stage")
    targets.stage(ctx, components)
    return environment, components, ctx


def _watch_locks(ctx: targets.TargetContext, components: list[Component]) -> None:
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
                lines.append(f"{c.name}: the state is still locked (lock {info.get('ID')}, "
                             f"{info.get('Operation')} by {info.get('Who')}); once nothing "
                             f"runs, release it: invoke unlock --env {ctx.env.name} --component "
                             f"{c.name} --target {ctx.target} --lock-id {info.get('ID')}")
        return lines

    _on_interrupt.append(held)


def _finish(rows: list[runner.Row[runner.N]], ctx: targets.TargetContext) -> int:
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
    return runner.report_failures(rows, err_console, lambda c: _rel(ctx.log_file(c)))


def _planned(row: runner.Row[Component]) -> PlanSummary:
    """The summary of a row that planned (operations.plan always returns one)."""
    if row.outcome is None or row.outcome.summary is None:
        raise OperationError(f"{row.item.name}: the plan returned no summary")
    return row.outcome.summary


@guarded
def init(env: str, component: str | None, target: str | None) -> int:
    _, components, ctx = _prepare(env, component, target)

    def one(item: Component, report: Callable[[str], None]) -> operations.Outcome:
        operations.init(ctx, item, report, force=True)
        return operations.Outcome(note="initialised")

    rows = runner.run(f"init {ctx.env.name} ({ctx.target})", components, one, console,
                      alive=ctx.alive)
    return _finish(rows, ctx)


@guarded
def plan(env: str, component: str | None, target: str | None,
         detailed_exitcode: bool = False) -> int:
    _, components, ctx = _prepare(env, component, target)
    _watch_locks(ctx, components)
    rows = runner.run(f"plan {ctx.env.name} ({ctx.target})", components,
                      lambda c, report: operations.plan(ctx, c, report), console,
                      alive=ctx.alive)
    for row in rows:
        if row.ok:
            directory = bundle.bundle_dir(ctx.target, ctx.env.name, row.item)
            console.print(f"{row.item.name}: {_planned(row).counts}; bundle in "
                          f"{_rel(directory)}/")
            github.job_summary((directory / bundle.SUMMARY_MARKDOWN).read_text())
    code = _finish(rows, ctx)
    if code == 0 and detailed_exitcode and any(_planned(r).has_changes for r in rows):
        return 2
    return code


@guarded
def apply(env: str, component: str | None, target: str | None, confirm: str | None,
          allow_destroy: list[str] | None = None, confirm_destroy: str | None = None,
          max_age: str = deploy.DEFAULT_MAX_AGE, verify: bool = True) -> int:
    environment, target_name = load_environment(env), resolve_target(target)
    # Without --component: every saved bundle of the env and target.
    chosen = (resolve_components(component) if component
              else bundle.saved_components(target_name, environment.name))
    request = deploy.DeployRequest(
        env=environment, target=target_name, components=chosen, confirm=confirm,
        allow_destroy=tuple(allow_destroy or ()), confirm_destroy=confirm_destroy,
        max_age=max_age, verify=verify)
    return _deploy(request)


def _deploy(request: deploy.DeployRequest) -> int:
    def ready(ctx: targets.TargetContext) -> None:
        for note in ctx.notes:
            console.print(f"[dim]{note}[/dim]")
        _watch_locks(ctx, request.components)

    ctx, rows = deploy.apply(request, console, on_ready=ready)
    return _finish(rows, ctx)


def _plan_commit(env: Environment, target: str, source: Path, commit: str,
                 components: list[Component], dry_run: bool = False) -> int:
    """Plan components from a commit's worktree into the env's bundles (a dry run: beside
    them, leaving a bundle under review alone); the exit code."""
    _refuse_bad_inputs(components, source)
    ctx = targets.prepare(target, env, source)
    targets.stage(ctx, components)
    _watch_locks(ctx, components)

    def one(component: Component, report: Callable[[str], None]) -> operations.Outcome:
        into = bundle.dry_run_dir(target, env.name, component) if dry_run else None
        return operations.plan(ctx, component, report, into)

    rows = runner.run(f"plan {env.name} ({target}) at {commit[:12]}", components, one,
                      console, alive=ctx.alive)
    return _finish(rows, ctx)


@guarded
def promote(to: str, component: str | None, target: str | None, commit: str | None,
            confirm: str | None, plan_only: bool = False, reviewed: bool = False,
            allow_destroy: list[str] | None = None, confirm_destroy: str | None = None,
            max_age: str = deploy.DEFAULT_MAX_AGE, verify: bool = True) -> int:
    from bbws_infra.release import promote as promotion

    target_name = resolve_target(target)
    chosen = promotion.prepare(to, target_name, component, commit, confirm, plan_only,
                               reviewed)
    env = chosen.env
    console.print(f"promoting commit {chosen.commit[:12]} ({worktrees.subject(chosen.commit)})"
                  f" from {chosen.previous} to {env.name} ({target_name})")
    if chosen.reviewed:
        console.print(f"reviewed plans of this commit kept: "
                      f"{', '.join(c.name for c in chosen.reviewed)}")
    if chosen.to_plan:
        code = _plan_commit(env, target_name, chosen.source, chosen.commit, chosen.to_plan)
        if code:
            return code
    for item in chosen.components:
        directory = bundle.bundle_dir(target_name, env.name, item)
        console.print((directory / bundle.SUMMARY_TEXT).read_text(), markup=False)
        github.job_summary((directory / bundle.SUMMARY_MARKDOWN).read_text())
    if plan_only:
        folder = bundle.bundle_dir(target_name, env.name, chosen.components[0]).parent
        console.print(f"plans written for review under {_rel(folder)}/; once approved: "
                      f"invoke promote --to {env.name} --commit {chosen.commit[:12]} "
                      f"--target {target_name} --confirm {env.apply_confirmation}")
        return 0
    return _deploy(deploy.DeployRequest(
        env=env, target=target_name, components=chosen.components, confirm=confirm,
        allow_destroy=tuple(allow_destroy or ()), confirm_destroy=confirm_destroy,
        max_age=max_age, action="promote", source=chosen.source, verify=verify,
        replan=promotion.replan_hint(chosen, target_name)))


@guarded
def unlock(env: str, component: str, target: str | None, lock_id: str) -> int:
    components = resolve_components(component)
    if len(components) != 1 or not lock_id:
        raise UserError("unlock needs exactly one --component and the --lock-id from the "
                        "lock error.")
    from bbws_infra.state import doctor as health

    _, _, ctx = _prepare(env, component, target)
    held = health.lock_info(ctx.live_session, ctx.env, components[0])
    if held is None:
        raise UserError(f"The state of {components[0].name} in {env} is not locked; nothing "
                        "to release.")
    console.print(f"the lock {held.id} is held by {held.who} ({held.operation}) since "
                  f"{held.created} ({health.age_text(held.age_s)})")
    operations.force_unlock(ctx, components[0], lock_id)
    console.print(f"released lock {lock_id} on {components[0].name} in {env} ({ctx.target})")
    return 0


@guarded
def bootstrap(env: str, target: str | None) -> int:
    environment = load_environment(env)
    target_name = resolve_target(target)
    if target_name == "sandbox":
        _, _, created = sandbox.session_for(environment)
    else:
        from bbws_infra.state.state_backend import ensure_state_backend

        created = ensure_state_backend(targets.aws_session(environment), environment,
                                       enforce=True)
    for line in created:
        console.print(f"created {line}")
    console.print(f"{environment.name} ({target_name}): state bucket {environment.state_bucket} "
                  f"and lock table {environment.lock_table} are ready.")
    return 0


@guarded
def sandbox_up(port: int | None = None) -> int:
    server, started = sandbox.up(port)
    verb = "started" if started else "already running"
    console.print(f"sandbox {verb} at {server.endpoint} (pid {server.pid})")
    return 0


@guarded
def sandbox_down() -> int:
    console.print("sandbox stopped" if sandbox.down() else "sandbox was not running")
    return 0


@guarded
def sandbox_status() -> int:
    server, sentence = sandbox.status()
    console.print(sentence)
    return 0 if server else 1


@guarded
def sandbox_env(env: str) -> int:
    print(sandbox.shell_exports(load_environment(env)))
    return 0


@guarded
def bench(env: str, repeats: int) -> int:
    from bbws_infra.bench import bench as benchmark

    load_environment(env)
    if repeats < 1:
        raise UserError("--repeats must be at least 1.")
    return benchmark.main(env, repeats)


# ---- static checks -----------------------------------------------------------------------


@guarded
def fmt(fix: bool = False) -> int:
    """Rewrite the formatting (checking it is the fmt gate)."""
    problems = static_checks.terraform_fmt(fix)
    if problems:
        err_console.print(problems, markup=False)
        return 1
    console.print("fixed formatting")
    return 0


def _report_findings(what: str, findings: Sequence[object]) -> int:
    for finding in findings:
        err_console.print(str(finding), markup=False)
    if findings:
        err_console.print(f"[red]error:[/red] {len(findings)} problem(s) in the {what}.")
        return 1
    console.print(f"{what}: no problems")
    return 0


@guarded
def validate_schemas() -> int:
    from bbws_infra.inputs import schemas

    return _report_findings("table schemas", schemas.validate_all())


@guarded
def validate_templates() -> int:
    from bbws_infra.inputs import templates

    return _report_findings("email templates", templates.validate_all())


@guarded
def templates_preview() -> int:
    from bbws_infra.inputs.template_preview import build_preview

    index = build_preview()
    console.print(f"preview written; open {_rel(index)} in a browser")
    return 0


# ---- gates --------------------------------------------------------------------------------


def _print_gates(results: list[GateResult], as_json: bool) -> int:
    from bbws_infra.gates import gates

    # Plain text, not a terminal-width table: the same output in a terminal, a CI log and a
    # pasted bug report.
    print(gates.results_json(results) if as_json else gates.format_results(results))
    return gates.exit_code(results)


@guarded
def gate(name: str, as_json: bool = False) -> int:
    """One gate (see gates.GATES)."""
    from bbws_infra.gates import gates

    return _print_gates([gates.run_gate(name)], as_json)


@guarded
def check(as_json: bool = False, names: tuple[str, ...] | None = None) -> int:
    """Every gate (or the named ones), concurrently where independent, one summary."""
    from bbws_infra.gates import gates

    return _print_gates(gates.run_check(names), as_json)


@guarded
def docs_render(every: bool = False) -> int:
    """Render the docs' new and changed Mermaid blocks to SVG."""
    from bbws_infra.docs import diagrams

    written = diagrams.render_docs(every=every)
    for path in written:
        print(f"{'wrote' if path.exists() else 'removed'} {_rel(path)}")
    if not written:
        print(f"every diagram SVG in {diagrams.DIAGRAMS_DIR} is current")
    return 0


@guarded
def infracost(env: str, target: str | None, as_json: bool = False) -> int:
    """Advisory monthly cost of the env's saved plans."""
    from bbws_infra.gates import cost

    environment = load_environment(env)
    target_name = resolve_target(target)
    plans = bundle.saved_plan_jsons(target_name, environment.name)
    if not plans:
        raise UserError(f"No saved plans for {environment.name} ({target_name}) to price; run: "
                        f"invoke plan --env {environment.name} --target {target_name}")
    report = cost.price_saved_plans(environment.name, plans)
    if as_json:
        print(report.to_json())
    else:
        console.print(report.text(), markup=False)
        missing = [c.name for c in resolve_components(None) if c.name not in plans]
        if missing:
            console.print(f"not priced (no saved plan): {', '.join(missing)}")
    return 0


# ---- the release: what is deployed where --------------------------------------------------


def _verification_text(record: ledger.Record) -> str:
    if record.result != ledger.APPLIED:
        return "-"
    if record.verification == ledger.FAILED:
        return f"[red]failed[/red] ({len(record.failed_checks)})"
    return {"passed": "[green]passed[/green]"}.get(record.verification, record.verification)


@guarded
def history(env: str, component: str | None, target: str | None, limit: int | None,
            as_json: bool = False) -> int:
    environment, target_name = load_environment(env), resolve_target(target)
    if component:
        resolve_components(component)  # a clear error for an unknown name
    if limit is not None and limit < 1:
        raise UserError("--limit must be at least 1.")
    session = targets.reader_session(target_name, environment)
    found = ledger.read(session, environment, component, limit)
    if as_json:
        print(json.dumps([asdict(r) for r in found], indent=2))
        return 0
    if not found:
        console.print(f"no deployments recorded in {environment.name} ({target_name}) yet")
        return 0
    rows = [[r.finished_at, r.component, r.action, r.commit[:12] + (" +dirty" if r.dirty
             else ""), r.result if r.result == ledger.APPLIED else f"[red]{r.result}[/red]",
             _verification_text(r), f"{r.state_before.serial} -> {r.state_after.serial}",
             r.who] for r in found]
    console.print(tables.table(
        f"history of {environment.name} ({target_name}), newest first",
        ["finished", "component", "action", "commit", "result", "verified", "serial", "who"],
        rows))
    return 0


@guarded
def status(target: str | None, as_json: bool = False) -> int:
    """Per env and component: the commit deployed, when, by whom, and whether it verified."""
    from bbws_infra.core.registry import env_names

    target_name = resolve_target(target)
    from botocore.exceptions import BotoCoreError, ClientError

    entries: list[tuple[str, str, ledger.Record | None]] = []
    unreadable: dict[str, str] = {}
    for name in env_names():
        environment = load_environment(name)
        try:  # on AWS, one set of credentials may not read every env's ledger
            session = targets.reader_session(target_name, environment)
            entries += [(name, item.name, ledger.current(session, environment, item.name))
                        for item in resolve_components(None)]
        except (ClientError, BotoCoreError) as error:
            unreadable[name] = str(error)
    if as_json:
        print(json.dumps([{"env": e, "component": c, "deployed": asdict(r) if r else None}
                          for e, c, r in entries]
                         + [{"env": e, "unreadable": why} for e, why in unreadable.items()],
                         indent=2))
        return 1 if unreadable else 0
    rows = [[e, c, "-", "never deployed", "", "", ""] if r is None else
            [e, c, r.commit[:12] + (" +dirty" if r.dirty else ""), r.finished_at, r.who,
             r.action, _verification_text(r)] for e, c, r in entries]
    rows += [[e, "(all)", "?", "[red]cannot read the ledger[/red]", "", "", ""]
             for e in unreadable]
    console.print(tables.table(f"deployed ({target_name})",
                               ["env", "component", "commit", "when", "by", "action",
                                "verified"], rows))
    for name, why in unreadable.items():  # below: an error's sentence is no table cell
        console.print(f"{name}: cannot read the ledger: {why}", markup=False)
    return 1 if unreadable else 0


@guarded
def verify(env: str, component: str | None, target: str | None, as_json: bool = False) -> int:
    """Check what is deployed against the files of the commit the ledger names."""
    from bbws_infra.release import verify as verification

    environment, components = load_environment(env), resolve_components(component)
    target_name = resolve_target(target)
    plans = verification.sources(target_name, environment, components)
    checks: list[verification.Check] = []
    for source, group in plans.groups.items():
        source_env = load_environment(environment.name, source)
        ctx = targets.prepare(target_name, source_env, source)
        targets.stage(ctx, group)
        found: dict[str, list[verification.Check]] = {}

        def one(item: Component, report: Callable[[str], None],
                ctx: targets.TargetContext = ctx,
                found: dict[str, list[verification.Check]] = found) -> operations.Outcome:
            found[item.name] = verification.deployed_checks(ctx, item, report)
            failed = sum(not c.ok for c in found[item.name])
            return operations.Outcome(note=f"{failed} failed" if failed else "verified")

        where = "working tree" if source == REPO_ROOT else f"commit {source.name[:12]}"
        # with --json, stdout carries only the JSON: progress goes to stderr
        rows = runner.run(f"verify {environment.name} ({target_name}) against the {where}",
                          group, one, err_console if as_json else console, alive=ctx.alive)
        code = _finish(rows, ctx)
        if code:
            return code
        checks += [c for item in group for c in found[item.name]]
    checks += plans.missing
    failed = [c for c in checks if not c.ok]
    if as_json:
        print(verification.to_json(checks))
        return OperationError.exit_code if failed else 0
    console.print(verification.table(checks))
    github.job_summary(f"### verify {environment.name} ({target_name}): "
                       f"{len(checks) - len(failed)} of {len(checks)} checks passed\n\n"
                       + verification.table_text(failed))
    if failed:
        err_console.print(f"[red]error:[/red] {len(failed)} of {len(checks)} checks failed in "
                          f"{environment.name} ({target_name}).")
        return OperationError.exit_code
    console.print(f"{environment.name} ({target_name}): all {len(checks)} checks passed")
    return 0


@guarded
def drift(env: str, component: str | None, target: str | None) -> int:
    """Refresh-only plans in parallel: what changed outside Terraform (never a bundle)."""
    from bbws_infra.release import drift as drifting

    allowlist = drifting.load_allowlist()  # a broken file stops the task before anything runs
    environment, components, ctx = _prepare(env, component, target)
    found: dict[str, list[drifting.Drift]] = {}

    def one(item: Component, report: Callable[[str], None]) -> operations.Outcome:
        plan_json = operations.speculative_plan(ctx, item, refresh_only=True, report=report)
        found[item.name] = drifting.classify(drifting.drifts(item.name, plan_json), allowlist,
                                             environment.name)
        failing = sum(d.allowed_by is None for d in found[item.name])
        accepted = len(found[item.name]) - failing
        return operations.Outcome(note=", ".join(
            [f"{failing} drifted"] * bool(failing) + [f"{accepted} allowlisted"] * bool(accepted))
            or "no drift")

    rows = runner.run(f"drift {environment.name} ({ctx.target})", components, one, console,
                      alive=ctx.alive)
    code = _finish(rows, ctx)
    if code:
        return code
    every = [d for item in components for d in found[item.name]]
    report = drifting.report_text(environment.name, every)
    console.print(report, markup=False)
    github.job_summary(f"### drift in {environment.name} ({ctx.target})\n\n```\n{report}```")
    return drifting.exit_code(every)


# ---- state versions and rollback ----------------------------------------------------------


@guarded
def state_versions(env: str, component: str | None, target: str | None,
                   limit: int | None = None, as_json: bool = False) -> int:
    from bbws_infra.state import state_versions as versions

    environment, item = load_environment(env), one_component(component, "state-versions")
    target_name = resolve_target(target)
    found = versions.versions(targets.reader_session(target_name, environment), environment,
                              item, limit)
    if as_json:
        print(json.dumps([asdict(v) for v in found], indent=2))
        return 0
    if not found:
        console.print(f"{item.name} has no state in {environment.name} ({target_name}) yet")
        return 0
    rows = [[v.version_id + (" (current)" if v.current else ""), v.last_modified,
             "-" if v.serial is None else str(v.serial),
             v.lineage[:8] if v.readable else "[red]unreadable[/red]", str(v.size),
             v.commit[:12] or "-", v.action or "-"] for v in found]
    console.print(tables.table(
        f"state versions of {item.name} in {environment.name} ({target_name}), newest first",
        ["version id", "written", "serial", "lineage", "bytes", "commit", "action"], rows))
    return 0


@guarded
def rollback(env: str, component: str | None, target: str | None, version_id: str | None,
             confirm: str | None, dry_run: bool = False, restore_state: bool = False,
             allow_orphans: bool = False, allow_destroy: list[str] | None = None,
             confirm_destroy: str | None = None, verify: bool = True) -> int:
    from bbws_infra.release import rollback as rolling

    target_name = resolve_target(target)
    chosen = rolling.prepare(env, component, version_id, confirm, target_name, dry_run,
                             restore_state, allow_orphans)
    item, version = chosen.component, chosen.version
    console.print(f"rolling {item.name} in {chosen.env.name} ({target_name}) back to state "
                  f"version {version.version_id} (serial {version.serial}, commit "
                  f"{version.commit[:12] or 'none recorded'})")
    if restore_state:
        if dry_run:
            console.print("dry run: the state document would be restored first"
                          + (f", dropping {', '.join(chosen.orphans)}" if chosen.orphans
                             else "; nothing the current state manages would be dropped"))
        else:
            _restore_state(chosen, target_name)
            if chosen.source is None:
                return 0
    if chosen.source is None:  # a dry run of a restore without a recorded commit
        return 0
    code = _plan_commit(chosen.env, target_name, chosen.source, chosen.commit, [item], dry_run)
    if code:
        return code
    directory = (bundle.dry_run_dir if dry_run else bundle.bundle_dir)(
        target_name, chosen.env.name, item)
    console.print((directory / bundle.SUMMARY_TEXT).read_text(), markup=False)
    if dry_run:
        console.print(f"dry run: nothing was applied; the plan is in {_rel(directory)}/")
        return 0
    return _deploy(deploy.DeployRequest(
        env=chosen.env, target=target_name, components=[item], confirm=confirm,
        allow_destroy=tuple(allow_destroy or ()), confirm_destroy=confirm_destroy,
        action="rollback", source=chosen.source, verify=verify,
        replan=rolling.dry_run_hint(chosen, target_name), rollback_to=version.version_id))


def _restore_state(chosen: Rollback, target_name: str) -> None:
    from bbws_infra.release import rollback as rolling

    after = rolling.restore_state(chosen, target_name)
    env, item = chosen.env, chosen.component
    console.print(f"restored the state document of version {chosen.version.version_id} as "
                  f"serial {after.serial} (version {after.version_id})"
                  + (f"; no longer managed: {', '.join(chosen.orphans)}" if chosen.orphans
                     else ""))
    if chosen.source is None:
        console.print(f"the ledger names no commit for that version, so nothing else was "
                      f"done: resources were not changed; plan to see what differs: "
                      f"invoke plan --env {env.name} --component {item.name}")


@guarded
def backups(env: str, component: str | None, target: str | None, as_json: bool = False
            ) -> int:
    """The on-demand backups of the env's tables (the pre-deploy ones among them)."""
    from bbws_infra.inputs import schemas

    environment, target_name = load_environment(env), resolve_target(target)
    table_names = {c.name: schemas.load_table_definition(path).table_name
                   for c in resolve_components(component) if c.kind == "dynamodb"
                   for path in schemas.schema_files() if path.parent == REPO_ROOT / c.root}
    if not table_names:
        raise UserError("Only table components have backups; choose one of: "
                        + ", ".join(c.name for c in resolve_components(None)
                                    if c.kind == "dynamodb") + ".")
    dynamodb = targets.reader_session(target_name, environment).client(
        "dynamodb", region_name=environment.region)
    found = []
    for name, table in table_names.items():
        pages = dynamodb.get_paginator("list_backups").paginate(TableName=table,
                                                                BackupType="USER")
        found += [{"component": name, "table": table, "name": b["BackupName"],
                   "created": b["BackupCreationDateTime"].isoformat(timespec="seconds"),
                   "status": b["BackupStatus"], "bytes": b.get("BackupSizeBytes", 0),
                   "arn": b["BackupArn"]} for page in pages for b in page["BackupSummaries"]]
    found.sort(key=lambda b: b["created"], reverse=True)
    if as_json:
        print(json.dumps(found, indent=2))
        return 0
    if not found:
        console.print(f"no on-demand backups in {environment.name} ({target_name})")
        return 0
    console.print(tables.table(
        f"on-demand backups in {environment.name} ({target_name}), newest first",
        ["created", "component", "backup", "status", "bytes", "arn"],
        [[b["created"], b["component"], b["name"], b["status"], str(b["bytes"]), b["arn"]]
         for b in found]))
    return 0


@guarded
def doctor(env: str, component: str | None, target: str | None, fix_digest: bool = False,
           as_json: bool = False) -> int:
    """The health of each component's state: readable, sane serial, digest, lock, ledger."""
    from bbws_infra.state import doctor as health

    environment, components = load_environment(env), resolve_components(component)
    target_name = resolve_target(target)
    session = targets.reader_session(target_name, environment)
    findings = health.examine(session, environment, components)
    if fix_digest:
        broken = [f.component for f in findings if f.check == "digest" and not f.ok]
        for item in (c for c in components if c.name in broken):
            old, new = health.fix_digest(session, environment, item)
            console.print(f"{item.name}: digest {old or '(none)'} -> {new}")
        if not broken:
            console.print("no digest needed fixing")
        findings = health.examine(session, environment, components)  # re-check after acting
    title = f"state health in {environment.name} ({target_name})"
    # in a workflow (a cancelled or failed apply job): the findings in the job summary too;
    # a summary that cannot be written must not turn doctor's own verdict into an error
    with contextlib.suppress(OSError):
        github.job_summary(health.markdown(title, findings))
    if as_json:
        print(json.dumps([asdict(f) for f in findings], indent=2))
    else:
        _print_findings(title, findings)
    return OperationError.exit_code if any(not f.ok for f in findings) else 0


def _print_findings(title: str, findings: list[Finding]) -> None:
    """The doctor's table, then each fix on a line of its own: a fix is often a command to
    paste, which no table cell keeps on one line."""
    console.print(tables.table(
        title, ["component", "check", "result", tables.prose("found")],
        [[f.component, f.check, "[green]ok[/green]" if f.ok else "[red]FAIL[/red]", f.found]
         for f in findings]))
    for finding in findings:
        if finding.fix:
            console.print(f"fix {finding.component} {finding.check}: {finding.fix}",
                          markup=False)


# ---- GitHub Actions -----------------------------------------------------------------------


@guarded
def matrix() -> int:
    """The environments and components, for a workflow's job matrix (one source: the
    registry); also set as the step outputs `matrix` and `envs` in GitHub Actions."""
    from bbws_infra.core.registry import env_names

    envs = env_names()
    grid = json.dumps({"env": envs, "component": [c.name for c in resolve_components(None)]})
    github.set_output("matrix", grid)
    github.set_output("envs", json.dumps(envs))
    print(grid)
    return 0


@guarded
def approvals(env: str, gates: bool = False, gate: str | None = None,
              baseline: bool = False) -> int:
    """In a workflow run: refuse unless enough different people approved this run attempt for
    env (the count is the registry's); or, with gates, the env's approval environments as JSON
    (also the step output `gates`); or, with gate, what that approval job stands for; or, with
    baseline, the review history before this attempt's approvals (the step output
    `baseline`)."""
    from bbws_infra.pipeline import approvals as approving

    load_environment(env)
    if sum((gates, bool(gate), baseline)) > 1:
        raise UserError("Pass one of --gates, --gate and --baseline; nothing was checked.")
    if baseline:
        recorded = approving.record_baseline()
        github.set_output("baseline", recorded)
        print(recorded)
        return 0
    if gates:
        names = json.dumps(approving.gates(env))
        github.set_output("gates", names)
        print(names)
        return 0
    if gate:
        console.print(approving.describe_gate(env, gate), markup=False)
        return 0
    sentence = approving.verdict(approving.check(env))
    github.job_summary(f"**Approvals**: {sentence}")
    console.print(sentence, markup=False)
    return 0


@guarded
def comment_plans(bundles: str) -> int:
    """One pull-request comment with the summary of every bundle found under `bundles`
    (updated in place by each new run)."""
    root = Path(bundles)
    records = sorted(root.rglob(bundle.RECORD)) if root.is_dir() else []
    if not records:
        raise UserError(f"No plan bundles under {bundles}; nothing to comment.")
    sections = []
    for record_path in records:
        record = bundle.BundleRecord.from_json(record_path.read_text())
        sections.append((record.env, record.component,
                         (record_path.parent / bundle.SUMMARY_MARKDOWN).read_text()))
    order = {name: index for index, name in enumerate(PROMOTION_ORDER)}
    sections.sort(key=lambda s: (order.get(s[0], 99), s[1]))
    text = "## Terraform plans\n\n" + "\n".join(s[2] for s in sections)
    github.job_summary(text)
    console.print(github.upsert_comment("bbws-infra plans", text))
    return 0


@guarded
def notify(env: str, action: str, result: str, component: str | None) -> int:
    """One message about a release run to SLACK_WEBHOOK_URL (said and skipped when unset)."""
    import os

    from bbws_infra.pipeline import notify as notifying

    load_environment(env)
    server = os.environ.get("GITHUB_SERVER_URL", "https://github.com")
    repository, run_id = os.environ.get("GITHUB_REPOSITORY"), os.environ.get("GITHUB_RUN_ID")
    event = notifying.Event(
        env=env, components=[c.name for c in resolve_components(component)],
        commit=os.environ.get("GITHUB_SHA") or bundle.git_state()[0], action=action,
        result=result, who=bundle.who(),
        run_url=f"{server}/{repository}/actions/runs/{run_id}" if repository and run_id
        else "")
    console.print(notifying.send(event))
    return 0


@guarded
def iam_policy(env: str, repository: str) -> int:
    """The env's two GitHub OIDC roles (plan and deploy: name, ARN, trusted GitHub environment,
    trust and permissions policy), the ledger guard policy both get, from code."""
    from bbws_infra.pipeline import iam_policy as policies

    environment = load_environment(env)
    document = policies.policies(environment, repository)
    before = deploy.previous_env(environment.name)
    if before:  # promotion reads the previous env's ledger: that bucket must allow it
        document["previous_ledger_bucket_policy"] = policies.ledger_read_bucket_policy(
            load_environment(before), environment)
    print(json.dumps(document, indent=2))
    return 0
