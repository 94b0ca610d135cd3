"""The GitHub Actions tasks (CI): matrix, approvals, notify and iam-policy (the plan reviews and
the pull-request comment: reviews.py)."""

from __future__ import annotations

import json
import os

from bbws_infra.commands.common import console, guarded
from bbws_infra.core.errors import UserError
from bbws_infra.core.registry import (
    break_glass_environment,
    env_names,
    load_environment,
    previous_env,
    resolve_components,
)
from bbws_infra.pipeline import github
from bbws_infra.plans import bundle


@guarded
def matrix() -> int:
    """The environments and components, for a workflow's job matrix (one source: the
    registry); also set as the step outputs `matrix` and `envs` in GitHub Actions."""
    envs = env_names()
    grid = json.dumps({"env": envs, "component": [c.name for c in resolve_components(None)]})
    github.set_output("matrix", grid)
    github.set_output("envs", json.dumps(envs))
    print(grid)
    return 0


@guarded
def approvals(*, env: str, show_gates: bool = False, gate: str | None = None,
              baseline: bool = False, break_glass: bool = False) -> int:
    """In a workflow run: refuse unless enough different people approved this run attempt for
    env (the count is the registry's); or, with show_gates, the env's approval environments as
    JSON (also the step output `gates`); or, with gate, what that approval job stands for; or,
    with baseline, the review history before this attempt's approvals (the step output
    `baseline`). With break_glass, all of it for the env's break-glass environment (protected
    deletions: one approval more)."""
    from bbws_infra.pipeline import approval_teams
    from bbws_infra.pipeline.approvals import (
        check,
        describe_gate,
        gates,
        record_baseline,
        verdict,
    )

    load_environment(env)
    approved = break_glass_environment(env) if break_glass else env
    if sum((show_gates, bool(gate), baseline)) > 1:
        raise UserError("Pass one of --gates, --gate and --baseline; nothing was checked.")
    if baseline:
        recorded = record_baseline()
        github.set_output("baseline", recorded)
        print(recorded)
        return 0
    if show_gates:
        names = json.dumps(gates(approved))
        github.set_output("gates", names)
        print(names)
        return 0
    if gate:
        console.print(describe_gate(approved, gate), markup=False)
        return 0
    result = check(approved)
    # the right people too: each approval role filled by a member of its team
    sentence = f"{verdict(result)} {approval_teams.check(approved, result.approvers, os.environ)}"
    github.job_summary(f"**Approvals**: {sentence}")
    console.print(sentence, markup=False)
    return 0


@guarded
def deployment_window(*, env: str) -> int:
    """Refuse outside the env's deployment window (prod: business hours)."""
    from bbws_infra.pipeline import release_windows

    load_environment(env)
    sentence = release_windows.check(env, release_windows.now())
    github.job_summary(f"**Deployment window**: {sentence}")
    console.print(sentence, markup=False)
    return 0


@guarded
def notify(*, env: str, action: str, result: str, component: str | None,
           plan_result: str = "success", approval_result: str = "", plan_url: str = "",
           ledger: str = "") -> int:
    """One message about a run to SLACK_WEBHOOK_URL (said and skipped when unset): its result
    from the jobs' results, with links to the run, the plan summary and the ledger records
    (ledger: the apply job's `ledger` output, component -> link)."""
    from bbws_infra.pipeline.notify import Event, run_result, send

    load_environment(env)
    try:
        records = json.loads(ledger) if ledger.strip() else {}
        if not isinstance(records, dict):
            raise ValueError
    except ValueError:
        raise UserError("--ledger takes the JSON object `invoke run-summary` sets as its "
                        "`ledger` output; nothing was sent.") from None
    links = ((("Plan summary and bundles", plan_url),) if plan_url else ()) + tuple(
        (f"Ledger record: {name}", str(url)) for name, url in sorted(records.items()))
    event = Event(
        env=env, components=[c.name for c in resolve_components(component)],
        commit=os.environ.get("GITHUB_SHA") or bundle.git_state()[0], action=action,
        result=run_result(result, plan_result, approval_result), who=bundle.who(),
        run_url=github.run_url(), links=links)
    console.print(send(event))
    return 0


@guarded
def iam_policy(*, env: str, repository: str) -> int:
    """The env's GitHub OIDC roles (plan, deploy and, where protection is on, break-glass: name,
    ARN, trusted GitHub environment, trust and permissions policy) and the policies attached
    beside them, from code."""
    from bbws_infra.pipeline.iam_policy import ledger_read_bucket_policy, policies

    environment = load_environment(env)
    document = policies(environment, repository)
    before = previous_env(environment.name)
    if before:  # promotion reads the previous env's ledger: that bucket must allow it
        document["previous_ledger_bucket_policy"] = ledger_read_bucket_policy(
            load_environment(before), environment)
    print(json.dumps(document, indent=2))
    return 0
