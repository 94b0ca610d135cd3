"""What the pipeline shows a team: `invoke plan-review` (the cost and the pending data
migrations of the plans a job just made, beside each bundle and in the job summary),
`invoke comment-plans` (one pull-request comment with every env's plans, cost and migrations)
and `invoke run-summary` (what an apply job did: commit, state serial before and after, the
ledger records)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import quote

from botocore.exceptions import BotoCoreError, ClientError

from bbws_infra.commands.common import console, guarded
from bbws_infra.core import git
from bbws_infra.core.errors import OperationError, UserError
from bbws_infra.core.paths import REPO_ROOT
from bbws_infra.core.registry import (
    COMPONENTS,
    PROMOTION_ORDER,
    Component,
    Environment,
    load_environment,
    resolve_components,
    resolve_target,
)
from bbws_infra.core.untyped import JsonObject
from bbws_infra.gates.cost_diff import price_changes
from bbws_infra.gates.cost_review import (
    REVIEW_FILE,
    PendingMigration,
    PlanReview,
    cost_markdown,
    migrations_markdown,
    read_review,
    review_text,
)
from bbws_infra.pipeline import github
from bbws_infra.plans import bundle
from bbws_infra.state import ledger
from bbws_infra.targets import targets

COMMENT_MARKER = "bbws-infra plans"


def _pending(env: Environment, target: str, chosen: list[Component],
             records: dict[str, bundle.BundleRecord]
             ) -> tuple[dict[str, list[PendingMigration]], str]:
    """Each table's pending migrations in env, from the files of the commit each bundle was
    planned from; or, when the ledger cannot be read, why not."""
    from bbws_infra.migrations import catalog, pending
    from bbws_infra.release import worktrees

    tables = [c for c in chosen if c.kind == "dynamodb"]
    if not tables:
        return {}, ""
    head = git.head_and_dirty()[0]
    found: dict[str, list[PendingMigration]] = {}
    try:
        session = targets.reader_session(target, env)
        for table in tables:
            commit = records[table.name].commit
            source = REPO_ROOT if commit in ("", head) else worktrees.checkout(commit)
            migrations = catalog.discover([table], source).get(table.name, [])
            found[table.name] = [PendingMigration(m.id, m.description)
                                 for m in pending.pending(session, env, migrations)]
    except (UserError, OperationError, BotoCoreError, ClientError) as error:
        return {}, " ".join(str(error).split())[:300]
    return found, ""


@guarded
def plan_review(*, env: str, component: str | None, target: str | None) -> int:
    """Price each saved bundle of env (now, after the apply, the difference) and list the data
    migrations its apply would run; review.json beside each bundle, the job summary, the log."""
    environment, target_name = load_environment(env), resolve_target(target)
    chosen = (resolve_components(component) if component
              else bundle.saved_components(target_name, environment.name))
    if not chosen:
        raise UserError(f"No saved plans for {environment.name} ({target_name}) to review; "
                        f"run: invoke plan --env {environment.name} --target {target_name}")
    records = {c.name: bundle.load(target_name, environment.name, c) for c in chosen}
    directories = {c.name: bundle.bundle_dir(target_name, environment.name, c) for c in chosen}
    plans = {name: json.loads((directories[name] / bundle.PLAN_JSON).read_text())
             for name in records}
    cost = price_changes(environment.name, plans)
    migrations, unknown = _pending(environment, target_name, chosen, records)
    reviews = []
    for item, priced in zip(chosen, cost.components, strict=True):
        record = records[item.name]
        review = PlanReview(
            env=environment.name, component=item.name, commit=record.commit,
            plan_sha256=record.plan_sha256, state_serial=record.state_serial,
            now_usd=round(priced.now, 6), after_usd=round(priced.after, 6),
            threshold_usd=cost.threshold, engine=cost.engine, table=item.kind == "dynamodb",
            migrations=migrations.get(item.name, []),
            migrations_unknown=unknown if item.kind == "dynamodb" else "",
            warnings=list(priced.warnings))
        path = directories[item.name] / REVIEW_FILE
        incoming = path.with_name(f".{REVIEW_FILE}.incoming")
        incoming.write_text(review.to_json())
        incoming.replace(path)
        reviews.append(review)
        console.print(review_text(review), markup=False)
    github.job_summary(f"## Review of the {environment.name} plans\n\n{cost_markdown(reviews)}"
                       f"\n{migrations_markdown(reviews)}")
    if cost.over_threshold:
        console.print(f"{environment.name}: over the review threshold; see the job summary")
    return 0


def _unreviewed(env: str, plans: dict[str, JsonObject]) -> list[PlanReview]:
    """Reviews priced from the plans alone, for bundles the plan job left without one (the
    pending migrations need the ledger, so they are not known here)."""
    cost = price_changes(env, plans)
    return [PlanReview(env, c.component, "", "", 0, c.now, c.after, cost.threshold,
                       cost.engine, table=COMPONENTS[c.component].kind == "dynamodb",
                       migrations_unknown="no review beside this plan: invoke plan-review "
                                          "did not run", warnings=list(c.warnings))
            for c in cost.components]


@guarded
def comment_plans(*, bundles: str) -> int:
    """One pull-request comment (updated in place by each new run) and the job summary: per
    env the cost table and the pending data migrations, then every bundle's plan summary."""
    root = Path(bundles)
    found = sorted(root.rglob(bundle.RECORD)) if root.is_dir() else []
    if not found:
        raise UserError(f"No plan bundles under {bundles}; nothing to comment.")
    order = {name: index for index, name in enumerate(PROMOTION_ORDER)}
    sections, reviews = [], []
    unreviewed: dict[str, dict[str, JsonObject]] = {}
    for path in found:
        record = bundle.BundleRecord.from_json(path.read_text())
        sections.append((order.get(record.env, 99), record.component,
                         (path.parent / bundle.SUMMARY_MARKDOWN).read_text()))
        review = read_review(path.parent, record.plan_sha256)
        if review:
            reviews.append(review)
        else:
            unreviewed.setdefault(record.env, {})[record.component] = json.loads(
                (path.parent / bundle.PLAN_JSON).read_text())
    for env, plans in unreviewed.items():
        reviews += _unreviewed(env, plans)
    sections.sort(key=lambda s: (s[0], s[1]))
    text = ("## Terraform plans\n\n" + cost_markdown(reviews) + "\n"
            + migrations_markdown(reviews) + "\n### Plans\n\n"
            + "\n".join(s[2] for s in sections))
    github.job_summary(text)
    where = github.run_url()
    pointer = (f"the whole text is in the job summary of [this run]({where}) and each "
               "plan's summary.md in its plan-<env>-<component> artifact." if where else
               "the whole text is in the job summary and the plan artifacts.")
    console.print(github.upsert_comment(COMMENT_MARKER, text, pointer))
    return 0


