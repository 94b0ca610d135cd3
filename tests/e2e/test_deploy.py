"""The one deploy path, end to end on the sandbox: `invoke apply` takes only a bundle that is
still exactly what was reviewed, and every refusal changes nothing (state versions, resources
and bundles are compared before and after).

Runs in a throw-away git copy of the repository, so tests can commit, dirty the tree and change
schemas without touching the real one.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import time
from pathlib import Path

import pytest

from bbws_infra.bench import repo_copy
from tests.support.repo_copies import Copy, make_copy

pytestmark = pytest.mark.e2e

TABLE = "module.table.aws_dynamodb_table.this"


@pytest.fixture(scope="module")
def copy(work: Path, tmp_path_factory: pytest.TempPathFactory):
    yield from make_copy("deploy", work, tmp_path_factory)


def test_bundle_records_what_was_reviewed(copy: Copy):
    copy.ok("plan", "--env", "dev", "--component", "tenants")
    directory = copy.bundle_dir("dev", "tenants")
    record = json.loads((directory / "bundle.json").read_text())
    head = repo_copy.git(copy.root, "rev-parse", "HEAD").strip()
    assert record["commit"] == head and record["dirty"] is False
    assert (record["target"], record["env"], record["component"]) == ("sandbox", "dev", "tenants")
    for name, key in (("tfplan", "plan_sha256"), ("plan.json", "plan_json_sha256")):
        assert hashlib.sha256((directory / name).read_bytes()).hexdigest() == record[key]
    assert record["provider_versions"] == {"registry.terraform.io/hashicorp/aws": "3.39.0"}
    assert record["terraform_version"].startswith("1.")
    lock = copy.root / "dynamodb" / "tenants" / ".terraform.lock.hcl"
    assert record["lock_file_sha256"] == hashlib.sha256(lock.read_bytes()).hexdigest()
    assert record["who"] == "bbws-test <bbws-test@example.invalid>"
    summary = (directory / "summary.md").read_text()
    assert summary.startswith("### tenants in dev (sandbox)") and TABLE in summary


def test_wrong_and_missing_confirmation_change_nothing(copy: Copy):
    copy.ok("plan", "--env", "dev", "--component", "tenants")
    before = copy.snapshot("dev")
    assert "Applying to dev needs --confirm deploy-dev" in copy.refused(
        "apply", "--env", "dev", "--component", "tenants")
    assert "needs --confirm deploy-dev" in copy.refused(
        "apply", "--env", "dev", "--component", "tenants", "--confirm", "promote-dev")
    assert copy.snapshot("dev") == before


def test_tampered_plan_file_is_refused(copy: Copy):
    copy.ok("plan", "--env", "dev", "--component", "tenants")
    plan_file = copy.bundle_dir("dev", "tenants") / "tfplan"
    plan_file.write_bytes(plan_file.read_bytes() + b"\0")
    before = copy.snapshot("dev")
    message = copy.refused("apply", "--env", "dev", "--component", "tenants", "--confirm",
                           "deploy-dev")
    assert "The saved tfplan of tenants in dev is missing or no longer matches the hash" in message
    assert copy.snapshot("dev") == before


def test_a_bundle_of_another_env_is_refused(copy: Copy):
    copy.ok("plan", "--env", "sit", "--component", "tenants")
    dev_dir = copy.bundle_dir("dev", "tenants")
    shutil.rmtree(dev_dir)
    shutil.copytree(copy.bundle_dir("sit", "tenants"), dev_dir)
    before = copy.snapshot("dev")
    message = copy.refused("apply", "--env", "dev", "--component", "tenants", "--confirm",
                           "deploy-dev")
    assert "was made for tenants in sit (sandbox), not tenants in dev (sandbox)" in message
    assert copy.snapshot("dev") == before


def test_a_commit_after_the_plan_is_refused(copy: Copy):
    copy.ok("plan", "--env", "dev", "--component", "tenants")
    planned_at = repo_copy.git(copy.root, "rev-parse", "HEAD").strip()
    (copy.root / "docs" / "note.md").write_text("a change after review\n")
    repo_copy.git(copy.root, "add", "-A")
    repo_copy.git(copy.root, "commit", "-q", "-m", "after the plan")
    before = copy.snapshot("dev")
    message = copy.refused("apply", "--env", "dev", "--component", "tenants", "--confirm",
                           "deploy-dev")
    assert f"was made at commit {planned_at[:12]}, but the working tree is at" in message
    assert copy.snapshot("dev") == before


def test_changed_inputs_after_the_plan_are_refused(copy: Copy):
    copy.ok("plan", "--env", "dev", "--component", "tenants")
    tfvars = copy.root / "envs" / "dev.tfvars"
    original = tfvars.read_text()
    tfvars.write_text(original.replace('Owner      = "Tebogo"', 'Owner      = "Someone"'))
    try:
        before = copy.snapshot("dev")
        message = copy.refused("apply", "--env", "dev", "--component", "tenants", "--confirm",
                               "deploy-dev")
        assert "The inputs of tenants in dev" in message and "changed since the plan" in message
        assert copy.snapshot("dev") == before
    finally:
        tfvars.write_text(original)


def test_a_plan_older_than_max_age_is_refused(copy: Copy):
    copy.ok("plan", "--env", "dev", "--component", "tenants")
    time.sleep(1.5)
    before = copy.snapshot("dev")
    message = copy.refused("apply", "--env", "dev", "--component", "tenants", "--confirm",
                           "deploy-dev", "--max-age", "1s")
    assert "older than --max-age 1s" in message
    assert copy.snapshot("dev") == before


def test_state_moved_by_another_apply_is_refused(copy: Copy, tmp_path: Path):
    copy.ok("plan", "--env", "dev", "--component", "products")
    reviewed = tmp_path / "reviewed"
    shutil.copytree(copy.bundle_dir("dev", "products"), reviewed, ignore=lambda *_: ["applied"])
    # someone else plans and applies in between
    copy.ok("plan", "--env", "dev", "--component", "products")
    copy.ok("apply", "--env", "dev", "--component", "products", "--confirm", "deploy-dev")
    applied = list((copy.bundle_dir("dev", "products") / "applied").iterdir())
    assert len(applied) == 1 and (applied[0] / "bundle.json").exists()
    for item in reviewed.iterdir():
        shutil.copy2(item, copy.bundle_dir("dev", "products") / item.name)
    before = copy.snapshot("dev")
    message = copy.refused("apply", "--env", "dev", "--component", "products", "--confirm",
                           "deploy-dev")
    assert "The state of products in dev moved since the plan: it was serial 0" in message
    assert "someone applied in between" in message
    assert copy.snapshot("dev") == before


def test_a_dirty_tree_bundle_is_refused_for_sit(copy: Copy):
    readme = copy.root / "README.md"
    original = readme.read_text()
    readme.write_text(original + "\nan uncommitted edit\n")
    try:
        copy.ok("plan", "--env", "sit", "--component", "campaigns")
        record = json.loads((copy.bundle_dir("sit", "campaigns") / "bundle.json").read_text())
        assert record["dirty"] is True
        before = copy.snapshot("sit")
        message = copy.refused("apply", "--env", "sit", "--component", "campaigns",
                               "--confirm", "promote-sit")
        assert "uncommitted changes, which sit never accepts" in message
        assert copy.snapshot("sit") == before
    finally:
        readme.write_text(original)


def test_apply_without_component_applies_every_saved_bundle(copy: Copy):
    shutil.rmtree(copy.work / "plans" / "sandbox" / "dev", ignore_errors=True)
    assert "No saved plans for dev (sandbox)" in copy.refused("apply", "--env", "dev",
                                                              "--confirm", "deploy-dev")
    copy.ok("plan", "--env", "dev", "--component", "campaigns")
    out = copy.ok("apply", "--env", "dev", "--confirm", "deploy-dev")
    assert "campaigns" in out and "templates" not in out and "tenants" not in out
    assert not (copy.bundle_dir("dev", "campaigns") / "bundle.json").exists()
    (archived,) = (copy.bundle_dir("dev", "campaigns") / "applied").iterdir()
    assert (archived / "bundle.json").exists()
    assert "campaigns" in copy.session("dev").client("dynamodb").list_tables()["TableNames"]


def _set_dev_protection(copy: Copy, on: bool) -> None:
    tfvars = copy.root / "envs" / "dev.tfvars"
    old, new = (("false", "true") if on else ("true", "false"))
    text = tfvars.read_text()
    assert f"deletion_protection = {old}" in text
    tfvars.write_text(text.replace(f"deletion_protection = {old}", f"deletion_protection = {new}"))


def _rekey_campaigns(copy: Copy, range_key: str) -> None:
    schema = copy.root / "dynamodb" / "campaigns" / "campaign.schema.json"
    # the table's range key (SK or code; the indexes' is fromDate) and with it the one of the
    # access pattern that reads the table by its key (x-accessPatterns)
    schema.write_text(re.sub(r'"rangeKey": "(?:SK|code)"', f'"rangeKey": "{range_key}"',
                             schema.read_text()))


def test_deletion_protection_cannot_be_edited_out_of_a_bundle_or_switched_off_by_the_change(
        copy: Copy):
    table = "module.table.aws_dynamodb_table.this"
    plan = ("plan", "--env", "dev", "--component", "campaigns")
    apply = ("apply", "--env", "dev", "--component", "campaigns", "--confirm", "deploy-dev")
    allow = ("--allow-destroy", f"campaigns:{table}", "--confirm-destroy", "destroy-dev")
    _set_dev_protection(copy, on=True)
    protected = copy.commit("protect dev")
    copy.ok(*plan)
    copy.ok(*apply)

    # A replacement planned while protected: the guard reads the hash-checked plan, so a
    # bundle.json whose protected list was emptied by hand is refused all the same.
    _rekey_campaigns(copy, "code")
    copy.commit("re-key campaigns")
    copy.ok(*plan)
    record_path = copy.bundle_dir("dev", "campaigns") / "bundle.json"
    record = json.loads(record_path.read_text())
    assert record["protected_removals"] == [table]
    record_path.write_text(json.dumps({**record, "protected_removals": []}))
    before = copy.snapshot("dev")
    assert "deletion protection is on in envs/dev.tfvars" in copy.refused(*apply)
    assert copy.snapshot("dev") == before

    # The same replacement in a commit that also switches protection off: dev runs the
    # protected commit, so the switch only takes effect once applied.
    _set_dev_protection(copy, on=False)
    copy.commit("unprotect dev and re-key campaigns")
    copy.ok(*plan)
    before = copy.snapshot("dev")
    message = copy.refused(*apply)
    assert (f"deletion protection is on in envs/dev.tfvars of commit {protected[:12]}, which "
            "dev runs now") in message
    assert f"--allow-destroy campaigns:{table} --confirm-destroy destroy-dev" in message
    assert copy.snapshot("dev") == before
    copy.ok(*apply, *allow)
    keys = copy.session("dev").client("dynamodb").describe_table(
        TableName="campaigns")["Table"]["KeySchema"]
    assert {"AttributeName": "code", "KeyType": "RANGE"} in keys

    # Now dev runs an unprotected commit: the next replacement needs no override.
    _rekey_campaigns(copy, "SK")
    copy.commit("campaigns back to SK")
    copy.ok(*plan)
    copy.ok(*apply)
