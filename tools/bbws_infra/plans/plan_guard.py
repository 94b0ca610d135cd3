"""Deletion protection for provider 3.39, which lacks `deletion_protection_enabled`.

In an environment whose tfvars say `deletion_protection = true`, a plan that deletes, replaces
or forgets (a `removed` block) a table, bucket or backup vault is refused unless every such
address is named with `--allow-destroy <component>:<address>` (or the bare address, which then
counts for every component of the apply) and the operator types
`--confirm-destroy destroy-<env>`. There is no blanket override: naming each address is the
point. The deploy path applies this to the plan file being applied (read in the applying
Terraform process), and also where a change turns protection off while the commit the env runs
has it on. See docs/decisions/deletion-protection.md.
"""

from __future__ import annotations

from collections.abc import Iterable

from bbws_infra.core.errors import UserError
from bbws_infra.core.registry import Environment
from bbws_infra.plans.plan_summary import PlanSummary

PROTECTED_TYPES = frozenset({"aws_dynamodb_table", "aws_s3_bucket", "aws_backup_vault"})


def removals(summary: PlanSummary) -> list[str]:
    """Addresses of the protected types the plan would delete, replace or forget (a forgotten
    table stays in the account but nothing guards or backs it up through Terraform)."""
    return sorted(c.address for c in summary.removals() if c.type in PROTECTED_TYPES)


def protected_removals(env: Environment, summary: PlanSummary) -> list[str]:
    """Addresses the plan would remove that the env's deletion protection covers."""
    return removals(summary) if env.deletion_protection else []


def check(env: Environment, component: str, protected: list[str],
          allow_destroy: Iterable[str] = (), confirm_destroy: str | None = None,
          switched_on_by: str | None = None) -> None:
    """Raise UserError unless every protected removal is allowed by name and confirmed.
    `switched_on_by` names where protection is on when not in the tfvars being applied."""
    if not protected:
        return
    where = switched_on_by or f"envs/{env.name}.tfvars"
    # one value may name several addresses, space-separated (a workflow input is one string)
    allowed = {address for value in allow_destroy for address in value.split()}
    missing = [address for address in protected
               if address not in allowed and f"{component}:{address}" not in allowed]
    flags = " ".join(f"--allow-destroy {component}:{address}" for address in protected)
    if missing:
        raise UserError(
            f"The {env.name} plan for {component} deletes, replaces or forgets "
            f"{', '.join(missing)}, "
            f"and deletion protection is on in {where}; nothing was changed. "
            f"If that is really intended, run it again with {flags} --confirm-destroy "
            f"{env.destroy_confirmation}.")
    if confirm_destroy != env.destroy_confirmation:
        raise UserError(
            f"Deleting {', '.join(protected)} in {env.name} needs --confirm-destroy "
            f"{env.destroy_confirmation} as well; nothing was changed.")
