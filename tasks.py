"""Invoke tasks: flags and help text only; each task is one call into a module of
bbws_infra.commands (keyword arguments only)."""

from typing import TYPE_CHECKING

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from bbws_infra.commands import lazy
from bbws_infra.core import cli, process_end
from bbws_infra.core.registry import (
    COMPONENT_CHOICES,
    COMPONENT_HELP,
    CONFIRM_HELP,
    ENV_HELP,
    REQUIRED_APPROVALS,
    TARGET_HELP,
)
from bbws_infra.release.bundle_age import DEFAULT_MAX_AGE

# The command modules load when a task first calls one (most import boto3 and more): every
# invoke call imports this file. A new command module goes into both lists.
if TYPE_CHECKING:
    from bbws_infra.commands import (
        benchmark,
        checks,
        ci,
        listings,
        migrations,
        release,
        report,
        reviews,
        sandbox,
        terraform,
    )
else:
    (benchmark, checks, ci, listings, migrations, release, report, reviews, sandbox,
     terraform) = lazy.modules(
        "bbws_infra.commands", "benchmark", "checks", "ci", "listings", "migrations",
        "release", "report", "reviews", "sandbox", "terraform")

# The command ends when its output is out, not after the interpreter's last collections.
process_end.skip_final_collections()

JSON_HELP = "Print the result as JSON instead of a table."
ALLOW_DESTROY_HELP = ("<component>:<address> the plan may delete or replace where the env has "
                      "deletion_protection = true; repeat for each (or give several in one "
                      "value, separated by spaces).")
CONFIRM_DESTROY_HELP = "destroy-<env>: confirms the --allow-destroy addresses."
MAX_AGE_HELP = f"Refuse bundles older than this (e.g. 30m, 24h; default {DEFAULT_MAX_AGE})."
NO_VERIFY_HELP = "Skip the verification after the apply (the ledger records it as skipped)."


def _exit(code: int) -> None:
    if code:
        raise Exit(code=code)


@task(help={"fix": "Rewrite the files instead of only checking them.", "json": JSON_HELP})
def fmt(c: Context, fix: bool = False, json: bool = False) -> None:
    """Check (or --fix) the formatting of every Terraform file."""
    _exit(checks.fmt(fix=fix) if fix else checks.gate(name="fmt", as_json=json))


@task(help={"json": JSON_HELP})
def validate(c: Context, json: bool = False) -> None:
    """Validate everything static: schemas, templates, every Terraform root and module."""
    _exit(checks.gate(name="validate", as_json=json))


@task(name="validate-templates")
def validate_templates(c: Context) -> None:
    """Check the email templates: strict HTML, Mustache sections, escaping (text parts
    {{{var}}}, HTML parts {{var}}), variables against the contracts, plain-text parts, no
    scripts, alt text, size, legal footer and (customer templates) unsubscribe link."""
    _exit(checks.validate_templates())


@task(name="preview")
def templates_preview(c: Context) -> None:
    """Render every template with its sample context into build/preview/ (open index.html)."""
    _exit(checks.templates_preview())


@task(name="validate-schemas")
def validate_schemas(c: Context) -> None:
    """Check the table schemas: JSON Schema validity, x-dynamodb keys and indexes, examples."""
    _exit(checks.validate_schemas())


@task(help={"json": JSON_HELP})
def tfsec(c: Context, json: bool = False) -> None:
    """Security scan of every root and module (tfsec, or Trivy's configuration scan that
    carries its rules); blocks on HIGH or CRITICAL."""
    _exit(checks.gate(name="tfsec", as_json=json))


@task(help={"json": JSON_HELP})
def checkov(c: Context, json: bool = False) -> None:
    """checkov over every root and module; blocks on any finding not skipped in code with a
    reason."""
    _exit(checks.gate(name="checkov", as_json=json))


@task(name="lint-workflows", help={"json": JSON_HELP})
def lint_workflows(c: Context, json: bool = False) -> None:
    """actionlint and zizmor over .github/workflows."""
    _exit(checks.gate(name="lint-workflows", as_json=json))


