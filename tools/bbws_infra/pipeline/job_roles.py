"""Which of an environment's IAM roles (pipeline/iam_policy.py) a task runs as in GitHub Actions:
the one place the workflows follow (a job that assumes the plan role, `vars.AWS_PLAN_ROLE_ARN`,
runs only plan-role tasks; a job that assumes the deploy or break-glass role runs at least one
task that needs it) and the tests evaluate each recorded run against.

The plan role's tasks change nothing in AWS (a state lock aside, and verify's canary items,
written and deleted within the run where the env's tfvars allow them: pipeline/iam_data.py):
plans, drift, verify, doctor without --fix-digest, a migration's dry run, and the read-outs
(a plan's review, an apply job's summary and the status page among them).
Everything that writes the state, the ledger or a managed resource needs the deploy role; a
promotion that deletes protected resources (--allow-destroy) the break-glass role. Tasks not
listed touch no AWS account.
"""

from __future__ import annotations

from collections.abc import Sequence

from bbws_infra.core.registry import BREAK_GLASS
from bbws_infra.pipeline.iam_policy import DEPLOY, PLAN

# The repository variable holding each role's ARN, as the workflows name it.
ROLE_VARIABLES = {PLAN: "AWS_PLAN_ROLE_ARN", DEPLOY: "AWS_DEPLOY_ROLE_ARN",
                  BREAK_GLASS: "AWS_BREAK_GLASS_ROLE_ARN"}
PLAN_TASKS = frozenset({"plan", "drift", "verify", "doctor", "history", "status",
                        "state-versions", "backups", "alarms", "migrations", "plan-review",
                        "run-summary", "report"})
DEPLOY_TASKS = frozenset({"apply", "promote", "rollback", "unlock", "migrate"})
# Flags that turn a plan-role task into one that writes, a deploy task into a plan, or a
# promotion into one that deletes protected resources.
_WRITING_FLAGS = {"doctor": "--fix-digest"}
_PLANNING_FLAGS = {"promote": "--plan-only", "migrate": "--dry-run"}
_DESTROYING_FLAGS = {"promote": "--allow-destroy"}


def role_for(task: str, args: Sequence[str] = ()) -> str | None:
    """PLAN, DEPLOY or BREAK_GLASS for `invoke <task> <args>`, None when the task uses no AWS
    account."""
    if task in _PLANNING_FLAGS and _PLANNING_FLAGS[task] in args:
        return PLAN
    if task in _DESTROYING_FLAGS and _DESTROYING_FLAGS[task] in args:
        return BREAK_GLASS
    if task in _WRITING_FLAGS and _WRITING_FLAGS[task] in args:
        return DEPLOY
    if task in PLAN_TASKS:
        return PLAN
    return DEPLOY if task in DEPLOY_TASKS else None
