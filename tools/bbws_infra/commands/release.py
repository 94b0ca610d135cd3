"""The release tasks that check and undo what was deployed: verify, drift and rollback
(apply and promote are in commands.terraform)."""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console

from bbws_infra.commands.common import (
    console,
    deploy_request,
    err_console,
    finish,
    guarded,
    plan_commit,
    prepare_target,
    rel,
    watch_locks,
)
from bbws_infra.core.errors import OperationError, UserError
from bbws_infra.core.registry import (
    Component,
    Environment,
    load_environment,
    resolve_components,
    resolve_target,
)
from bbws_infra.pipeline import github, health_reports
from bbws_infra.pipeline.health_issues import IssueTracker
from bbws_infra.plans import bundle, operations, runner
from bbws_infra.release import data_migrations, deploy, drift_actions, health_results
from bbws_infra.release.drift import (
    Drift,
    classify,
    drifts,
    exit_code,
    load_allowlist,
    report_text,
)
from bbws_infra.release.drift_actions import clean_reason
from bbws_infra.release.rollback import Rollback, dry_run_hint, prepare, restore_state
from bbws_infra.release.verify import check_deployed, table, table_text, to_json
from bbws_infra.release.verify_checks import Check
from bbws_infra.state import state_versions
from bbws_infra.targets import targets
from bbws_infra.targets.targets import TargetContext


@guarded
def verify(*, env: str, component: str | None, target: str | None,
           as_json: bool = False, triage: bool = False) -> int:
    """Check what is deployed against the files of the commit the ledger names; write each
    component's result (health_results); with triage, keep its GitHub issue and tell Slack."""
    tracker = IssueTracker.from_environment() if triage else None
    environment, components = load_environment(env), resolve_components(component)
    target_name = resolve_target(target)
    out = err_console if as_json else console  # with --json, stdout carries only the JSON
    code, checks = check_deployed(target_name, environment, components, out, finish)
    found = health_results.write_verify(
        targets.reader_session(target_name, environment), environment,
        [c.name for c in components], checks,
        f"verify could not run to the end (exit code {code})" if code else None,
        bundle.git_state()[0], bundle.now_iso())
    if not code:
        code = _verify_report(environment, target_name, checks, found, as_json)
    if tracker is not None:
        _triage(tracker, [health_reports.verify_report(
            r, [c for c in checks if c.component == r.component], target_name)
            for r in found], out)
    return code


def _verify_report(environment: Environment, target_name: str, checks: list[Check],
                   found: list[health_results.VerifyResult], as_json: bool) -> int:
    """Print the checks (or their JSON) and the unknown components; the exit code."""
    failed = [c for c in checks if not c.ok]
    unknown = [r for r in found if r.status == health_results.UNKNOWN]
    for result in unknown:
        err_console.print(f"unknown: {result.component}: {result.reason}", markup=False)
    if as_json:
        print(to_json(checks))
        return OperationError.exit_code if failed or unknown else 0
    console.print(table(checks))
    github.job_summary(f"### verify {environment.name} ({target_name}): "
                       f"{len(checks) - len(failed)} of {len(checks)} checks passed\n\n"
                       + table_text(failed)
                       + "".join(f"\n  UNKNOWN {r.component}: {r.reason}" for r in unknown))
    if failed:
        err_console.print(f"[red]error:[/red] {len(failed)} of {len(checks)} checks failed in "
                          f"{environment.name} ({target_name}).")
        return OperationError.exit_code
    if unknown:
        err_console.print(f"[red]error:[/red] every check passed in {environment.name} "
                          f"({target_name}), but what runs in {len(unknown)} component(s) is "
                          "unknown (above).")
        return OperationError.exit_code
    console.print(f"{environment.name} ({target_name}): all {len(checks)} checks passed")
    return 0


def _triage(tracker: IssueTracker, reports: list[health_reports.Report],
            out: Console = console) -> None:
    """Issues and Slack for these reports; what was done goes to `out` and the summary."""
    lines = health_reports.triage(reports, tracker)
    for line in lines:
        out.print(line, markup=False)
    github.job_summary("#### triage\n\n" + "\n".join(f"- {line.strip()}" for line in lines))


