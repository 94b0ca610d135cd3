"""Deletion protection for provider 3.39, which lacks `deletion_protection_enabled`: in an
environment whose tfvars say `deletion_protection = true`, a plan that deletes or replaces a
table, bucket or backup vault is refused unless the operator types the override string."""

from __future__ import annotations

from bbws_infra.errors import UserError
from bbws_infra.plan_summary import PlanSummary
from bbws_infra.registry import Environment

PROTECTED_TYPES = frozenset({"aws_dynamodb_table", "aws_s3_bucket", "aws_backup_vault"})


def destroy_confirmation(env: Environment) -> str:
    return f"destroy-{env.name}"


def protected_removals(env: Environment, summary: PlanSummary) -> list[str]:
    """Addresses the plan would delete or replace that deletion protection covers."""
    if not env.deletion_protection:
        return []
    return [address for _, address, kind in summary.removals() if kind in PROTECTED_TYPES]


def check(env: Environment, component: str, summary: PlanSummary,
          allow_destroy: str | None) -> None:
    """Raise UserError when the plan removes protected resources without the override."""
    removals = protected_removals(env, summary)
    if removals and allow_destroy != destroy_confirmation(env):
        raise UserError(
            f"The {env.name} plan for {component} deletes or replaces "
            f"{', '.join(removals)}, and deletion protection is on in "
            f"envs/{env.name}.tfvars; nothing was changed. If that is really intended, "
            f"apply again with --allow-destroy {destroy_confirmation(env)}.")
