import os
import shutil
import subprocess
from pathlib import Path

import hcl2
import pytest

from bbws_infra.core import registry
from bbws_infra.core.errors import UserError
from bbws_infra.core.paths import REPO_ROOT
from bbws_infra.core.registry import COMPONENTS, load_environment
from bbws_infra.core.tfvars import plain
from bbws_infra.targets import targets


def test_hcl_values_render_as_terraform_literals():
    assert targets.hcl_value(True) == "true"
    assert targets.hcl_value(3) == "3"
    assert targets.hcl_value('a"b') == '"a\\"b"'
    assert targets.hcl_value(["1"]) == '["1"]'
    assert targets.hcl_value({"s3": "http://x"}) == '{ s3 = "http://x" }'


def test_go_processes_collect_at_four_times_their_heap_unless_the_caller_says(monkeypatch):
    monkeypatch.delenv("GOGC", raising=False)
    monkeypatch.setenv("GOMAXPROCS", "1")  # not passed on: only the variables kept
    env = targets.base_env(offline=True)
    assert env["GOGC"] == targets.GO_GC_PERCENT == "400"
    assert "GOMAXPROCS" not in env
    monkeypatch.setenv("GOGC", "100")
    assert targets.base_env(offline=False)["GOGC"] == "100"


def test_backend_settings_name_the_state_bucket_key_and_lock_table():
    settings = targets.backend_settings(load_environment("sit"), COMPONENTS["products"])
    assert settings == {
        "bucket": "bbws-terraform-state-sit",
        "key": "2_1_bbws_dynamodb_schemas/products/terraform.tfstate",
        "region": "af-south-1",
        "dynamodb_table": "terraform-state-lock-sit",
        "use_lockfile": True,  # both locks (docs/decisions/state-locking.md)
        "encrypt": True,
    }


def test_sandbox_override_points_both_providers_at_the_emulator(tmp_path: Path):
    text = targets.sandbox_provider_override("http://127.0.0.1:5555")
    path = tmp_path / "override.tf"
    path.write_text(text)
    with path.open() as handle:
        blocks = plain(hcl2.load(handle))["provider"]
    providers = [block["aws"] for block in blocks]
    assert sorted(p.get("alias", "") for p in providers) == ["", "dr"]
    for provider in providers:
        assert provider["skip_get_ec2_platforms"] is True
        assert provider["s3_force_path_style"] is True
        (endpoints,) = provider["endpoints"]  # a block parses as a list of one map
        assert set(endpoints) == set(targets.sandbox.SERVICES)
        assert set(endpoints.values()) == {"http://127.0.0.1:5555"}


def test_stage_writes_override_and_backend_only_into_work_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("BBWS_WORK_DIR", str(tmp_path))
    env = load_environment("dev")
    ctx = targets.TargetContext(
        target="sandbox", env=env, process_env={},
        backend={"endpoints": {"s3": "http://127.0.0.1:1"}, "use_path_style": True},
        provider_override=targets.sandbox_provider_override("http://127.0.0.1:1"),
        extra_vars=["example_variable=1"])
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
    assert ctx.var_args()[-1] == "-var=example_variable=1"

    # the aws target stages the same tree without the emulator override
    aws = targets.TargetContext(target="aws", env=env, process_env={},
                                backend={"allowed_account_ids": [env.account_id]})
    targets.stage(aws, [tenants])
    assert not (aws.root_dir(tenants) / targets.OVERRIDE_FILE).exists()
    assert 'allowed_account_ids = ["536580886816"]' in aws.backend_file(tenants).read_text()


def _sandbox_ctx(env_name: str) -> targets.TargetContext:
    return targets.TargetContext(
        target="sandbox", env=load_environment(env_name), process_env={}, backend={},
        provider_override=targets.sandbox_provider_override("http://127.0.0.1:1"))


def test_dr_override_hands_the_primary_provider_to_dr_modules(tmp_path, monkeypatch):
    """For a staged root, every module call that takes aws.dr gets aws instead (one provider
    process where no DR region is used); the text is valid HCL."""
    monkeypatch.setenv("BBWS_WORK_DIR", str(tmp_path))
    ctx = _sandbox_ctx("dev")
    targets.stage(ctx, [COMPONENTS["tenants"], COMPONENTS["templates"]])
    table = targets.dr_provider_override(ctx.root_dir(COMPONENTS["tenants"]))
    assert table == ("# Generated: this environment uses no DR region.\n"
                     'module "backup" {\n  providers = { aws = aws, aws.dr = aws }\n}\n')
    bucket = targets.dr_provider_override(ctx.root_dir(COMPONENTS["templates"]))
    assert 'module "replication" {\n  providers = { aws = aws, aws.dr = aws }\n}\n' in bucket
    (module,) = plain(hcl2.loads(table))["module"]
    # python-hcl2 spells the expression key aws.dr as "${aws.dr}"
    assert module["backup"]["providers"] == {"aws": "aws", "${aws.dr}": "aws"}


def test_dr_override_needs_a_module_that_asks_for_aws_dr(tmp_path):
    (tmp_path / "main.tf").write_text('module "table" {\n  source = "../x"\n}\n')
    assert targets.dr_provider_override(tmp_path) is None


