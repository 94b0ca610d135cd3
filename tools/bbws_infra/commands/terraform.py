"""The Terraform tasks: init, plan, apply, promote, unlock and bootstrap."""

from __future__ import annotations

from collections.abc import Callable

from bbws_infra.commands.common import (
    console,
    deploy_request,
    finish,
    guarded,
    plan_commit,
    planned,
    prepare_source,
    prepare_target,
    rel,
    watch_locks,
)
from bbws_infra.core.errors import OperationError, UserError
from bbws_infra.core.registry import (
    Component,
    load_environment,
    resolve_components,
    resolve_target,
)
from bbws_infra.core.untyped import Session
from bbws_infra.engine import timings
from bbws_infra.pipeline import github
from bbws_infra.plans import bundle, operations, runner
from bbws_infra.release.bundle_age import DEFAULT_MAX_AGE
from bbws_infra.targets import sandbox, targets

# The deploy path, promotion and the account checks load inside the tasks that use them:
# `invoke plan` (the first command in the README) needs none of them.


@guarded
def init(*, env: str, component: str | None, target: str | None) -> int:
    _, components, ctx = prepare_target(env, component, target)

    def one(item: Component, report: Callable[[str], None]) -> operations.Outcome:
        operations.init(ctx, item, report, force=True)
        return operations.Outcome(note="initialised")

    rows = runner.run(f"init {ctx.env.name} ({ctx.target})", components, one, console,
                      alive=ctx.alive)
    return finish(rows, ctx)


@guarded
def plan(*, env: str, component: str | None, target: str | None,
         detailed_exitcode: bool = False) -> int:
    _, components, ctx = prepare_target(env, component, target)
    watch_locks(ctx, components)
    rows = runner.run(f"plan {ctx.env.name} ({ctx.target})", components,
                      lambda c, report: operations.plan(ctx, c, report), console,
                      alive=ctx.alive, timed_as="plan")
    for row in rows:
        if row.ok:
            directory = bundle.bundle_dir(ctx.target, ctx.env.name, row.item)
            console.print(f"{row.item.name}: {planned(row).counts}; bundle in "
                          f"{rel(directory)}/")
            github.job_summary((directory / bundle.SUMMARY_MARKDOWN).read_text())
    code = finish(rows, ctx)
    if code == 0 and detailed_exitcode and any(planned(r).has_changes for r in rows):
        return 2
    return code


@guarded
def apply(*, env: str, component: str | None, target: str | None, confirm: str | None,
          allow_destroy: list[str] | None = None, confirm_destroy: str | None = None,
          max_age: str = DEFAULT_MAX_AGE, verify: bool = True) -> int:
    from bbws_infra.release import deploy

    environment, target_name = load_environment(env), resolve_target(target)
    # Without --component: every saved bundle of the env and target.
    chosen = (resolve_components(component) if component
              else bundle.saved_components(target_name, environment.name))
    request = deploy.DeployRequest(
        env=environment, target=target_name, components=chosen, confirm=confirm,
        allow_destroy=tuple(allow_destroy or ()), confirm_destroy=confirm_destroy,
        max_age=max_age, verify=verify)
    return deploy_request(request)


