"""Promotion: the commit the previous environment applied and verified goes to the next one
(dev, then sit, then prod), planned from a clean worktree of that commit, never from the
user's working tree.

`--plan-only` stops once the target environment's bundles are written, for review; a later
promotion of the same commit applies exactly those reviewed bundles while they still match
(the deploy path checks that, like every other guard), and plans afresh only components that
have no bundle of that commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bbws_infra.core.errors import UserError
from bbws_infra.core.registry import (
    PROMOTION_ORDER,
    Component,
    Environment,
    discover_components,
    load_environment,
    previous_env,
    resolve_components,
)
from bbws_infra.core.untyped import Session
from bbws_infra.engine import timings
from bbws_infra.plans import bundle
from bbws_infra.release import deploy, worktrees
from bbws_infra.state import ledger
from bbws_infra.targets import targets


@dataclass
class Promotion:
    env: Environment  # read from the commit's own tfvars
    previous: str
    commit: str
    source: Path  # the commit's worktree
    components: list[Component]
    to_plan: list[Component]  # no bundle of this commit yet
    reviewed: list[Component]  # a bundle of this commit exists: apply exactly that one


def _target_env(to: str) -> Environment:
    if to not in PROMOTION_ORDER[1:]:
        raise UserError(f"--to {to!r}: promotion goes to {' or '.join(PROMOTION_ORDER[1:])} "
                        f"({PROMOTION_ORDER[0]} is deployed with invoke apply).")
    return load_environment(to)


def choose_commit(target: str, previous: Environment, components: list[Component],
                  commit: str | None) -> str:
    """--commit, resolved; by default the commit the previous environment verified last,
    which must be the same for every component promoted together."""
    if commit:
        return worktrees.resolve(commit)
    session = targets.reader_session(target, previous)
    chosen: dict[str, list[str]] = {}
    for component in components:
        found = ledger.newest_verified(session, previous, component.name)
        if found is None:
            raise UserError(f"{component.name} has no verified apply from a clean tree in "
                            f"{previous.name} to promote; apply and verify it there first; "
                            "nothing was changed.")
        chosen.setdefault(found.commit, []).append(component.name)
    if len(chosen) > 1:
        listed = "; ".join(f"{', '.join(names)} at {sha[:12]}" for sha, names in chosen.items())
        raise UserError(f"{previous.name} verified different commits ({listed}); promote them "
                        "separately with --component, or name one --commit; nothing was "
                        "changed.")
    return worktrees.resolve(next(iter(chosen)))


def prepare(to: str, target: str, component: str | None, commit: str | None,
            confirm: str | None, plan_only: bool, reviewed: bool = False) -> Promotion:
    """Everything checked before a plan or an apply: the confirmation (a wrong one is refused
    even when only planning: it names another env),
    the release order of every component, and the commit checked out. With `reviewed`, the
    commit is the one the saved bundles were made of, and nothing is planned."""
    env = _target_env(to)
    if (not plan_only or confirm is not None) and confirm != env.apply_confirmation:
        raise UserError(f"Promoting to {env.name} needs --confirm {env.apply_confirmation} "
                        "(or --plan-only to write the plans for review); nothing was changed.")
    if plan_only and reviewed:
        raise UserError("--plan-only writes plans and --reviewed applies saved ones; choose "
                        "one.")
    previous = load_environment(previous_env(env.name) or "")
    components = resolve_components(component)
    sha = (reviewed_commit(target, env, components, commit) if reviewed
           else choose_commit(target, previous, components, commit))
    session = targets.reader_session(target, env)
    with timings.timed("worktree"):
        source = worktrees.checkout(sha)
    for item in components:
        problem = deploy.release_order_problem(target, env, session, item.name, sha, source)
        if problem:
            raise UserError(f"{problem}; nothing was changed.")
    missing = [c.name for c in components if c.name not in discover_components(source)]
    if missing:
        raise UserError(f"Commit {sha[:12]} has no component {', '.join(missing)}; nothing "
                        "was changed.")
    # A saved plan of this commit is kept while the state it was made against is still
    # current; one a failed or racing apply left behind is planned again (--reviewed never
    # plans: there the apply refuses a stale one and says to run --plan-only).
    kept = [c for c in components if _reusable(target, env, session, c, sha, reviewed)]
    return Promotion(env=load_environment(env.name, source), previous=previous.name,
                     commit=sha, source=source, components=components,
                     to_plan=[c for c in components if c not in kept], reviewed=kept)


def reviewed_commit(target: str, env: Environment, components: list[Component],
                    commit: str | None) -> str:
    """The one commit every component's saved bundle was made of (a workflow's apply job
    after approval): the bundles reviewers saw, or a refusal; never a new plan."""
    commits = {}
    for item in components:
        try:
            commits[item.name] = bundle.load(target, env.name, item).commit
        except UserError:
            raise UserError(f"No reviewed plan of {item.name} for {env.name} ({target}) to "
                            f"apply; write one with: invoke promote --to {env.name} "
                            f"--component {item.name} --target {target} --plan-only; nothing "
                            "was changed.") from None
    found = set(commits.values())
    if len(found) != 1 or (commit and worktrees.resolve(commit) not in found):
        listed = ", ".join(f"{name} at {sha[:12]}" for name, sha in commits.items())
        raise UserError(f"The reviewed bundles of {env.name} are not all of one commit"
                        f"{' ' + commit if commit else ''} ({listed}); plan them again with "
                        "--plan-only; nothing was changed.")
    return worktrees.resolve(found.pop())


def _reusable(target: str, env: Environment, session: Session, component: Component, commit: str,
              reviewed: bool) -> bool:
    """Whether the component's saved bundle is of `commit` and, unless only reviewed bundles
    may be applied, made against the state that is current now."""
    try:
        record = bundle.load(target, env.name, component)
    except UserError:
        return False
    if record.commit != commit:
        return False
    if reviewed:
        return True
    now = deploy.remote_state(session, env, component)
    return (now.lineage, now.serial) == (record.state_lineage, record.state_serial)


def replan_hint(promotion: Promotion, target: str) -> str:
    """How to make a fresh reviewed plan of the promoted commit."""
    return (f"invoke promote --to {promotion.env.name} --commit {promotion.commit[:12]} "
            f"--target {target} --plan-only")
