"""The one deploy path: every guard an apply needs, in one place, for every caller (the apply
task, and later promotion, rollback and the workflows).

A request is checked in two rounds, and a refusal in either changes nothing:
1. offline, before anything starts (no sandbox, no Terraform): the confirmation string, a
   complete bundle for this target, env and component, the plan file's and plan JSON's hashes,
   the commit and the input fingerprint against the working tree now, a dirty tree for the
   environments after the first, the bundle's age, and deletion protection per address;
2. against the target, before Terraform runs: the remote state's lineage and serial must
   still be those the plan was made against.
Only then are the saved plans applied (Terraform re-checks the state itself) and each applied
bundle archived.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from bbws_infra import bundle, operations, plan_guard, runner, targets
from bbws_infra.errors import UserError
from bbws_infra.plan_summary import PlanSummary
from bbws_infra.registry import PROMOTION_ORDER, Component, Environment

DEFAULT_MAX_AGE = "24h"
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_age(text: str) -> float:
    """'24h', '90m', '30s', '2d' or plain seconds -> seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", str(text))
    if not match:
        raise UserError(f"--max-age {text!r} is not a duration; write e.g. 24h, 90m or 30s.")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


def _age_text(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.0f} min" if seconds >= 60 else f"{seconds:.0f} s"


@dataclass
class DeployRequest:
    env: Environment
    target: str
    components: list[Component]
    confirm: str | None
    allow_destroy: tuple[str, ...] = ()
    confirm_destroy: str | None = None
    max_age: str = DEFAULT_MAX_AGE


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


@dataclass
class RemoteState:
    lineage: str
    serial: int
    version_id: str | None = None
    last_modified: str | None = None


def check_offline(request: DeployRequest) -> list[ApprovedBundle]:
    """Round 1: everything that can be refused without starting anything."""
    env = request.env
    if request.confirm != env.apply_confirmation:
        raise UserError(f"Applying to {env.name} needs --confirm {env.apply_confirmation}; "
                        "nothing was changed.")
    if not request.components:
        raise UserError(f"No saved plans for {env.name} ({request.target}); run: invoke plan "
                        f"--env {env.name} --target {request.target}")
    max_age_s = parse_age(request.max_age)
    commit_now, _ = bundle.git_state()
    approved = []
    for component in request.components:
        record = bundle.load(request.target, env.name, component)
        directory = bundle.bundle_dir(request.target, env.name, component)
        _check_record(request, component, record, directory, commit_now, max_age_s)
        approved.append(ApprovedBundle(component, record, directory))
    return approved


def _check_record(request: DeployRequest, component: Component, record: bundle.BundleRecord,
                  directory: Path, commit_now: str, max_age_s: float) -> None:
    env, name = request.env, component.name
    again = (f"plan again: invoke plan --env {env.name} --component {name} "
             f"--target {request.target}")
    for file_name, expected in ((bundle.PLAN_FILE, record.plan_sha256),
                                (bundle.PLAN_JSON, record.plan_json_sha256)):
        path = directory / file_name
        if not path.exists() or bundle.sha256_file(path) != expected:
            raise UserError(f"The saved {file_name} of {name} in {env.name} is missing or no "
                            "longer matches the hash recorded when it was planned (it was "
                            f"changed after review); nothing was changed; {again}.")
    if record.commit != commit_now:
        raise UserError(f"The plan of {name} in {env.name} was made at commit "
                        f"{record.commit[:12] or '(none)'}, but the working tree is at "
                        f"{commit_now[:12] or '(none)'} now; nothing was changed; {again}.")
    extra = targets.TARGET_IMPLEMENTATIONS[request.target].extra_vars
    if bundle.inputs_fingerprint(env, component, list(extra)) != record.inputs_sha256:
        raise UserError(f"The inputs of {name} in {env.name} (Terraform files, tfvars, schema "
                        "or templates) changed since the plan was made; nothing was changed; "
                        f"{again}.")
    if record.dirty and env.name != PROMOTION_ORDER[0]:
        raise UserError(f"The plan of {name} in {env.name} was made from a working tree with "
                        f"uncommitted changes, which {env.name} never accepts; commit, then "
                        f"{again}.")
    if record.age_s > max_age_s:
        raise UserError(f"The plan of {name} in {env.name} is {_age_text(record.age_s)} old, "
                        f"older than --max-age {request.max_age}; nothing was changed; "
                        f"{again}.")
    plan_guard.check(env, name, record.protected_removals, request.allow_destroy,
                     request.confirm_destroy)


def remote_state(session: Any, env: Environment, component: Component) -> RemoteState:
    """The component's current state object, read directly (no Terraform, no lock)."""
    from botocore.exceptions import ClientError

    s3 = session.client("s3", region_name=env.region)
    try:
        response = s3.get_object(Bucket=env.state_bucket, Key=component.state_key)
    except ClientError as error:
        if error.response["Error"]["Code"] in ("NoSuchKey", "404"):
            return RemoteState("", 0)
        raise
    document = json.loads(response["Body"].read() or b"{}")
    modified = response.get("LastModified")
    return RemoteState(document.get("lineage", ""), int(document.get("serial", 0)),
                       response.get("VersionId"),
                       modified.isoformat(timespec="seconds") if modified else None)


def check_state(session: Any, env: Environment, approved: Iterable[ApprovedBundle]) -> None:
    """Round 2: refuse when another apply moved a component's state since its plan."""
    for item in approved:
        now = remote_state(session, env, item.component)
        record = item.record
        if (now.lineage, now.serial) == (record.state_lineage, record.state_serial):
            continue
        when = f" at {now.last_modified}" if now.last_modified else ""
        raise UserError(
            f"The state of {item.component.name} in {env.name} moved since the plan: it was "
            f"serial {record.state_serial} (lineage {record.state_lineage or 'none'}) when "
            f"planned and is serial {now.serial} (lineage {now.lineage or 'none'}) now, "
            f"written{when}; someone applied in between. Nothing was changed; plan again: "
            f"invoke plan --env {env.name} --component {item.component.name}.")


def apply(request: DeployRequest, console: Console,
          on_ready: Callable[[targets.TargetContext], None] = lambda ctx: None,
          ) -> tuple[targets.TargetContext, list[runner.Row]]:
    """Check, then apply every approved bundle and archive it. Raises UserError (nothing
    changed) on a refusal; returns the per-component rows of the apply itself. on_ready(ctx)
    runs once the target is up, before anything changes (the caller prints, watches locks)."""
    approved = check_offline(request)
    ctx = targets.prepare(request.target, request.env)
    on_ready(ctx)
    targets.stage(ctx, [item.component for item in approved])
    check_state(ctx.session, request.env, approved)

    def one(item: ApprovedBundle, report: operations.Report) -> operations.Outcome:
        operations.apply_saved_plan(ctx, item.component, item.plan_file, report)
        bundle.archive(request.target, request.env.name, item.component)
        return operations.Outcome(summary=_counts(item.record), note="applied")

    rows = runner.run(f"apply {request.env.name} ({request.target})", approved, one, console,
                      alive=ctx.alive)
    return ctx, rows


def _counts(record: bundle.BundleRecord) -> PlanSummary:
    return PlanSummary(add=record.add, change=record.change, destroy=record.destroy)
