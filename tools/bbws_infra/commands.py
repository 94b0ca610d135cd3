"""What each invoke task does. Every function validates all of its input before starting
anything, prints for people, and returns the process exit code."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console

from bbws_infra import (
    bundle,
    deploy,
    interrupts,
    operations,
    preflight,
    runner,
    sandbox,
    state_backend,
    static_checks,
    targets,
    terraform,
)
from bbws_infra.errors import OperationError, UserError
from bbws_infra.paths import work_dir
from bbws_infra.registry import (
    Component,
    Environment,
    load_environment,
    resolve_components,
    resolve_target,
)

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def guarded(function: Callable[..., int]) -> Callable[..., int]:
    """Turn our errors into one sentence on stderr and their exit code, never a traceback;
    Ctrl-C anywhere means exit 130, even if something on the way swallowed the interrupt."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> int:
        with interrupts.handling():
            try:
                return _interruptible(function, *args, **kwargs)
            finally:
                _on_interrupt.clear()

    return wrapper


# Registered by a task while it runs: what to tell the user if Ctrl-C stops it.
_on_interrupt: list[Callable[[], list[str]]] = []


def _interruptible(function: Callable[..., int], *args: Any, **kwargs: Any) -> int:
    code = 0
    try:
        code = function(*args, **kwargs)
    except (UserError, OperationError) as error:
        if not interrupts.requested():
            _print_error(error)
            return error.exit_code
    except KeyboardInterrupt:
        pass
    if not interrupts.requested():
        return code
    terraform.stop_all()
    logs = work_dir() / "logs"
    err_console.print("[yellow]interrupted[/yellow]: every Terraform run was stopped and no "
                      "bundle was left half-written"
                      + (f"; the logs are under {_rel(logs)}." if logs.exists() else "."))
    for check in _on_interrupt:
        for line in check():
            err_console.print(line, markup=False)
    return interrupts.EXIT_CODE


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


def _refuse_bad_inputs(components: list[Component]) -> None:
    """Schemas, contracts and templates first: a broken one stops the task before anything
    starts (the tfvars were checked when the environment was loaded)."""
    findings = preflight.check_components(components)
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
            locks = state_backend.held_locks(ctx.session, ctx.env,
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


def _finish(rows: list[runner.Row], ctx: targets.TargetContext) -> int:
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


@guarded
def init(env: str, component: str | None, target: str | None) -> int:
    _, components, ctx = _prepare(env, component, target)

    def one(item: Any, report: Callable[[str], None]) -> operations.Outcome:
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
            console.print(f"{row.item.name}: {row.outcome.summary.counts}; bundle in "
                          f"{_rel(bundle.bundle_dir(ctx.target, ctx.env.name, row.item))}/")
    code = _finish(rows, ctx)
    if code == 0 and detailed_exitcode and any(r.outcome.summary.has_changes for r in rows):
        return 2
    return code


@guarded
def apply(env: str, component: str | None, target: str | None, confirm: str | None,
          allow_destroy: list[str] | None = None, confirm_destroy: str | None = None,
          max_age: str = deploy.DEFAULT_MAX_AGE) -> int:
    environment, target_name = load_environment(env), resolve_target(target)
    # Without --component: every saved bundle of the env and target.
    chosen = (resolve_components(component) if component
              else bundle.saved_components(target_name, environment.name))
    request = deploy.DeployRequest(
        env=environment, target=target_name, components=chosen, confirm=confirm,
        allow_destroy=tuple(allow_destroy or ()), confirm_destroy=confirm_destroy,
        max_age=max_age)

    def ready(ctx: targets.TargetContext) -> None:
        for note in ctx.notes:
            console.print(f"[dim]{note}[/dim]")
        _watch_locks(ctx, request.components)

    ctx, rows = deploy.apply(request, console, on_ready=ready)
    return _finish(rows, ctx)


@guarded
def unlock(env: str, component: str, target: str | None, lock_id: str) -> int:
    components = resolve_components(component)
    if len(components) != 1 or not lock_id:
        raise UserError("unlock needs exactly one --component and the --lock-id from the "
                        "lock error.")
    _, _, ctx = _prepare(env, component, target)
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
        from bbws_infra.state_backend import ensure_state_backend

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
    from bbws_infra import bench as benchmark

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


def _report_findings(what: str, findings: list) -> int:
    for finding in findings:
        err_console.print(str(finding), markup=False)
    if findings:
        err_console.print(f"[red]error:[/red] {len(findings)} problem(s) in the {what}.")
        return 1
    console.print(f"{what}: no problems")
    return 0


@guarded
def validate_schemas() -> int:
    from bbws_infra import schemas

    return _report_findings("table schemas", schemas.validate_all())


@guarded
def validate_templates() -> int:
    from bbws_infra import templates

    return _report_findings("email templates", templates.validate_all())


@guarded
def templates_preview() -> int:
    from bbws_infra.template_preview import build_preview

    index = build_preview()
    console.print(f"preview written; open {_rel(index)} in a browser")
    return 0


# ---- gates --------------------------------------------------------------------------------


def _print_gates(results: list, as_json: bool) -> int:
    from bbws_infra import gates

    # Plain text, not a terminal-width table: the same output in a terminal, a CI log and a
    # pasted bug report.
    print(gates.results_json(results) if as_json else gates.format_results(results))
    return gates.exit_code(results)


@guarded
def gate(name: str, as_json: bool = False) -> int:
    """One gate (fmt, validate, tfsec, checkov, lint-workflows, ruff, infracost)."""
    from bbws_infra import gates

    return _print_gates([gates.run_gate(name)], as_json)


@guarded
def check(as_json: bool = False) -> int:
    """Every gate, concurrently where independent, one summary."""
    from bbws_infra import gates

    return _print_gates(gates.run_check(), as_json)


@guarded
def infracost(env: str, target: str | None, as_json: bool = False) -> int:
    """Advisory monthly cost of the env's saved plans."""
    from bbws_infra import cost

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