@task(help={"env": ENV_HELP, "target": TARGET_HELP, "json": JSON_HELP})
def infracost(c: Context, env: str, target: str | None = None, json: bool = False) -> None:
    """Monthly cost of the env's saved plans (infracost when its binary and API key exist,
    otherwise the repository's price table); advisory, flags the env's review threshold."""
    _exit(checks.infracost(env=env, target=target, as_json=json))


@task(help={"json": JSON_HELP})
def check(c: Context, json: bool = False) -> None:
    """Run every gate (fmt, validate, ruff, mypy, tfsec, checkov, lint-workflows, docs,
    diagrams, infracost), concurrently where independent; one summary table; exit 1 when a
    blocking gate fails."""
    _exit(checks.check(as_json=json))


@task(help={"env": ENV_HELP, "component": COMPONENT_HELP, "target": TARGET_HELP})
def init(c: Context, env: str, component: str | None = None, target: str | None = None) -> None:
    """Initialise Terraform for components (backend, providers, modules)."""
    _exit(terraform.init(env=env, component=component, target=target))


@task(help={"env": ENV_HELP, "component": COMPONENT_HELP, "target": TARGET_HELP,
            "detailed-exitcode": "Exit 2 when the plan has changes (0 when none, 1 on error)."})
def plan(c: Context, env: str, component: str | None = None, target: str | None = None,
         detailed_exitcode: bool = False) -> None:
    """Plan components and save each as a reviewed bundle under
    build/plans/<target>/<env>/<component>/ (plan, JSON, summary.txt, summary.md,
    bundle.json)."""
    _exit(terraform.plan(env=env, component=component, target=target,
                         detailed_exitcode=detailed_exitcode))


# Long options only: with this many flags the automatic short ones run out of letters.
@task(iterable=["allow_destroy"], auto_shortflags=False,
      help={"env": ENV_HELP,
            "component": f"{COMPONENT_CHOICES}; omit for every saved bundle of the env.",
            "target": TARGET_HELP, "confirm": CONFIRM_HELP,
            "allow-destroy": ALLOW_DESTROY_HELP, "confirm-destroy": CONFIRM_DESTROY_HELP,
            "max-age": MAX_AGE_HELP, "no-verify": NO_VERIFY_HELP})
def apply(c: Context, env: str, component: str | None = None, target: str | None = None,
          confirm: str | None = None, allow_destroy: list[str] | None = None,
          confirm_destroy: str | None = None, max_age: str = DEFAULT_MAX_AGE,
          no_verify: bool = False) -> None:
    """Apply the bundles saved by `invoke plan`, after checking each is still exactly what was
    reviewed (hash, commit, inputs, age, state serial, deletion protection, and after dev the
    release order); then verify and record each in the env's ledger."""
    _exit(terraform.apply(env=env, component=component, target=target, confirm=confirm,
                          allow_destroy=allow_destroy, confirm_destroy=confirm_destroy,
                          max_age=max_age, verify=not no_verify))


@task(iterable=["allow_destroy"], auto_shortflags=False,
      help={"to": "The environment to promote to: sit (from dev) or prod (from sit).",
            "component": f"{COMPONENT_CHOICES}; omit for all.",
            "target": TARGET_HELP,
            "commit": "The commit to promote (default: the one the previous env verified "
                      "last).",
            "confirm": "promote-sit or promote-prod (not needed with --plan-only).",
            "plan-only": "Write the env's plans of the commit for review and stop; a later "
                         "promote of the same commit applies exactly those plans.",
            "reviewed": "Apply only the saved plans (their commit), never plan: the "
                        "approved job of a workflow.",
            "allow-destroy": ALLOW_DESTROY_HELP, "confirm-destroy": CONFIRM_DESTROY_HELP,
            "max-age": MAX_AGE_HELP, "no-verify": NO_VERIFY_HELP})
