import pytest

from bbws_infra.errors import UserError
from bbws_infra.registry import (
    COMPONENTS,
    env_names,
    load_environment,
    resolve_components,
    resolve_target,
)


def test_environments_come_from_tfvars():
    assert env_names() == ["dev", "prod", "sit"]
    dev, sit, prod = (load_environment(n) for n in ("dev", "sit", "prod"))
    assert (dev.account_id, sit.account_id, prod.account_id) == (
        "536580886816", "815856636111", "093646564004")
    assert {dev.region, sit.region, prod.region} == {"af-south-1"}
    assert prod.dr_region == "eu-west-1"
    assert (dev.deletion_protection, prod.deletion_protection) == (False, True)
    assert dev.values["backup_retention_days"] == 7
    assert sit.values["backup_retention_days"] == 14
    assert prod.values["backup_schedule"] == "cron(0 * * * ? *)"
    assert prod.values["tags"]["Owner"] == "Tebogo"


def test_state_location_follows_the_seed():
    prod = load_environment("prod")
    assert prod.state_bucket == "bbws-terraform-state-prod"
    assert prod.lock_table == "terraform-state-lock-prod"
    assert COMPONENTS["tenants"].state_key == "2_1_bbws_dynamodb_schemas/tenants/terraform.tfstate"
    assert COMPONENTS["templates"].state_key == "2_1_bbws_s3_schemas/templates/terraform.tfstate"
    assert COMPONENTS["campaigns"].root == "dynamodb/campaigns"
    assert COMPONENTS["templates"].root == "s3/templates"


def test_confirmation_strings():
    assert [load_environment(n).apply_confirmation for n in ("dev", "sit", "prod")] == [
        "deploy-dev", "promote-sit", "promote-prod"]
    assert load_environment("sit").rollback_confirmation == "rollback-sit"


def test_unknown_environment_lists_choices():
    with pytest.raises(UserError, match=r"Unknown environment 'qa'; choose one of: dev, prod, sit"):
        load_environment("qa")


def test_components_resolution():
    assert [c.name for c in resolve_components(None)] == [
        "tenants", "products", "campaigns", "templates"]
    assert [c.name for c in resolve_components("templates,tenants,tenants")] == [
        "templates", "tenants"]
    with pytest.raises(UserError, match="Unknown component 'orders'; choose one of: tenants"):
        resolve_components("tenants,orders")


def test_target_resolution(monkeypatch):
    monkeypatch.delenv("BBWS_TARGET", raising=False)
    assert resolve_target(None) == "sandbox"
    monkeypatch.setenv("BBWS_TARGET", "aws")
    assert resolve_target(None) == "aws"
    assert resolve_target("sandbox") == "sandbox"
    with pytest.raises(UserError, match="Unknown target 'prod'; choose one of: sandbox, aws"):
        resolve_target("prod")
