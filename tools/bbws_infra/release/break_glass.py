"""Protected deletions run under the break-glass role, and the deploy path says so first.

Where deletion protection is on (prod), the deploy role's IAM policy denies deleting, and so
replacing, a table, bucket or backup vault; only the break-glass role may, and only jobs of the
`<env>-break-glass` GitHub environment (one approval more than the env's) can assume it. An
apply with `--allow-destroy` under any other identity would get as far as the first delete
and fail there with AccessDenied; this check refuses it before anything changes, naming the
role and the workflow. See docs/decisions/deletion-protection.md.

On the sandbox one operator key stands for every role (moto does not enforce the policies):
there the roles are proven by evaluating the recorded requests against each role's policy
(tests/e2e/test_iam_flows.py), and this check does not apply.
"""

from __future__ import annotations

from collections.abc import Mapping

from boto3 import Session

from bbws_infra.core.errors import UserError
from bbws_infra.core.registry import (
    BREAK_GLASS,
    Environment,
    break_glass_environment,
    role_name,
)


def assumed_role(caller_arn: str) -> str | None:
    """The role name of an assumed-role session ARN
    (arn:aws:sts::<account>:assumed-role/<role>/<session>), else None."""
    parts = caller_arn.split(":", 5)
    if len(parts) != 6 or parts[2] != "sts" or not parts[5].startswith("assumed-role/"):
        return None
    return parts[5].split("/")[1] or None


def check(target: str, env: Environment, session: Session,
          removals: Mapping[str, list[str]]) -> None:
    """Refuse (UserError, nothing changed) an apply on AWS that deletes or replaces protected
    resources unless it runs as env's break-glass role. `removals`: component -> protected
    addresses the plans remove (already allowed by name and confirmed)."""
    deleting = {name: addresses for name, addresses in removals.items() if addresses}
    if target != "aws" or not env.deletion_protection or not deleting:
        return
    caller = session.client("sts").get_caller_identity()["Arn"]
    expected = role_name(BREAK_GLASS, env.name)
    if assumed_role(caller) == expected:
        return
    what = "; ".join(f"{name}: {', '.join(addresses)}" for name, addresses in
                     sorted(deleting.items()))
    raise UserError(
        f"Deleting or replacing protected resources in {env.name} ({what}) needs the "
        f"break-glass role {expected}, which only the "
        f"{break_glass_environment(env.name)} GitHub environment's jobs can assume (the "
        f"break-glass workflow); these credentials are {caller}, whose policy denies it; "
        "nothing was changed.")
