import pytest

from bbws_infra import plan_guard
from bbws_infra.errors import UserError
from bbws_infra.plan_summary import PlanSummary
from bbws_infra.registry import load_environment


def _summary(*changes):
    return PlanSummary(changes=list(changes))


REPLACE_TABLE = ("replace", "module.table.aws_dynamodb_table.this", "aws_dynamodb_table")
DELETE_VAULT = ("delete", "module.backup.aws_backup_vault.this", "aws_backup_vault")
DELETE_OBJECT = ("delete", 'aws_s3_bucket_object.template["a.html"]', "aws_s3_bucket_object")
UPDATE_BUCKET = ("update", "module.templates_bucket.aws_s3_bucket.this", "aws_s3_bucket")


def test_prod_refuses_to_remove_protected_resources():
    prod = load_environment("prod")
    summary = _summary(REPLACE_TABLE, DELETE_VAULT, DELETE_OBJECT, UPDATE_BUCKET)
    assert plan_guard.protected_removals(prod, summary) == [
        "module.table.aws_dynamodb_table.this", "module.backup.aws_backup_vault.this"]
    with pytest.raises(UserError) as refused:
        plan_guard.check(prod, "tenants", summary, allow_destroy=None)
    message = str(refused.value)
    assert "deletion protection is on in envs/prod.tfvars; nothing was changed" in message
    assert "--allow-destroy destroy-prod" in message
    with pytest.raises(UserError):
        plan_guard.check(prod, "tenants", summary, allow_destroy="destroy-dev")
    plan_guard.check(prod, "tenants", summary, allow_destroy="destroy-prod")  # explicit override


def test_ordinary_changes_and_unprotected_envs_pass():
    prod, dev = load_environment("prod"), load_environment("dev")
    plan_guard.check(prod, "templates", _summary(DELETE_OBJECT, UPDATE_BUCKET), None)
    assert dev.deletion_protection is False
    plan_guard.check(dev, "tenants", _summary(REPLACE_TABLE, DELETE_VAULT), None)
