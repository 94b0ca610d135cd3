"""Rolling a component back to what one of its state versions described.

The normal path plans the commit the ledger recorded for that version against the *current*
state and applies it through the deploy path: resources created since are destroyed, changed
ones reverted, and the state moves forward. Copying an old state object over the current one
would not do that: Terraform would forget what was created since (orphaned in the account), the
lock table's digest would no longer match, and the next apply of today's code would undo it.

`--restore-state` is for a damaged state: the old version's content is pushed as a new,
forward version through Terraform (lock held, digest kept right, never forced), after checking
which addresses that would drop from management.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from bbws_infra.core.errors import UserError
from bbws_infra.core.paths import work_dir
from bbws_infra.core.registry import Component, Environment, load_environment, one_component
from bbws_infra.core.untyped import Session
from bbws_infra.plans import bundle, operations
from bbws_infra.release import data_migrations, deploy, worktrees
from bbws_infra.state import ledger, state_backend, state_versions
from bbws_infra.state.state_versions import StateVersion
from bbws_infra.targets import targets


@dataclass
class Rollback:
    env: Environment  # read from the commit's own tfvars when there is one
    component: Component
    version: StateVersion  # what to go back to
    current: StateVersion
    source: Path | None  # worktree of the version's commit; None when it has none
    orphans: list[str]  # addresses a state restore would drop (only with restore_state)
    migrations_since: list[ledger.Record]  # runs that changed items since the version

    @property
    def commit(self) -> str:
        return self.version.commit


def prepare(env_name: str, component: str | None, version_id: str | None, confirm: str | None,
            target: str, dry_run: bool = False, restore_state: bool = False,
            allow_orphans: bool = False) -> Rollback:
    """Everything checked before anything changes; a refusal is a UserError."""
    env = load_environment(env_name)
    item = one_component(component, "rollback")
    if not version_id:
        raise UserError(f"rollback needs --version-id; list them: invoke state-versions --env "
                        f"{env.name} --component {item.name}")
    if (not dry_run or confirm is not None) and confirm != env.rollback_confirmation:
        raise UserError(f"Rolling back in {env.name} needs --confirm "
                        f"{env.rollback_confirmation} (or --dry-run to see the plan only); "
                        "nothing was changed.")
    session = targets.reader_session(target, env)
    history = state_versions.versions(session, env, item)
    version = state_versions.find(session, env, item, version_id, history)
    current = next(v for v in history if v.current)
    if not version.readable:
        raise UserError(f"Version {version_id} of the state of {item.name} is not a readable "
                        "state document; choose another: invoke state-versions --env "
                        f"{env.name} --component {item.name}")
    if current.readable and version.lineage != current.lineage:
        raise UserError(f"Version {version_id} belongs to another state lineage "
                        f"({version.lineage[:8]}, the current state is {current.lineage[:8]}): "
                        "it describes a different history of this component; nothing was "
                        "changed.")
    _refuse_if_locked(session, env, item)
    if not version.commit and not restore_state:
        raise UserError(f"The ledger names no commit for version {version_id} of {item.name}, "
                        "so there is no configuration to plan back to; to restore that state "
                        "document itself, add --restore-state; nothing was changed.")
    orphans: list[str] = []
    if restore_state:
        orphans = _orphans(session, env, item, version, current)
        if orphans == [UNKNOWN_ADDRESSES] and not allow_orphans:
            raise UserError(f"The current state of {item.name} is unreadable, so what it "
                            f"manages is unknown and restoring version {version_id} may "
                            "leave resources orphaned in the account; add --allow-orphans if "
                            "that is intended; nothing was changed.")
        if orphans and not allow_orphans:
            listed = "; ".join(orphans)
            raise UserError(f"Restoring version {version_id} would drop {len(orphans)} "
                            f"address(es) the current state manages, leaving them orphaned "
                            f"in the account: {listed}; add --allow-orphans if that is "
                            "intended; nothing was changed.")
    source = worktrees.checkout(version.commit) if version.commit else None
    return Rollback(env=load_environment(env.name, source) if source else env,
                    component=item, version=version, current=current, source=source,
                    orphans=orphans, migrations_since=data_migrations.since(
                        session, env, item, version.last_modified))


def _refuse_if_locked(session: Session, env: Environment, component: Component) -> None:
    held = state_backend.read_lock(session, env, component.state_key)
    if held:
        raise UserError(f"The state of {component.name} in {env.name} is locked by "
                        f"{held.who or None} ({held.operation or None}, since "
                        f"{held.created or None}); nothing was changed; once nothing runs: "
                        f"invoke unlock --env {env.name} --component {component.name} "
                        f"--lock-id {held.id or None}")


UNKNOWN_ADDRESSES = "(the current state is unreadable: what it manages is unknown)"


def _orphans(session: Session, env: Environment, component: Component, version: StateVersion,
             current: StateVersion) -> list[str]:
    """Addresses the current state manages and the version lacks (unknowable when the current
    state is unreadable: then every restore needs --allow-orphans)."""
    _, old = state_versions.document(session, env, component, version.version_id)
    _, now = state_versions.document(session, env, component, current.version_id)
    if now is None:
        return [UNKNOWN_ADDRESSES]
    return sorted(set(state_versions.addresses(now)) - set(state_versions.addresses(old or {})))


def restore_state(rollback: Rollback, target: str) -> deploy.RemoteState:
    """Push the version's content as a new, forward state version through `terraform state
    push` (lock held, digest updated, never forced), record it in the ledger, and return the
    state it left."""
    env, item = rollback.env, rollback.component
    ctx = targets.prepare(target, env)
    targets.stage(ctx, [item])
    before = deploy.remote_state(ctx.live_session, env, item)
    started = bundle.now_iso()
    _, old = state_versions.document(ctx.live_session, env, item, rollback.version.version_id)
    assert old is not None  # checked in prepare
    # a serial one above the current one: what state push accepts without -force
    document = {**old, "serial": max(rollback.current.serial or 0, old.get("serial", 0)) + 1}
    path = work_dir() / "tmp" / f"restore-{item.name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")
    operations.state_push(ctx, item, path)
    after = deploy.remote_state(ctx.live_session, env, item)
    ledger.write(ctx.live_session, env, ledger.Record(
        env=env.name, component=item.name, action="rollback", target=target,
        commit=rollback.commit, dirty=False, inputs_sha256="", bundle_sha256="",
        state_before=before.point(), state_after=after.point(), who=bundle.who(),
        started_at=started, finished_at=bundle.now_iso(), result=ledger.APPLIED,
        verification=ledger.SKIPPED, rolled_back_to=rollback.version.version_id,
        error="state document restored; resources not yet reconciled"))
    return after


def dry_run_hint(rollback: Rollback, target: str) -> str:
    return (f"invoke rollback --env {rollback.env.name} --component {rollback.component.name} "
            f"--version-id {rollback.version.version_id} --target {target} --dry-run")
