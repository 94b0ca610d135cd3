"""Which AWS provider configurations a root uses (targets.provider_configurations): one shared
provider process serves only a root that uses one."""

from __future__ import annotations

import shutil
from pathlib import Path

from bbws_infra.core.paths import REPO_ROOT
from bbws_infra.targets import provider_configurations, targets

TREE = ("dynamodb", "s3", "monitoring", "modules", "envs")


def _staged(tmp_path: Path) -> Path:
    for name in TREE:
        shutil.copytree(REPO_ROOT / name, tmp_path / name, symlinks=True)
    return tmp_path


def test_prods_tables_and_bucket_use_the_dr_region_and_the_alerts_never(tmp_path: Path) -> None:
    stage = _staged(tmp_path)
    for root in ("dynamodb/tenants", "dynamodb/products", "dynamodb/campaigns",
                 "s3/templates"):
        assert provider_configurations.used(stage / root) == {"aws", "aws.dr"}, root
    assert provider_configurations.used(stage / "monitoring/alerts") == {"aws"}


def test_without_a_dr_region_the_override_leaves_one_configuration(tmp_path: Path) -> None:
    root = _staged(tmp_path) / "dynamodb" / "tenants"
    override = targets.dr_provider_override(root)
    assert override is not None
    (root / targets.DR_OVERRIDE_FILE).write_text(override)
    assert provider_configurations.used(root) == {"aws"}


def test_a_resource_given_another_configuration_or_a_module_with_its_own_count(
        tmp_path: Path) -> None:
    root = tmp_path / "root"
    module = tmp_path / "own_provider"
    root.mkdir()
    module.mkdir()
    (root / "main.tf").write_text(
        'provider "aws" {\n  region = "af-south-1"\n}\n'
        'provider "aws" {\n  alias  = "us"\n  region = "us-east-1"\n}\n'
        'resource "aws_s3_bucket" "logs" {\n  provider = aws.us\n  bucket = "x"\n}\n')
    assert provider_configurations.used(root) == {"aws", "aws.us"}
    # an override file replaces the attribute, as Terraform merges it
    (root / "zz_override.tf").write_text('resource "aws_s3_bucket" "logs" {\n'
                                         '  provider = aws\n}\n')
    assert provider_configurations.used(root) == {"aws"}
    (module / "main.tf").write_text('provider "aws" {\n  region = "eu-west-1"\n}\n')
    (root / "module.tf").write_text('module "legacy" {\n  source = "../own_provider"\n}\n')
    assert provider_configurations.used(root) == {"aws", "module legacy"}


def test_a_plans_configurations_are_its_resources_provider_keys() -> None:
    plan = {"configuration": {"root_module": {
        "resources": [{"provider_config_key": "aws"}],
        "module_calls": {"backup": {"module": {"resources": [
            {"provider_config_key": "aws.dr"}, {"provider_config_key": "aws"}]}}}}}}
    assert provider_configurations.used_by_plan(plan) == {"aws", "aws.dr"}
    assert provider_configurations.used_by_plan({"configuration": {"root_module": {}}}) == set()