def promote(c: Context, to: str, component: str | None = None, target: str | None = None,
            commit: str | None = None, confirm: str | None = None, plan_only: bool = False,
            reviewed: bool = False, allow_destroy: list[str] | None = None,
            confirm_destroy: str | None = None, max_age: str = DEFAULT_MAX_AGE,
            no_verify: bool = False) -> None:
    """Promote a commit the previous env applied and verified: plan it from a clean worktree,
    show the plan, apply it through every deploy guard, verify and record it."""
    _exit(terraform.promote(to=to, component=component, target=target, commit=commit,
                            confirm=confirm, plan_only=plan_only, reviewed=reviewed,
                            allow_destroy=allow_destroy, confirm_destroy=confirm_destroy,
                            max_age=max_age, verify=not no_verify))


TRIAGE_HELP = ("Keep one GitHub issue per component (GITHUB_TOKEN, GITHUB_REPOSITORY) and tell "
               "Slack only what changed since the last run (the scheduled workflows).")


@task(help={"env": ENV_HELP, "component": COMPONENT_HELP, "target": TARGET_HELP,
            "json": JSON_HELP, "triage": TRIAGE_HELP})
def verify(c: Context, env: str, component: str | None = None, target: str | None = None,
           json: bool = False, triage: bool = False) -> None:
    """Check what is deployed against the commit the ledger names (tables, indexes, backups,
    bucket settings, every template object, and a plan with nothing pending); a pass/fail
    table; each component's result under <work dir>/verify/<env>/; exit 1 on any failure or
    when the last apply failed or nothing was applied (unknown)."""
    _exit(release.verify(env=env, component=component, target=target, as_json=json,
                         triage=triage))


@task(iterable=["address"], auto_shortflags=False,
      help={"env": ENV_HELP, "component": COMPONENT_HELP, "target": TARGET_HELP,
            "triage": TRIAGE_HELP,
            "revert": "Also write a plan bundle that puts the drifted components back to the "
                      "files of their last apply, for review and `invoke apply`.",
            "accept": "Print (and write under the work dir) allowlist entries accepting the "
                      "component's drift, to add to envs/drift-allowlist.yml in a pull request.",
            "reason": "With --accept: why the drift is harmless (one sentence).",
            "address": "With --accept: only this drifted address (repeatable)."})
def drift(c: Context, env: str, component: str | None = None, target: str | None = None,
          triage: bool = False, revert: bool = False, accept: bool = False,
          reason: str | None = None, address: list[str] | None = None) -> None:
    """Refresh-only plans, in parallel and without locking: every address changed outside
    Terraform and how, each component's result under <work dir>/drift/<env>/; exit 2 on drift
    not accepted in envs/drift-allowlist.yml, 0 otherwise (and after --revert or --accept)."""
    _exit(release.drift(env=env, component=component, target=target, triage=triage,
                        revert=revert, accept=accept, reason=reason, address=address))


@task(help={"env": ENV_HELP, "component": "Only this component.", "target": TARGET_HELP,
            "limit": "Show at most this many records.", "json": JSON_HELP})
def history(c: Context, env: str, component: str | None = None, target: str | None = None,
            limit: str | None = None, json: bool = False) -> None:
    """The env's deployment ledger, newest first: applies, promotions and rollbacks with
    commit, result, verification, state serials and who."""
    _exit(listings.history(env=env, component=component, target=target,
                           limit=int(limit) if limit else None, as_json=json))


@task(help={"target": TARGET_HELP, "json": JSON_HELP})
def status(c: Context, target: str | None = None, json: bool = False) -> None:
    """What runs where: per env and component, the commit deployed, when, by whom and whether
    it verified (only reads)."""
    _exit(listings.status(target=target, as_json=json))


@task(name="report",
      help={"env": "Only these environments (comma-separated; default all of them).",
            "target": TARGET_HELP,
            "out": "Folder to write index.html, report.json (and report.png) to (default "
                   "build/report/).",
            "json": "Also print the page's data as JSON.",
            "screenshot": "Render the page in headless Chromium to report.png (needs the "
                          "Debian package chromium)."})