@guarded
def drift(*, env: str, component: str | None, target: str | None, triage: bool = False,
          revert: bool = False, accept: bool = False, reason: str | None = None,
          address: list[str] | None = None) -> int:
    """Refresh-only plans in parallel: what changed outside Terraform (never a bundle); each
    component's result written (health_results). With triage: its GitHub issue and Slack;
    revert: a reviewed bundle putting the drifted components back; accept: allowlist entries."""
    chosen = _drift_options(component, triage, revert, accept, reason, address)
    tracker = IssueTracker.from_environment() if triage else None
    environment, components = load_environment(env), resolve_components(component)
    found: dict[str, list[Drift]] = {}
    errors: dict[str, str] = {}
    try:
        allowlist = load_allowlist()  # a broken file stops the task before anything runs
        environment, components, ctx = prepare_target(env, component, target)

        def one(item: Component, report: Callable[[str], None]) -> operations.Outcome:
            if not state_versions.holds_resources(ctx.live_session, ctx.env, item):
                found[item.name] = []  # no state, no drift (and its refresh plan may fail)
                return operations.Outcome(note="not deployed: nothing to compare")
            plan_json = operations.speculative_plan(ctx, item, refresh_only=True,
                                                    report=report)
            found[item.name] = classify(drifts(item.name, plan_json), allowlist,
                                        environment.name)
            failing = sum(d.allowed_by is None for d in found[item.name])
            accepted = len(found[item.name]) - failing
            return operations.Outcome(note=", ".join(
                [f"{failing} drifted"] * bool(failing)
                + [f"{accepted} allowlisted"] * bool(accepted)) or "no drift")

        rows = runner.run(f"drift {environment.name} ({ctx.target})", components, one,
                          console, alive=ctx.alive)
        errors = {row.item.name: _first_line(row.error) for row in rows if not row.ok}
    except (UserError, OperationError) as error:  # nothing checked: every component an error
        reports = _drift_results(environment, components, resolve_target(target), found,
                                 {c.name: _first_line(error) for c in components})
        if tracker is not None:
            _triage(tracker, reports)
        raise
    reports = _drift_results(environment, components, ctx.target, found, errors)
    code = finish(rows, ctx)
    every = [d for item in components for d in found.get(item.name, [])]
    if not code:
        report = report_text(environment.name, every)
        console.print(report, markup=False)
        github.job_summary(f"### drift in {environment.name} ({ctx.target})\n\n```\n"
                           f"{report}```")
    if tracker is not None:
        _triage(tracker, reports)
    if code:
        return code
    if accept:
        return _accept(environment, every, reason, chosen)
    if revert:
        return _revert(environment, ctx, components, found)
    return exit_code(every)


def _drift_options(component: str | None, triage: bool, revert: bool, accept: bool,
                   reason: str | None, address: list[str] | None) -> set[str]:
    """Refuse flag combinations that make no sense; the addresses --accept is limited to."""
    if accept and revert:
        raise UserError("--accept and --revert are two answers to the same drift; choose one.")
    if (reason or address) and not accept:
        raise UserError("--reason and --address go with --accept.")
    if (accept or revert) and triage:
        raise UserError("--triage is for the scheduled run; --accept and --revert are run by "
                        "a person, without it.")
    if accept:
        clean_reason(reason)
        if not component:
            raise UserError("--accept needs --component: accepting the drift of a whole "
                            "environment at once hides too much; nothing was checked.")
    return set(address or ())


def _first_line(error: BaseException | None) -> str:
    text = str(error or "").strip()
    return text.splitlines()[0] if text else "it failed"


def _drift_results(environment: Environment, components: list[Component], target: str,
                   found: dict[str, list[Drift]], errors: dict[str, str]
                   ) -> list[health_reports.Report]:
    """Each component's result, written; the reports triage turns into issues."""
    written = health_results.write_drift(environment.name, [c.name for c in components], found,
                                         errors, bundle.git_state()[0], bundle.now_iso())
    return [health_reports.drift_report(r, None if r.component in errors
                                        else found.get(r.component), errors.get(r.component, ""),
                                        target) for r in written]


def _accept(environment: Environment, every: list[Drift], reason: str | None,
            addresses: set[str]) -> int:
    open_drift = [d for d in every if d.allowed_by is None
                  and (not addresses or d.address in addresses)]
    unknown = addresses - {d.address for d in every if d.allowed_by is None}
    if unknown:
        raise UserError(f"No drift to accept at {', '.join(sorted(unknown))} (the drifted "
                        "addresses are listed above); nothing was written.")
    if not open_drift:
        console.print("no drift to accept: nothing was written")
        return 0
    text = drift_actions.checked_entries(environment.name, open_drift, clean_reason(reason))
    path = drift_actions.write_entries(environment.name, text)
    console.print(f"accepting is a reviewed change: add these lines under `accepted:` in "
                  f"envs/drift-allowlist.yml in a pull request (also written to {rel(path)}):")
    console.print(text, markup=False, end="")
    return 0


def _revert(environment: Environment, ctx: TargetContext, components: list[Component],
            found: dict[str, list[Drift]]) -> int:
    drifted = [c for c in components if any(d.allowed_by is None for d in found[c.name])]
    if not drifted:
        console.print("no drift to revert: no bundle was written")
        return 0
    drift_actions.check_revertable(ctx.live_session, environment, drifted, ctx.extra_vars)
    watch_locks(ctx, drifted)
    rows = runner.run(f"revert plan {environment.name} ({ctx.target})", drifted,
                      lambda c, report: operations.plan(ctx, c, report), console,
                      alive=ctx.alive)
    code = finish(rows, ctx)
    if code:
        return code
    for item in drifted:
        directory = bundle.bundle_dir(ctx.target, environment.name, item)
        console.print((directory / bundle.SUMMARY_TEXT).read_text(), markup=False)
    names = ",".join(c.name for c in drifted)
    console.print(f"revert bundle(s) written for review under "
                  f"{rel(bundle.bundle_dir(ctx.target, environment.name, drifted[0]).parent)}/;"
                  f" once approved: invoke apply --env {environment.name} --component {names} "
                  f"--target {ctx.target} --confirm {environment.apply_confirmation}")
    return 0


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
