"""Invoke tasks: flags and help text only; the work happens in bbws_infra.commands."""

from invoke import Collection, Exit, task

from bbws_infra import commands

ENV_HELP = "Environment: dev, sit or prod (values come from envs/<env>.tfvars)."
COMPONENT_HELP = ("Component: tenants, products, campaigns or templates; comma-separate "
                  "several; omit for all.")
TARGET_HELP = ("Where to run: sandbox (default, the embedded AWS emulator) or aws (real "
               "AWS; also set by BBWS_TARGET).")


def _exit(code: int) -> None:
    if code:
        raise Exit(code=code)


@task(help={"fix": "Rewrite the files instead of only checking them."})
def fmt(c, fix=False):
    """Check (or --fix) the formatting of every Terraform file."""
    _exit(commands.fmt(fix=fix))


@task(help={"env": ENV_HELP, "component": COMPONENT_HELP, "target": TARGET_HELP})
def init(c, env, component=None, target=None):
    """Initialise Terraform for components (backend, providers, modules)."""
    _exit(commands.init(env, component, target))


@task
def validate(c):
    """Validate everything static: schemas, templates, every Terraform root and module."""
    _exit(commands.validate())


@task(name="validate-templates")
def validate_templates(c):
    """Check the email templates: strict HTML, Mustache sections, variables against the
    contracts, plain-text parts, no scripts, alt text, size, footer and unsubscribe link."""
    _exit(commands.validate_templates())


@task(name="preview")
def templates_preview(c):
    """Render every template with its sample context into build/preview/ (open index.html)."""
    _exit(commands.templates_preview())


@task(name="validate-schemas")
def validate_schemas(c):
    """Check the table schemas: JSON Schema validity, x-dynamodb keys and indexes, examples."""
    _exit(commands.validate_schemas())


@task(help={"env": ENV_HELP, "component": COMPONENT_HELP, "target": TARGET_HELP,
            "detailed-exitcode": "Exit 2 when the plan has changes (0 when none, 1 on error)."})
def plan(c, env, component=None, target=None, detailed_exitcode=False):
    """Plan components and save each plan for review under build/plans/<env>/<component>/."""
    _exit(commands.plan(env, component, target, detailed_exitcode))


@task(help={"env": ENV_HELP, "component": COMPONENT_HELP, "target": TARGET_HELP,
            "confirm": "The env's confirmation string: deploy-dev, promote-sit or promote-prod.",
            "allow-destroy": "destroy-<env>: let a plan delete or replace a table, bucket or "
                             "backup vault where the env has deletion_protection = true."})
def apply(c, env, component=None, target=None, confirm=None, allow_destroy=None):
    """Apply the plans saved by `invoke plan` (requires --confirm)."""
    _exit(commands.apply(env, component, target, confirm, allow_destroy))


@task(help={"env": ENV_HELP, "component": "The one component whose state is locked.",
            "target": TARGET_HELP, "lock-id": "The lock ID printed in the lock error."})
def unlock(c, env, component, lock_id, target=None):
    """Release a state lock a killed run left behind (check nobody is still applying first)."""
    _exit(commands.unlock(env, component, target, lock_id))


@task(help={"env": ENV_HELP, "target": TARGET_HELP})
def bootstrap(c, env, target=None):
    """Create the env's Terraform state bucket and lock table when missing (idempotent)."""
    _exit(commands.bootstrap(env, target))


@task(name="up", help={"port": "Port on 127.0.0.1 to listen on (default: a free one)."})
def sandbox_up(c, port=None):
    """Start the embedded AWS sandbox (a moto server on 127.0.0.1) unless it is running."""
    _exit(commands.sandbox_up(int(port) if port else None))


@task(name="down")
def sandbox_down(c):
    """Stop the sandbox; everything in it is discarded."""
    _exit(commands.sandbox_down())


@task(name="status")
def sandbox_status(c):
    """Say whether the sandbox runs, where, and for how many accounts (exit 1 if not running)."""
    _exit(commands.sandbox_status())


@task(name="env", help={"env": ENV_HELP})
def sandbox_env(c, env):
    """Print shell exports that point the AWS CLI and boto3 at the sandbox as the env's account:
    eval "$(invoke sandbox.env --env dev)"."""
    _exit(commands.sandbox_env(env))


@task(help={"env": ENV_HELP, "repeats": "Runs per warm measurement (the median is reported)."})
def bench(c, env="dev", repeats=3):
    """Print one JSON object of wall seconds: cold/warm init, plan of all components serially
    and in parallel (sandbox, throw-away work directory)."""
    _exit(commands.bench(env, int(repeats)))


sandbox = Collection("sandbox", sandbox_up, sandbox_down, sandbox_status, sandbox_env)
templates = Collection("templates", templates_preview)
ns = Collection(fmt, init, validate, validate_schemas, validate_templates, plan, apply,
                unlock, bootstrap, bench, sandbox, templates)