def status_report(c: Context, env: str | None = None, target: str | None = None,
                  out: str | None = None, json: bool = False, screenshot: bool = False) -> None:
    """The status page: per env and component the commit running, when and by whom, verified,
    drift, pending promotions, backups, alarms and monthly cost, and the history; one
    self-contained HTML file (only reads; exit 1 when some env could not be read)."""
    _exit(report.report(env=env, target=target, out=out, as_json=json, screenshot=screenshot))


@task(name="state-versions",
      help={"env": ENV_HELP, "component": "The one component whose state versions to list.",
            "target": TARGET_HELP, "limit": "Show at most this many versions.",
            "json": JSON_HELP})
def state_versions(c: Context, env: str, component: str | None = None, target: str | None = None,
                   limit: str | None = None, json: bool = False) -> None:
    """The S3 versions of a component's state, newest first: version id, time, serial, lineage,
    size, and the commit and action the ledger recorded for it (what rollback takes)."""
    _exit(listings.state_versions(env=env, component=component, target=target,
                                  limit=int(limit) if limit else None, as_json=json))


@task(iterable=["allow_destroy"], auto_shortflags=False,
      help={"env": ENV_HELP, "component": "The one component to roll back.",
            "target": TARGET_HELP,
            "version-id": "The state version to go back to (from invoke state-versions).",
            "confirm": "rollback-<env>.",
            "dry-run": "Plan and show the rollback, apply nothing.",
            "restore-state": "First restore that version's state document as a new, forward "
                             "version (for a damaged state), then roll back.",
            "allow-orphans": "With --restore-state: accept that addresses the current state "
                             "manages and the version lacks leave management.",
            "allow-destroy": ALLOW_DESTROY_HELP, "confirm-destroy": CONFIRM_DESTROY_HELP,
            "no-verify": NO_VERIFY_HELP})
def rollback(c: Context, env: str, component: str | None = None, target: str | None = None,
             version_id: str | None = None, confirm: str | None = None, dry_run: bool = False,
             restore_state: bool = False, allow_orphans: bool = False,
             allow_destroy: list[str] | None = None, confirm_destroy: str | None = None,
             no_verify: bool = False) -> None:
    """Return a component to what a state version described: plan the commit the ledger
    recorded for it against the current state, show it, apply it through every deploy guard,
    verify and record it."""
    _exit(release.rollback(env=env, component=component, target=target, version_id=version_id,
                           confirm=confirm, dry_run=dry_run, restore_state=restore_state,
                           allow_orphans=allow_orphans, allow_destroy=allow_destroy,
                           confirm_destroy=confirm_destroy, verify=not no_verify))


@task(help={"env": ENV_HELP, "component": COMPONENT_HELP, "target": TARGET_HELP,
            "json": JSON_HELP})
def backups(c: Context, env: str, component: str | None = None, target: str | None = None,
            json: bool = False) -> None:
    """The on-demand backups of the env's tables, newest first (the pre-deploy backups prod
    takes before every change to a table among them)."""
    _exit(listings.backups(env=env, component=component, target=target, as_json=json))


@task(help={"env": ENV_HELP, "target": TARGET_HELP, "json": JSON_HELP})
def alarms(c: Context, env: str, target: str | None = None, json: bool = False) -> None:
    """The env's CloudWatch alarms (firing first: state, since when, why) and each table's
    last AWS Backup job. Only reads; exit 1 when an alarm fires or a last job failed."""
    _exit(listings.alarms(env=env, target=target, as_json=json))


@task(help={"env": ENV_HELP, "component": COMPONENT_HELP, "target": TARGET_HELP,
            "fix-digest": "Set each mismatched digest item to the current state object's MD5 "
                          "(prints old and new), then check again.",
            "json": JSON_HELP})
