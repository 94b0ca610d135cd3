from pathlib import Path

import hcl2

from bbws_infra import targets
from bbws_infra.registry import COMPONENTS, _plain, load_environment


def test_hcl_values_render_as_terraform_literals():
    assert targets.hcl_value(True) == "true"
    assert targets.hcl_value(3) == "3"
    assert targets.hcl_value('a"b') == '"a\\"b"'
    assert targets.hcl_value(["1"]) == '["1"]'
    assert targets.hcl_value({"s3": "http://x"}) == '{ s3 = "http://x" }'


def test_backend_settings_follow_the_seed():
    settings = targets.backend_settings(load_environment("sit"), COMPONENTS["products"])
    assert settings == {
        "bucket": "bbws-terraform-state-sit",
        "key": "2_1_bbws_dynamodb_schemas/products/terraform.tfstate",
        "region": "af-south-1",
        "dynamodb_table": "terraform-state-lock-sit",
        "encrypt": True,
    }


def test_sandbox_override_points_both_providers_at_the_emulator(tmp_path: Path):
    text = targets.sandbox_provider_override("http://127.0.0.1:5555")
    path = tmp_path / "override.tf"
    path.write_text(text)
    with path.open() as handle:
        blocks = _plain(hcl2.load(handle))["provider"]
    providers = [block.get("aws") or block['"aws"'] for block in blocks]
    assert sorted(p.get("alias", "") for p in providers) == ["", "dr"]
    for provider in providers:
        assert provider["skip_get_ec2_platforms"] is True
        assert provider["s3_force_path_style"] is True
        (endpoints,) = provider["endpoints"]  # a block parses as a list of one map
        endpoints.pop("__is_block__", None)
        assert set(endpoints) == set(targets.sandbox.SERVICES)
        assert set(endpoints.values()) == {"http://127.0.0.1:5555"}


def test_stage_writes_override_and_backend_only_into_work_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("BBWS_WORK_DIR", str(tmp_path))
    env = load_environment("dev")
    ctx = targets.TargetContext(
        target="sandbox", env=env, process_env={},
        backend={"endpoints": {"s3": "http://127.0.0.1:1"}, "use_path_style": True},
        provider_override=targets.sandbox_provider_override("http://127.0.0.1:1"),
        extra_vars=["create_backup_selection=false"])
    tenants = COMPONENTS["tenants"]
    targets.stage(ctx, [tenants])
    root = ctx.root_dir(tenants)
    assert root.is_relative_to(tmp_path)
    assert (root / targets.OVERRIDE_FILE).read_text().count('provider "aws"') == 2
    # symlinked shared files arrive as plain copies
    assert not (root / "providers.tf").is_symlink()
    assert "backend \"s3\"" in (root / "providers.tf").read_text()
    backend = ctx.backend_file(tenants).read_text()
    assert 'key = "2_1_bbws_dynamodb_schemas/tenants/terraform.tfstate"' in backend
    assert 'endpoints = { s3 = "http://127.0.0.1:1" }' in backend
    assert ctx.var_args()[-1] == "-var=create_backup_selection=false"

    # the aws target stages the same tree without the emulator override
    aws = targets.TargetContext(target="aws", env=env, process_env={},
                                backend={"allowed_account_ids": [env.account_id]})
    targets.stage(aws, [tenants])
    assert not (aws.root_dir(tenants) / targets.OVERRIDE_FILE).exists()
    assert 'allowed_account_ids = ["536580886816"]' in aws.backend_file(tenants).read_text()