@guarded
def promote(*, to: str, component: str | None, target: str | None, commit: str | None,
            confirm: str | None, plan_only: bool = False, reviewed: bool = False,
            allow_destroy: list[str] | None = None, confirm_destroy: str | None = None,
            max_age: str = DEFAULT_MAX_AGE, verify: bool = True) -> int:
    from bbws_infra.release import deploy, worktrees
    from bbws_infra.release.promote import prepare, replan_hint

    target_name = resolve_target(target)
    with timings.timed("promotion checks"):
        chosen = prepare(to, target_name, component, commit, confirm, plan_only, reviewed)
    env = chosen.env
    console.print(f"promoting commit {chosen.commit[:12]} ({worktrees.subject(chosen.commit)})"
                  f" from {chosen.previous} to {env.name} ({target_name})")
    if chosen.reviewed:
        console.print(f"reviewed plans of this commit kept: "
                      f"{', '.join(c.name for c in chosen.reviewed)}")
    # One target set-up and one staged worktree for the plans and the apply (both of the
    # commit's worktree), staged for every component (the reviewed bundles' too). Without
    # plans to make, the deploy path prepares the target itself, after its offline checks.
    ctx = (prepare_source(env, target_name, chosen.source, chosen.components)
           if chosen.to_plan else None)
    if chosen.to_plan:
        code = plan_commit(env, target_name, chosen.source, chosen.commit, chosen.to_plan,
                           ctx=ctx)
        if code:
            return code
    for item in chosen.components:
        directory = bundle.bundle_dir(target_name, env.name, item)
        console.print((directory / bundle.SUMMARY_TEXT).read_text(), markup=False)
        github.job_summary((directory / bundle.SUMMARY_MARKDOWN).read_text())
    if plan_only:
        folder = bundle.bundle_dir(target_name, env.name, chosen.components[0]).parent
        console.print(f"plans written for review under {rel(folder)}/; once approved: "
                      f"invoke promote --to {env.name} --commit {chosen.commit[:12]} "
                      f"--target {target_name} --confirm {env.apply_confirmation}")
        return 0
    return deploy_request(deploy.DeployRequest(
        env=env, target=target_name, components=chosen.components, confirm=confirm,
        allow_destroy=tuple(allow_destroy or ()), confirm_destroy=confirm_destroy,
        max_age=max_age, action="promote", source=chosen.source, verify=verify,
        replan=replan_hint(chosen, target_name)), ctx=ctx)


@guarded
def unlock(*, env: str, component: str, target: str | None, lock_id: str) -> int:
    from bbws_infra.state.doctor import age_text, lock_info

    components = resolve_components(component)
    if len(components) != 1 or not lock_id:
        raise UserError("unlock needs exactly one --component and the --lock-id from the "
                        "lock error.")
    _, _, ctx = prepare_target(env, component, target)
    held = lock_info(ctx.live_session, ctx.env, components[0])
    if held is None:
        raise UserError(f"The state of {components[0].name} in {env} is not locked; nothing "
                        "to release.")
    console.print(f"the lock {held.id} is held by {held.who} ({held.operation}) since "
                  f"{held.created} ({age_text(held.age_s)})")
    operations.force_unlock(ctx, components[0], lock_id)
    console.print(f"released lock {lock_id} on {components[0].name} in {env} ({ctx.target})")
    return 0


@guarded
def bootstrap(*, env: str, target: str | None) -> int:
    """Create what is missing of the env's state backend and (re)apply the state bucket's
    protections; on AWS only after the account checks pass (nothing is created otherwise)."""
    from bbws_infra.state import account_checks, state_bucket
    from bbws_infra.state.state_backend import ensure_state_backend

    environment = load_environment(env)
    target_name = resolve_target(target)
    session: Session
    if target_name == "sandbox":
        _, session, created = sandbox.session_for(environment)
        console.print(account_checks.SKIPPED_ON_SANDBOX, markup=False)
    else:
        session = targets.aws_session(environment)
        refused = account_checks.refusal(account_checks.examine_account(session, environment))
        if refused:
            raise OperationError(f"{environment.name}: account {environment.account_id} is not "
                                 f"ready; nothing was created.\n{refused}")
        created = []
    created += ensure_state_backend(session, environment, enforce=True)
    for line in created:
        console.print(f"created {line}")
    console.print(f"{environment.name} ({target_name}): state bucket {environment.state_bucket} "
                  f"(versioned, encrypted, private, TLS only, access logs in "
                  f"{state_bucket.log_bucket(environment)}) and lock table "
                  f"{environment.lock_table} are ready.")
    return 0