def doctor(c: Context, env: str, component: str | None = None, target: str | None = None,
           fix_digest: bool = False, json: bool = False) -> None:
    """Check each component's state: readable, lineage and serial, the lock table's digest
    against the state object, no lock held, and the current version is the ledger's last; the
    state bucket's protections; with --target aws the account checks (regions, AWS Backup,
    bucket names). Exit 1 on any problem, with the fix."""
    _exit(listings.doctor(env=env, component=component, target=target, fix_digest=fix_digest,
                          as_json=json))


@task(help={"env": ENV_HELP, "component": "The one component whose state is locked.",
            "target": TARGET_HELP, "lock-id": "The lock ID printed in the lock error."})
def unlock(c: Context, env: str, component: str, lock_id: str, target: str | None = None) -> None:
    """Release a state lock a killed run left behind (check nobody is still applying first)."""
    _exit(terraform.unlock(env=env, component=component, target=target, lock_id=lock_id))


@task(help={"env": ENV_HELP, "component": COMPONENT_HELP, "target": TARGET_HELP,
            "dry-run": "Count what would change and show up to 3 items before and after; "
                       "write nothing (no item, checkpoint or ledger record).",
            "rate": "Items read per second, all segments together (default per env: dev "
                    "2000, sit 1000, prod 200).",
            "segments": "Parallel scan segments (default 4; a resumed run keeps its "
                        "checkpoint's count).",
            "confirm": "migrate-<env>: confirms a real run (not needed with --dry-run).",
            "rerun": "Run this applied migration again (repeatable): migrations are "
                     "idempotent, so it changes only items an older writer wrote since."},
      iterable=["rerun"])
def migrate(c: Context, env: str, component: str | None = None, target: str | None = None,
            dry_run: bool = False, rate: str | None = None, segments: str | None = None,
            confirm: str | None = None, rerun: list[str] | None = None) -> None:
    """Run the pending data migrations (migrations/<component>/) of each table in id order:
    conditional writes, checkpointed and resumable, rate limited; a prod table is backed up
    first; each run is recorded in the env's ledger."""
    _exit(migrations.migrate(env=env, component=component, target=target, dry_run=dry_run,
                             rate=rate, segments=segments, confirm=confirm, rerun=rerun))


@task(name="migrations", help={"env": ENV_HELP, "component": COMPONENT_HELP,
                               "target": TARGET_HELP, "json": JSON_HELP})
def migrations_list(c: Context, env: str, component: str | None = None,
                    target: str | None = None, json: bool = False) -> None:
    """Each data migration of the env's tables, applied (when, who, commit, counts) or
    pending; only reads. Exit 1 when a migration's last run failed."""
    _exit(migrations.migrations(env=env, component=component, target=target, as_json=json))


@task(help={"env": ENV_HELP, "target": TARGET_HELP})
def bootstrap(c: Context, env: str, target: str | None = None) -> None:
    """Create the env's state bucket and lock table when missing and harden the bucket
    (idempotent); with --target aws only after the account checks pass."""
    _exit(terraform.bootstrap(env=env, target=target))


@task(name="up", help={"port": "Port on 127.0.0.1 to listen on (default: a free one)."})
def sandbox_up(c: Context, port: str | None = None) -> None:
    """Start the embedded AWS sandbox (a moto server on 127.0.0.1) unless it is running."""
    _exit(sandbox.up(port=int(port) if port else None))


@task(name="down")
def sandbox_down(c: Context) -> None:
    """Stop the sandbox; everything in it is discarded."""
    _exit(sandbox.down())


@task(name="status")
def sandbox_status(c: Context) -> None:
    """Say whether the sandbox runs, where, and for how many accounts (exit 1 if not running)."""
    _exit(sandbox.status())


@task(name="env", help={"env": ENV_HELP})
def sandbox_env(c: Context, env: str) -> None:
    """Print shell exports that point the AWS CLI and boto3 at the sandbox as the env's account:
    eval "$(invoke sandbox.env --env dev)"."""
    _exit(sandbox.exports(env=env))


