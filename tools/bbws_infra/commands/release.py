"""The release tasks that check and undo what was deployed: verify, drift and rollback
(apply and promote are in commands.terraform)."""

from __future__ import annotations

from collections.abc import Callable

from bbws_infra.commands.common import (
    console,
    deploy_request,
    err_console,
    finish,
    guarded,
    plan_commit,
    prepare_target,
    rel,
)
from bbws_infra.core.errors import OperationError
from bbws_infra.core.registry import (
    Component,
    load_environment,
    resolve_components,
    resolve_target,
)
from bbws_infra.pipeline import github
from bbws_infra.plans import bundle, operations, runner
from bbws_infra.release import data_migrations, deploy
from bbws_infra.release.drift import (
    Drift,
    classify,
    drifts,
    exit_code,
    load_allowlist,
    report_text,
)
from bbws_infra.release.rollback import Rollback, dry_run_hint, prepare, restore_state
from bbws_infra.release.verify import check_deployed, table, table_text, to_json


@guarded
def verify(*, env: str, component: str | None, target: str | None,
           as_json: bool = False) -> int:
    """Check what is deployed against the files of the commit the ledger names."""
    environment, components = load_environment(env), resolve_components(component)
    target_name = resolve_target(target)
    # with --json, stdout carries only the JSON: progress goes to stderr
    code, checks = check_deployed(target_name, environment, components,
                                  err_console if as_json else console, finish)
    if code:
        return code
    failed = [c for c in checks if not c.ok]
    if as_json:
        print(to_json(checks))
        return OperationError.exit_code if failed else 0
    console.print(table(checks))
    github.job_summary(f"### verify {environment.name} ({target_name}): "
                       f"{len(checks) - len(failed)} of {len(checks)} checks passed\n\n"
                       + table_text(failed))
    if failed:
        err_console.print(f"[red]error:[/red] {len(failed)} of {len(checks)} checks failed in "
                          f"{environment.name} ({target_name}).")
        return OperationError.exit_code
    console.print(f"{environment.name} ({target_name}): all {len(checks)} checks passed")
    return 0


@guarded
def drift(*, env: str, component: str | None, target: str | None) -> int:
    """Refresh-only plans in parallel: what changed outside Terraform (never a bundle)."""
    allowlist = load_allowlist()  # a broken file stops the task before anything runs
    environment, components, ctx = prepare_target(env, component, target)
    found: dict[str, list[Drift]] = {}

    def one(item: Component, report: Callable[[str], None]) -> operations.Outcome:
        plan_json = operations.speculative_plan(ctx, item, refresh_only=True, report=report)
        found[item.name] = classify(drifts(item.name, plan_json), allowlist, environment.name)
        failing = sum(d.allowed_by is None for d in found[item.name])
        accepted = len(found[item.name]) - failing
        return operations.Outcome(note=", ".join(
            [f"{failing} drifted"] * bool(failing) + [f"{accepted} allowlisted"] * bool(accepted))
            or "no drift")

    rows = runner.run(f"drift {environment.name} ({ctx.target})", components, one, console,
                      alive=ctx.alive)
    code = finish(rows, ctx)
    if code:
        return code
    every = [d for item in components for d in found[item.name]]
    report = report_text(environment.name, every)
    console.print(report, markup=False)
    github.job_summary(f"### drift in {environment.name} ({ctx.target})\n\n```\n{report}```")
    return exit_code(every)


@guarded
def rollback(*, env: str, component: str | None, target: str | None, version_id: str | None,
             confirm: str | None, dry_run: bool = False, restore_state: bool = False,
             allow_orphans: bool = False, allow_destroy: list[str] | None = None,
             confirm_destroy: str | None = None, verify: bool = True) -> int:
    target_name = resolve_target(target)
    chosen = prepare(env, component, version_id, confirm, target_name, dry_run, restore_state,
                     allow_orphans)
    item, version = chosen.component, chosen.version
    console.print(f"rolling {item.name} in {chosen.env.name} ({target_name}) back to state "
                  f"version {version.version_id} (serial {version.serial}, commit "
                  f"{version.commit[:12] or 'none recorded'})")
    if item.kind == "dynamodb":
        console.print("data: " + data_migrations.since_text(chosen.migrations_since, chosen.env),
                      markup=False)
    if restore_state:
        if dry_run:
            console.print("dry run: the state document would be restored first"
                          + (f", dropping {', '.join(chosen.orphans)}" if chosen.orphans
                             else "; nothing the current state manages would be dropped"))
        else:
            _restore_document(chosen, target_name)
            if chosen.source is None:
                return 0
    if chosen.source is None:  # a dry run of a restore without a recorded commit
        return 0
    code = plan_commit(chosen.env, target_name, chosen.source, chosen.commit, [item], dry_run)
    if code:
        return code
    directory = (bundle.dry_run_dir if dry_run else bundle.bundle_dir)(
        target_name, chosen.env.name, item)
    console.print((directory / bundle.SUMMARY_TEXT).read_text(), markup=False)
    if dry_run:
        console.print(f"dry run: nothing was applied; the plan is in {rel(directory)}/")
        return 0
    return deploy_request(deploy.DeployRequest(
        env=chosen.env, target=target_name, components=[item], confirm=confirm,
        allow_destroy=tuple(allow_destroy or ()), confirm_destroy=confirm_destroy,
        action="rollback", source=chosen.source, verify=verify,
        replan=dry_run_hint(chosen, target_name), rollback_to=version.version_id))


def _restore_document(chosen: Rollback, target_name: str) -> None:
    """Restore the chosen version's state document as a new version, and say what follows."""
    after = restore_state(chosen, target_name)
    env, item = chosen.env, chosen.component
    console.print(f"restored the state document of version {chosen.version.version_id} as "
                  f"serial {after.serial} (version {after.version_id})"
                  + (f"; no longer managed: {', '.join(chosen.orphans)}" if chosen.orphans
                     else ""))
    if chosen.source is None:
        console.print(f"the ledger names no commit for that version, so nothing else was "
                      f"done: resources were not changed; plan to see what differs: "
                      f"invoke plan --env {env.name} --component {item.name}")