def ledger_url(env: Environment, key: str) -> str:
    """The S3 console's page of one ledger record."""
    return (f"https://{env.region}.console.aws.amazon.com/s3/object/{env.state_bucket}"
            f"?region={env.region}&prefix={quote(key, safe='/')}")


def _reviewed_record(directory: Path) -> bundle.BundleRecord | None:
    """The bundle the job applied (archived under applied/) or was about to (still there)."""
    candidates = [directory / bundle.RECORD, *sorted(
        (directory / bundle.APPLIED_DIR).glob(f"*/{bundle.RECORD}"), reverse=True)]
    for path in candidates:
        try:
            return bundle.BundleRecord.from_json(path.read_text())
        except (OSError, ValueError, TypeError):
            continue
    return None


@guarded
def run_summary(*, env: str, component: str | None, target: str | None) -> int:
    """After an apply job (whatever its result): per component the commit, the state serial
    the plan was made against and the one the ledger records after, the result and the ledger
    record, in the job summary; the records' links as the step output `ledger`."""
    environment, target_name = load_environment(env), resolve_target(target)
    chosen = resolve_components(component)
    session = targets.reader_session(target_name, environment)
    rows, links = [], {}
    for item in chosen:
        reviewed = _reviewed_record(bundle.bundle_dir(target_name, environment.name, item))
        if reviewed is None:
            continue
        record = next((r for r in ledger.records(session, environment, item.name)
                       if r.bundle_sha256 == reviewed.plan_sha256), None)
        after, result, link = "-", "not recorded (see doctor below)", "-"
        if record is not None:
            after, result = str(record.state_after.serial), record.result
            if record.verification:
                result += f", verification {record.verification}"
            links[item.name] = ledger_url(environment, record.key)
            link = f"[{record.key.rsplit('/', 1)[-1]}]({links[item.name]})"
        rows.append(f"| {item.name} | `{reviewed.commit}` | {reviewed.state_serial} | "
                    f"{after} | {result} | {link} |")
    if not rows:
        console.print(f"No reviewed bundle of {environment.name} ({target_name}) was found; "
                      "nothing to summarise.")
        return 0
    commit = os.environ.get("GITHUB_SHA", "") or git.head_and_dirty()[0]
    text = (f"### {environment.name} ({target_name}): what this job applied\n\n"
            f"Workflow commit `{commit}`.\n\n"
            "| component | bundle commit | state serial before | after | result | ledger "
            "record |\n|---|---|---:|---:|---|---|\n" + "\n".join(rows) + "\n")
    github.job_summary(text)
    github.set_output("ledger", json.dumps(links, separators=(",", ":")))
    console.print(text, markup=False)
    return 0