@task
def matrix(c: Context) -> None:
    """Print the environments and components as a job matrix (JSON); in GitHub Actions also
    set them as the step outputs `matrix` and `envs`."""
    _exit(ci.matrix())


@task(help={
    "env": "Environment: " + ", ".join(f"{e} (approvals needed: {n})"
                                       for e, n in REQUIRED_APPROVALS.items()) + ".",
    "gates": "Print the env's approval environments (<env>-approval-<n>) as JSON, also as the "
             "step output `gates`, instead of checking.",
    "gate": "<env>-approval-<n>: print what this approval job stands for, instead of checking.",
    "baseline": "Record the run's review history before this attempt's approvals (the step "
                "output `baseline`; the first job of every attempt), instead of checking.",
    "break-glass": "Count (or list gates) for the env's break-glass environment "
                   "<env>-break-glass instead: protected deletions, one approval more than the "
                   "env needs (envs with deletion protection only)."})
def approvals(c: Context, env: str, gates: bool = False, gate: str | None = None,
              baseline: bool = False, break_glass: bool = False) -> None:
    """In a GitHub Actions run, before anything changes: count the different people who approved
    this run attempt for the env (its own and its approval environments, from the REST API with
    GITHUB_TOKEN, less the history APPROVALS_BASELINE recorded before the attempt), not
    counting who started or re-ran it; exit 2 when too few. Refused outside a workflow run (a
    laptop's apply is governed by its confirmation string)."""
    _exit(ci.approvals(env=env, show_gates=gates, gate=gate, baseline=baseline,
                       break_glass=break_glass))


@task(name="plan-review", help={"env": ENV_HELP, "component": f"{COMPONENT_CHOICES}; omit "
                                                               "for every saved bundle.",
                                "target": TARGET_HELP})
def plan_review(c: Context, env: str, component: str | None = None,
                target: str | None = None) -> None:
    """For each saved plan of the env: the monthly cost now, after its apply and the
    difference (price table), and the data migrations its apply would run; written beside the
    bundle (review.json), to the job summary and the log. Only reads."""
    _exit(reviews.plan_review(env=env, component=component, target=target))


@task(name="comment-plans",
      help={"bundles": "Folder holding plan bundles (e.g. downloaded artifacts)."})
def comment_plans(c: Context, bundles: str) -> None:
    """Put every env's cost table, pending data migrations and plan summaries in one
    pull-request comment (updated in place by later runs, cut to GitHub's size limit) and the
    job summary; outside a pull request, only the job summary."""
    _exit(reviews.comment_plans(bundles=bundles))


@task(name="run-summary", help={"env": ENV_HELP, "component": f"{COMPONENT_CHOICES}; omit for "
                                                              "all.",
                                "target": TARGET_HELP})
def run_summary(c: Context, env: str, component: str | None = None,
                target: str | None = None) -> None:
    """After an apply job: per component the commit, the state serial before and after, the
    result and the ledger record, in the job summary (step output `ledger`: the records'
    links). Only reads."""
    _exit(reviews.run_summary(env=env, component=component, target=target))


@task(help={"env": ENV_HELP, "action": "deploy, promote, rollback or drift.",
            "result": "The job's result: success, failure, cancelled or skipped.",
            "component": f"{COMPONENT_CHOICES}; omit for all.",
            "plan-result": "The plan job's result (a failed plan is the run's result).",
            "approval-result": "The approval jobs' result (failure: a reviewer rejected).",
            "plan-url": "Link to the plan summary (the bundles artifact).",
            "ledger": "The apply job's `ledger` output (JSON, component -> link)."})
def notify(c: Context, env: str, action: str, result: str, component: str | None = None,
           plan_result: str = "success", approval_result: str = "", plan_url: str = "",
           ledger: str = "") -> None:
    """Post one message (env, components, commit, result, who; links to the run, the plan
    summary and the ledger records) to the Slack webhook in SLACK_WEBHOOK_URL; without it, say
    so and succeed."""
    _exit(ci.notify(env=env, action=action, result=result, component=component,
                    plan_result=plan_result, approval_result=approval_result,
                    plan_url=plan_url, ledger=ledger))


