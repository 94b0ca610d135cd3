"""What is deployed against what the repository says: boto3 reads an environment's resources and
every setting is compared with the files of a source tree (schema files, envs/<env>.tfvars, the
template files) and with the names and settings the Terraform modules give them.

`invoke verify` prints the checks; the end-to-end tests run the very same checks on the sandbox.
Its data stage (verify_data, checks named `data: ...`) proves the application can use what is
deployed: every documented access pattern of each table, and every template rendered.
A missing resource is a failed check (found = "missing"), never an exception; any other AWS error
(credentials, permissions) propagates.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bbws_infra.core import tables
from bbws_infra.core.errors import UserError
from bbws_infra.core.paths import REPO_ROOT
from bbws_infra.core.registry import Component, Environment, load_environment
from bbws_infra.core.untyped import JsonObject, Session
from bbws_infra.engine import timings
from bbws_infra.plans import runner
from bbws_infra.plans.plan_summary import summarise
from bbws_infra.release.verify_buckets import bucket_component
from bbws_infra.release.verify_checks import (
    MISSING,
    NONE,
    Check,
    CheckList,
    get_or_none,
    normal_document,
    planned_resources,
)
from bbws_infra.release.verify_data import data_checks
from bbws_infra.release.verify_monitoring import monitoring_component
from bbws_infra.release.verify_tables import table_component

if TYPE_CHECKING:
    from rich.console import Console

    from bbws_infra.targets.targets import TargetContext

__all__ = [
    "MISSING",
    "NONE",
    "NO_CHANGES",
    "PENDING",
    "Check",
    "Sources",
    "check_deployed",
    "deployed_checks",
    "policy_checks",
    "resource_checks",
    "sources",
    "table",
    "table_text",
    "to_json",
]


def resource_checks(session: Session, env: Environment, component: Component, source_root: Path,
                    plan_json: JsonObject | None = None) -> list[Check]:
    """Every check of one component's deployed resources against the files under source_root.

    `session` offers `.client(service, region_name=None)` (a boto3.Session or the sandbox's
    SandboxSession). Tables: the table settings, indexes, tags and AWS Backup vault, plan and
    the selection (on both targets: the sandbox emulator answers the selection calls too).
    s3 components: the buckets (template, access-log and DR replica), their settings and tags,
    and every template object. Monitoring: the topic, alarms, rule, budget and dashboard
    against the planned values of plan_json (a plan of the source; required there).
    """
    if component.kind == "dynamodb":
        return table_component(session, env, component, source_root)
    if component.kind == "s3":
        return bucket_component(session, env, component, source_root)
    if component.kind == "monitoring" and plan_json is not None:
        return monitoring_component(session, env, component, source_root, plan_json)
    raise UserError(f"Component {component.name!r} has kind {component.kind!r}; verify knows "
                    "dynamodb, s3 and (with a plan of its source) monitoring.")



# ---- one deployed component, as `invoke verify` and the deploy path check it -------------

PENDING = "plan: nothing pending"
NO_CHANGES = "0 to add, 0 to change, 0 to destroy"


def deployed_checks(ctx: TargetContext, component: Component,
                    report: Callable[[str], None] = lambda _: None,
                    plan_json: JsonObject | None = None) -> list[Check]:
    """Every check of one deployed component: its resources against the files of ctx.source,
    a plan of those files (plan_json when the caller already made it), which must have
    nothing pending (it neither locks the state nor writes a bundle), and the data stage
    (verify_data: the access patterns and templates work as the application uses them)."""
    from bbws_infra.plans import operations

    if plan_json is None:
        plan_json = operations.speculative_plan(ctx, component, report=report)
    report("check resources")
    with timings.timed("boto3 checks", component.name):
        checks = resource_checks(ctx.live_session, ctx.env, component, ctx.source, plan_json)
        summary = summarise(plan_json)
        pending = [c.address for c in summary.changes]
        found = summary.counts
        if pending:
            found += ": " + ", ".join(pending[:3]) + (", ..." if len(pending) > 3 else "")
        checks.append(Check(component.name, PENDING, NO_CHANGES, found,
                            not summary.has_changes))
        checks += policy_checks(ctx.live_session, ctx.env, component, plan_json)
    report("check data")
    with timings.timed("data checks", component.name):
        checks += data_checks(ctx.live_session, ctx.env, component, ctx.source)
    return checks


def policy_checks(session: Session, env: Environment, component: Component,
                  plan_json: JsonObject) -> list[Check]:
    """Every bucket policy the component manages, whole, against the document its source
    produces (the planned value of the source's aws_s3_bucket_policy): a statement added
    outside the source (an ignored override, a console edit) fails, not only a missing one."""
    checks = CheckList(component.name)
    for resource in planned_resources(plan_json, "aws_s3_bucket_policy"):
        values = resource.get("values") or {}
        bucket, planned = values.get("bucket"), values.get("policy")
        if not bucket or not isinstance(planned, str):
            continue  # not known before apply (a bucket not created yet): pending shows it
        # the replica lives in the DR region: ask S3 where, then ask that region
        location = get_or_none(session.client("s3", region_name=env.region).get_bucket_location,
                        Bucket=bucket) or {}
        region = location.get("LocationConstraint") or env.region
        deployed = get_or_none(session.client("s3", region_name=region).get_bucket_policy,
                        Bucket=bucket)
        found = NONE if deployed is None else (
            "as the source" if normal_document(json.loads(deployed["Policy"]))
            == normal_document(json.loads(planned)) else f"differs: {deployed['Policy']}")
        checks.add(f"bucket {bucket}: whole policy", "as the source", found)
    return checks


@dataclass
class Sources:
    """Which tree each component is verified against, and the components nothing was ever
    deployed to (one failed check each)."""

    groups: dict[Path, list[Component]]
    missing: list[Check]


def sources(target: str, env: Environment, components: list[Component]) -> Sources:
    """The files each component's last apply was made from: the working tree when its inputs
    are exactly those, otherwise a clean worktree of the recorded commit. An apply from
    uncommitted changes that this tree no longer has cannot be verified: that is refused."""
    from bbws_infra.plans import bundle
    from bbws_infra.release import worktrees
    from bbws_infra.state import ledger
    from bbws_infra.targets import targets

    session = targets.reader_session(target, env)
    extra = list(targets.TARGET_IMPLEMENTATIONS[target].extra_vars)
    groups: dict[Path, list[Component]] = {}
    missing = []
    for component in components:
        record = ledger.current(session, env, component.name)
        if record is None:
            missing.append(Check(component.name, "deployed", "a recorded apply",
                                 "none in the ledger", False))
            continue
        if not record.commit:  # a state document restored without a recorded commit
            missing.append(Check(component.name, "deployed", "a recorded commit",
                                 "none (the state was restored by hand)", False))
            continue
        if bundle.inputs_fingerprint(env, component, extra) == record.inputs_sha256:
            source = REPO_ROOT
        elif record.dirty:
            raise UserError(
                f"{component.name} in {env.name} was last applied by {record.who} from "
                f"uncommitted changes on {record.commit[:12] or 'no commit'}, which this "
                "working tree does not hold; verify from that tree, or apply a commit.")
        else:
            source = worktrees.checkout(record.commit)
        groups.setdefault(source, []).append(component)
    return Sources(groups, missing)


def check_deployed(target: str, env: Environment, components: list[Component],
                   console: Console,
                   finish: Callable[[list[runner.Row[Component]], TargetContext], int]
                   ) -> tuple[int, list[Check]]:
    """`invoke verify`: each component against the files of its last apply, one group per
    source tree (the working tree, or a worktree of a recorded commit), the components of a
    group checked in parallel on a target staged from that tree. The exit code finish gives
    the first group that did not run through (finish reports its failures; no checks then),
    or 0 and every check, a component never deployed being one failed check."""
    from bbws_infra.plans import operations
    from bbws_infra.targets import targets

    plans = sources(target, env, components)
    checks: list[Check] = []
    for source, group in plans.groups.items():
        ctx = targets.prepare(target, load_environment(env.name, source), source)
        targets.stage(ctx, group)
        found: dict[str, list[Check]] = {}

        def one(item: Component, report: Callable[[str], None],
                ctx: TargetContext = ctx,
                found: dict[str, list[Check]] = found) -> operations.Outcome:
            found[item.name] = deployed_checks(ctx, item, report)
            failed = sum(not c.ok for c in found[item.name])
            return operations.Outcome(note=f"{failed} failed" if failed else "verified")

        where = "working tree" if source == REPO_ROOT else f"commit {source.name[:12]}"
        rows = runner.run(f"verify {env.name} ({target}) against the {where}", group, one,
                          console, alive=ctx.alive, timed_as="verify")
        code = finish(rows, ctx)
        if code:
            return code, []
        checks += [c for item in group for c in found[item.name]]
    return 0, checks + plans.missing


# ---- printing ---------------------------------------------------------------------------


def table(checks: list[Check]) -> tables.CopyableTable:
    """The pass/fail table: component, check, expected, found, result (the check names an
    object or address, kept whole; what was expected and found may wrap between words)."""
    return tables.table(
        None, ["component", "check", tables.prose("expected"), tables.prose("found"), "result"],
        [[c.component, c.name, c.expected, c.found,
          "[green]pass[/green]" if c.ok else "[red]FAIL[/red]"] for c in checks])


def table_text(checks: list[Check]) -> str:
    """Plain lines for an error's details (no terminal needed)."""
    return "\n".join(f"  FAIL {c.component}: {c.name}: expected {c.expected}, found {c.found}"
                     for c in checks)


def to_json(checks: list[Check]) -> str:
    return json.dumps([asdict(c) for c in checks], indent=2)
