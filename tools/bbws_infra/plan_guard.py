"""Deletion protection for provider 3.39, which lacks `deletion_protection_enabled`.

In an environment whose tfvars say `deletion_protection = true`, a plan that deletes or replaces
a table, bucket or backup vault is refused unless every such address is named with
`--allow-destroy <component>:<address>` (or the bare address, which then counts for every
component of the apply) and the operator types `--confirm-destroy destroy-<env>`. There is no
blanket override: naming each address is the point. See docs/runbooks/troubleshooting.md.
"""

from __future__ import annotations

from collections.abc import Iterable

from bbws_infra.errors import UserError
from bbws_infra.plan_summary import PlanSummary
from bbws_infra.registry import Environment

PROTECTED_TYPES = frozenset({"aws_dynamodb_table", "aws_s3_bucket", "aws_backup_vault"})


def protected_removals(env: Environment, summary: PlanSummary) -> list[str]:
    """Addresses the plan would delete or replace that deletion protection covers."""
    if not env.deletion_protection:
        return []
    return sorted(address for _, address, kind in summary.removals()
                  if kind in PROTECTED_TYPES)


def check(env: Environment, component: str, protected: list[str],
          allow_destroy: Iterable[str] = (), confirm_destroy: str | None = None) -> None:
    """Raise UserError unless every protected removal is allowed by name and confirmed."""
    if not protected:
        return
    allowed = set(allow_destroy)
    missing = [address for address in protected
               if address not in allowed and f"{component}:{address}" not in allowed]
    flags = " ".join(f"--allow-destroy {component}:{address}" for address in protected)
    if missing:
        raise UserError(
            f"The {env.name} plan for {component} deletes or replaces {', '.join(missing)}, "
            f"and deletion protection is on in envs/{env.name}.tfvars; nothing was changed. "
            f"If that is really intended, apply again with {flags} --confirm-destroy "
            f"{env.destroy_confirmation}.")
    if confirm_destroy != env.destroy_confirmation:
        raise UserError(
            f"Deleting {', '.join(protected)} in {env.name} needs --confirm-destroy "
            f"{env.destroy_confirmation} as well; nothing was changed.")