@task(name="deployment-window", help={"env": ENV_HELP})
def deployment_window(c: Context, env: str) -> None:
    """Refuse (exit 2, nothing changed) outside the env's deployment window (prod: Monday to
    Friday, 08:00 to 16:00 SAST); the apply jobs run it after counting the approvals."""
    _exit(ci.deployment_window(env=env))


@task(name="iam-policy",
      help={"env": ENV_HELP, "repository": "owner/name of the GitHub repository the roles "
                                           "trust."})
def iam_policy(c: Context, env: str, repository: str) -> None:
    """Print the env's GitHub OIDC roles as JSON: plan_role (trusted by <env>-plan jobs only,
    reads and state locks only), deploy_role (trusted by <env> jobs only) and, where deletion
    protection is on, break_glass_role (trusted by <env>-break-glass jobs only), each with name,
    ARN, trust, session length and least-privilege permissions policy; the policies attached
    beside them (ledger guard, account health reads, protected-deletes guard on prod's deploy
    role); for sit and prod the previous env's read policy and ledger bucket policy."""
    _exit(ci.iam_policy(env=env, repository=repository))


@task(help={"env": ENV_HELP, "repeats": "Runs per warm measurement (the median is reported).",
            "only": "migration: only the data migration entry; release: only the first plan "
                    "and the release flows (deploy, promotion, rollback); plans: only the "
                    "plan timings (serial, parallel, bare Terraform, 4, 8 and 16 components).",
            "json": "Print the whole result as one JSON object instead of the tables."})
def bench(c: Context, env: str = "dev", repeats: int = 3, only: str | None = None,
          json: bool = False) -> None:
    """Wall seconds of what people wait on, each goal measured against its target: init, plans
    serial and parallel, the same plans with bare Terraform, plans of 4, 8 and 16 components,
    `invoke check`, the README's first plan (sandbox start included) and `import tasks`, a full
    dev deploy (plan, apply, verify) on a fresh sandbox, the promotion to sit, one rollback of
    templates, and the activePartition migration over 10,000 and 50,000 items against a plain
    boto3 loop; per flow the seconds of each stage and the provider starts per component
    (throw-away copy)."""
    _exit(benchmark.bench(env=env, repeats=int(repeats), only=only, as_json=json))


@task(name="check", help={"json": JSON_HELP})
def docs_check(c: Context, json: bool = False) -> None:
    """Check the docs against the code: every documented invoke command (task, flags, values),
    every relative link, each diagram's SVG current, each module README's inputs and outputs
    tables against its variables.tf and outputs.tf, and every Mermaid block parsed by Mermaid
    (the docs and diagrams gates of invoke check)."""
    _exit(checks.check(as_json=json, names=("docs", "diagrams")))


@task(name="render", help={"every": "Render every diagram, not only new and changed ones."})
def docs_render(c: Context, every: bool = False) -> None:
    """Render each new or changed Mermaid block of the docs to docs/diagrams/<name>.svg with
    Mermaid's CLI, and remove the SVGs no block names any more."""
    _exit(checks.docs_render(every=every))


docs_tasks = Collection("docs", docs_check, docs_render)
sandbox_tasks = Collection("sandbox", sandbox_up, sandbox_down, sandbox_status, sandbox_env)
templates_tasks = Collection("templates", templates_preview)
ns = Collection(fmt, validate, validate_schemas, validate_templates, tfsec, checkov,
                lint_workflows, infracost, check, init, plan, apply, promote, verify, drift,
                history, status, status_report, state_versions, rollback, backups, alarms,
                doctor, unlock, migrate, migrations_list, bootstrap, matrix, approvals,
                plan_review, comment_plans, run_summary, notify, deployment_window,
                iam_policy, bench, docs_tasks, sandbox_tasks, templates_tasks)
# Every parameter a flag, so `invoke <task> --help` prints the help (see bbws_infra.core.cli).
cli.flags_only(ns)