def test_stage_writes_the_dr_override_only_where_dr_is_unused(tmp_path, monkeypatch):
    """dev (uses_dr False) gets the DR override; prod (uses_dr True) never has one."""
    monkeypatch.setenv("BBWS_WORK_DIR", str(tmp_path))
    tenants = COMPONENTS["tenants"]
    dev, prod = _sandbox_ctx("dev"), _sandbox_ctx("prod")
    assert (dev.env.uses_dr, prod.env.uses_dr) == (False, True)

    targets.stage(dev, [tenants])
    written = dev.root_dir(tenants) / targets.DR_OVERRIDE_FILE
    assert written.read_text() == targets.dr_provider_override(dev.root_dir(tenants))
    targets.stage(prod, [tenants])
    assert not (prod.root_dir(tenants) / targets.DR_OVERRIDE_FILE).exists()
    assert (prod.root_dir(tenants) / targets.OVERRIDE_FILE).exists()


def _git_repo(root: Path) -> None:
    """A git checkout of this repository's Terraform tree (tracked files only)."""
    for name in registry.TERRAFORM_TREE:
        shutil.copytree(REPO_ROOT / name, root / name, symlinks=True)
    identity = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
                "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "tree"]):
        subprocess.run(["git", *args], cwd=root, check=True, capture_output=True,
                       env={**os.environ, **identity})


def test_only_what_git_vouches_for_is_staged(tmp_path, monkeypatch):
    """Ignored files never reach a stage; untracked ones only in the first env (where the
    bundle reports the tree dirty); a link must lead to a listed file of the repository."""
    monkeypatch.setenv("BBWS_WORK_DIR", str(tmp_path / "work"))
    source = tmp_path / "repo"
    _git_repo(source)
    root = source / "dynamodb" / "tenants"
    (source / ".git" / "info" / "exclude").write_text("*_override.tf\n")
    (root / "evil_override.tf").write_text('resource "aws_s3_bucket" "evil" {}\n')
    (root / "untracked.tf").write_text("# not committed\n")
    tenants = COMPONENTS["tenants"]
    for env_name, untracked in (("dev", True), ("sit", False)):
        ctx = _sandbox_ctx(env_name)
        ctx.source = source
        targets.stage(ctx, [tenants])
        staged = ctx.root_dir(tenants)
        assert (staged / "main.tf").read_text() == (REPO_ROOT / "dynamodb/table_main.tf"
                                                    ).read_text()
        assert not (staged / "evil_override.tf").exists()
        assert (staged / "untracked.tf").exists() is untracked

    outside = tmp_path / "outside.tf"
    outside.write_text('resource "aws_s3_bucket" "evil" {}\n')
    (root / "linked.tf").symlink_to(outside)
    ctx = _sandbox_ctx("dev")
    ctx.source = source
    with pytest.raises(UserError, match=r"dynamodb/tenants/linked.tf is a link outside the "
                                        r"repository"):
        targets.stage(ctx, [tenants])
    (root / "linked.tf").unlink()
    (root / "linked.tf").symlink_to("evil_override.tf")  # inside, but ignored
    with pytest.raises(UserError, match="which git does not track"):
        targets.stage(ctx, [tenants])


def test_a_component_git_does_not_vouch_for_is_refused_by_name(tmp_path, monkeypatch):
    """A new root not yet committed is refused for sit with one sentence naming it, before
    anything is staged; an ignored one in dev too. An untracked one is planned in dev."""
    monkeypatch.setenv("BBWS_WORK_DIR", str(tmp_path / "work"))
    source = tmp_path / "repo"
    _git_repo(source)
    shutil.copytree(source / "dynamodb" / "tenants", source / "dynamodb" / "orders",
                    symlinks=True)
    orders = registry.Component("orders", "dynamodb")
    ctx = _sandbox_ctx("sit")
    ctx.source = source
    with pytest.raises(UserError, match=r"^dynamodb/orders/main.tf is not committed; sit is "
                                        r"planned from committed files only"):
        targets.stage(ctx, [orders])
    assert ctx.staged is None
    dev = _sandbox_ctx("dev")
    dev.source = source
    targets.stage(dev, [orders])
    assert (dev.root_dir(orders) / "main.tf").exists()
    (source / ".git" / "info" / "exclude").write_text("dynamodb/orders/\n")
    dev = _sandbox_ctx("dev")
    dev.source = source
    with pytest.raises(UserError, match=r"^dynamodb/orders/main.tf is ignored by git"):
        targets.stage(dev, [orders])


def test_each_command_stages_into_a_folder_of_its_own(tmp_path, monkeypatch):
    """Two stagings never share a folder; a folder is removed only once no command uses it."""
    monkeypatch.setenv("BBWS_WORK_DIR", str(tmp_path))
    tenants = COMPONENTS["tenants"]
    first, second = _sandbox_ctx("dev"), _sandbox_ctx("dev")
    targets.stage(first, [tenants])
    targets.stage(second, [tenants])
    assert first.stage_dir != second.stage_dir
    assert first.stage_dir.exists()  # still held by this process: never pruned
    held = list(targets._stage_locks)
    for handle in held:
        handle.close()
    targets._stage_locks.clear()
    third = _sandbox_ctx("dev")
    targets.stage(third, [tenants])
    assert not first.stage_dir.exists() and not second.stage_dir.exists()
    assert third.stage_dir.exists()
