import pytest

from bbws_infra.core.errors import UserError
from bbws_infra.core.registry import load_environment
from bbws_infra.plans import plan_guard
from bbws_infra.plans.plan_summary import Change, PlanSummary

TABLE = "module.table.aws_dynamodb_table.this"
VAULT = "module.backup.aws_backup_vault.this"
REPLACE_TABLE = Change("replace", TABLE, "aws_dynamodb_table")
DELETE_VAULT = Change("delete", VAULT, "aws_backup_vault")
DELETE_OBJECT = Change("delete", 'aws_s3_bucket_object.template["a.html"]',
                       "aws_s3_bucket_object")
UPDATE_BUCKET = Change("update", "module.templates_bucket.aws_s3_bucket.this", "aws_s3_bucket")
FORGET_BUCKET = Change("forget", "module.templates_bucket.aws_s3_bucket.this", "aws_s3_bucket")


def _summary(*changes):
    return PlanSummary(changes=list(changes))


def test_prod_lists_protected_removals_only():
    prod = load_environment("prod")
    summary = _summary(REPLACE_TABLE, DELETE_VAULT, DELETE_OBJECT, UPDATE_BUCKET)
    assert plan_guard.protected_removals(prod, summary) == [VAULT, TABLE]
    assert plan_guard.protected_removals(load_environment("dev"), summary) == []


def test_every_address_must_be_named_and_confirmed():
    prod = load_environment("prod")
    protected = [VAULT, TABLE]
    with pytest.raises(UserError) as refused:
        plan_guard.check(prod, "tenants", protected)
    message = str(refused.value)
    assert message.startswith(f"The prod plan for tenants deletes, replaces or forgets {VAULT}, "
                              f"{TABLE}, and deletion protection is on in envs/prod.tfvars; "
                              "nothing was changed.")
    assert (f"--allow-destroy tenants:{VAULT} --allow-destroy tenants:{TABLE} "
            "--confirm-destroy destroy-prod") in message
    # a partial list names what is still missing
    with pytest.raises(UserError, match=f"deletes, replaces or forgets {VAULT}, and"):
        plan_guard.check(prod, "tenants", protected, [f"tenants:{TABLE}"], "destroy-prod")
    # another component's allowance does not count
    with pytest.raises(UserError):
        plan_guard.check(prod, "tenants", protected, [f"products:{TABLE}", f"products:{VAULT}"],
                         "destroy-prod")
    # the full list still needs the confirmation string
    with pytest.raises(UserError, match="needs --confirm-destroy destroy-prod as well"):
        plan_guard.check(prod, "tenants", protected, [VAULT, TABLE], "destroy-dev")
    plan_guard.check(prod, "tenants", protected, [VAULT, f"tenants:{TABLE}"], "destroy-prod")
    # one value may hold several addresses (the break-glass workflow's one input)
    plan_guard.check(prod, "tenants", protected, [f"tenants:{VAULT}  tenants:{TABLE}"],
                     "destroy-prod")
    with pytest.raises(UserError, match=f"forgets {VAULT}, {TABLE}, and"):
        plan_guard.check(prod, "tenants", protected, [f"tenants:{VAULT},tenants:{TABLE}"],
                         "destroy-prod")


def test_nothing_protected_passes_without_flags():
    plan_guard.check(load_environment("prod"), "templates", [])


def test_forgetting_a_protected_resource_is_a_removal():
    prod = load_environment("prod")
    summary = _summary(FORGET_BUCKET, UPDATE_BUCKET)
    assert plan_guard.protected_removals(prod, summary) == [FORGET_BUCKET.address]
    with pytest.raises(UserError, match="deletes, replaces or forgets"):
        plan_guard.check(prod, "templates", plan_guard.protected_removals(prod, summary))
