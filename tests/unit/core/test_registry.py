from pathlib import Path

import pytest

from bbws_infra.core import registry
from bbws_infra.core.errors import UserError
from bbws_infra.core.registry import (
    COMPONENTS,
    discover_components,
    env_names,
    load_environment,
    provider_aliases,
    resolve_components,
    resolve_target,
)


def test_environments_come_from_tfvars_in_promotion_order():
    """env_names() follows PROMOTION_ORDER, and each env's values come from its tfvars."""
    assert env_names() == ["dev", "sit", "prod"] == list(registry.PROMOTION_ORDER)
    dev, sit, prod = (load_environment(n) for n in ("dev", "sit", "prod"))
    assert (dev.account_id, sit.account_id, prod.account_id) == (
        "536580886816", "815856636111", "093646564004")
    assert {dev.region, sit.region, prod.region} == {"af-south-1"}
    assert prod.dr_region == "eu-west-1"
    assert (dev.deletion_protection, prod.deletion_protection) == (False, True)
    assert (dev.uses_dr, sit.uses_dr, prod.uses_dr) == (False, False, True)
    assert dev.values["backup_retention_days"] == 7
    assert sit.values["backup_retention_days"] == 14
    assert prod.values["backup_schedule"] == "cron(0 * * * ? *)"
    assert prod.values["tags"]["Owner"] == "Tebogo"


def test_state_location_keeps_the_agreed_names():
    """State bucket, lock table and state keys keep the agreed names."""
    prod = load_environment("prod")
    assert prod.state_bucket == "bbws-terraform-state-prod"
    assert prod.lock_table == "terraform-state-lock-prod"
    assert COMPONENTS["tenants"].state_key == "2_1_bbws_dynamodb_schemas/tenants/terraform.tfstate"
    assert COMPONENTS["templates"].state_key == "2_1_bbws_s3_schemas/templates/terraform.tfstate"
    assert COMPONENTS["campaigns"].root == "dynamodb/campaigns"
    assert COMPONENTS["templates"].root == "s3/templates"


def test_confirmation_strings():
    """The first env deploys, the later ones promote."""
    assert [load_environment(n).apply_confirmation for n in ("dev", "sit", "prod")] == [
        "deploy-dev", "promote-sit", "promote-prod"]
    assert load_environment("sit").rollback_confirmation == "rollback-sit"
    assert load_environment("prod").destroy_confirmation == "destroy-prod"


def test_unknown_environment_lists_choices_in_promotion_order():
    with pytest.raises(UserError) as error:
        load_environment("qa")
    assert str(error.value) == "Unknown environment 'qa'; choose one of: dev, sit, prod."


def test_components_are_the_folders_holding_a_main_tf():
    """The repository's components are discovered from dynamodb/, s3/ and monitoring/."""
    assert list(COMPONENTS) == ["campaigns", "products", "tenants", "templates", "alerts"]
    assert {c.kind for c in COMPONENTS.values()} == {"dynamodb", "s3", "monitoring"}


def _tree(root: Path, roots: list[str]) -> Path:
    for rel in roots:
        (root / rel).mkdir(parents=True)
        (root / rel / "main.tf").write_text("# component root\n")
    return root


def test_adding_a_table_is_adding_a_folder(tmp_path: Path):
    """A new dynamodb/<name>/main.tf is a component with its own root and state key; a
    folder without main.tf is not."""
    repo = _tree(tmp_path, [*(c.root for c in COMPONENTS.values()), "dynamodb/orders"])
    (repo / "dynamodb" / "notes").mkdir()
    (repo / "dynamodb" / "notes" / "README.md").write_text("not a root\n")
    found = discover_components(repo)
    assert list(found) == ["campaigns", "orders", "products", "tenants", "templates", "alerts"]
    assert found["orders"].root == "dynamodb/orders"
    assert found["orders"].state_key == (
        "2_1_bbws_dynamodb_schemas/orders/terraform.tfstate")


def test_a_component_name_under_both_folders_is_refused(tmp_path: Path):
    repo = _tree(tmp_path, ["dynamodb/templates", "s3/templates"])
    with pytest.raises(UserError) as error:
        discover_components(repo)
    assert str(error.value) == ("Component 'templates' exists under both dynamodb/ and s3/; "
                                "component names must be unique.")


def test_a_tfvars_file_outside_the_promotion_order_is_refused(tmp_path: Path):
    (tmp_path / "envs").mkdir()
    for name in ("dev", "qa", "sit"):
        (tmp_path / "envs" / f"{name}.tfvars").write_text("")
    with pytest.raises(UserError) as error:
        env_names(tmp_path)
    assert str(error.value) == ("envs/qa.tfvars is not an environment this project promotes "
                                "through (dev, sit, prod); rename or remove it.")


def test_provider_aliases_come_from_envs_providers_tf():
    """The default aws provider first (None), then the DR alias."""
    assert provider_aliases() == (None, "dr")


def test_components_resolution():
    assert [c.name for c in resolve_components(None)] == [
        "campaigns", "products", "tenants", "templates", "alerts"]
    assert resolve_components("all") == resolve_components(None)
    assert [c.name for c in resolve_components("templates,tenants,tenants")] == [
        "templates", "tenants"]
    with pytest.raises(UserError) as error:
        resolve_components("tenants,orders")
    assert str(error.value) == ("Unknown component 'orders'; choose one of: campaigns, "
                                "products, tenants, templates, alerts (or omit --component "
                                "for all).")


def test_help_texts_list_the_registry():
    """Flag help is built from the lists, in promotion and discovery order."""
    assert registry.ENV_HELP == ("Environment: dev, sit, prod (values come from "
                                 "envs/<env>.tfvars).")
    assert registry.COMPONENT_HELP == ("Component: campaigns, products, tenants, templates, "
                                       "alerts; comma-separate several; omit for all.")
    assert registry.CONFIRM_HELP == ("The env's confirmation string: deploy-dev, promote-sit, "
                                     "promote-prod.")


def test_target_resolution(monkeypatch):
    monkeypatch.delenv("BBWS_TARGET", raising=False)
    assert resolve_target(None) == "sandbox"
    monkeypatch.setenv("BBWS_TARGET", "aws")
    assert resolve_target(None) == "aws"
    assert resolve_target("sandbox") == "sandbox"
    with pytest.raises(UserError, match="Unknown target 'prod'; choose one of: sandbox, aws"):
        resolve_target("prod")
