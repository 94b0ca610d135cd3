"""The bundle record: what it binds to, how it is written and read, and what it refuses."""

import json
import time
import zipfile
from pathlib import Path

import pytest

from bbws_infra.core.errors import UserError
from bbws_infra.core.registry import COMPONENTS, load_environment
from bbws_infra.plans import bundle
from bbws_infra.release import deploy

TENANTS = COMPONENTS["tenants"]


def _record(**changes) -> bundle.BundleRecord:
    values = dict(target="sandbox", env="dev", component="tenants", commit="a" * 40,
                  dirty=False, plan_sha256="1" * 64, plan_json_sha256="2" * 64,
                  summary_text_sha256="5" * 64, summary_markdown_sha256="6" * 64,
                  state_lineage="", state_serial=0, terraform_version="1.15.5",
                  provider_versions={"registry.terraform.io/hashicorp/aws": "3.39.0"},
                  lock_file_sha256="3" * 64, inputs_sha256="4" * 64, who="me",
                  created_at="2026-11-26T00:00:00Z", created_epoch=time.time())
    values.update(changes)
    return bundle.BundleRecord(**values)


def test_record_round_trips_and_rejects_other_formats():
    record = _record(protected_removals=["module.table.aws_dynamodb_table.this"])
    assert bundle.BundleRecord.from_json(record.to_json()) == record
    data = json.loads(record.to_json())
    data["format"] = 99
    with pytest.raises(ValueError, match="bundle format 99"):
        bundle.BundleRecord.from_json(json.dumps(data))


def test_state_snapshot_and_versions_come_from_the_plan_file(tmp_path: Path):
    plan_file = tmp_path / "tfplan"
    with zipfile.ZipFile(plan_file, "w") as archive:
        archive.writestr("tfstate", json.dumps({"version": 4, "lineage": "abc-123",
                                                "serial": 7}))
        archive.writestr(".terraform.lock.hcl", 'provider "registry.terraform.io/hashicorp/aws" '
                         '{\n  version     = "3.39.0"\n  constraints = "3.39.0"\n}\n')
    assert bundle.plan_state_snapshot(plan_file) == ("abc-123", 7)
    assert bundle.provider_versions(plan_file) == {"registry.terraform.io/hashicorp/aws":
                                                   "3.39.0"}


def test_inputs_fingerprint_covers_env_component_and_modules_only(tmp_path: Path):
    dev, sit = load_environment("dev"), load_environment("sit")
    files = {p.relative_to(bundle.REPO_ROOT).as_posix()
             for p in bundle.input_files(dev, TENANTS)}
    assert {"envs/dev.tfvars", "envs/providers.tf", "envs/providers.lock.hcl",
            "dynamodb/tenants/tenant.schema.json", "modules/dynamodb_table/main.tf"} <= files
    assert not {f for f in files if f.startswith(("dynamodb/products", "s3/"))}
    assert "envs/sit.tfvars" not in files and "envs/dev.usage.yml" not in files
    one = bundle.inputs_fingerprint(dev, TENANTS, [])
    assert one == bundle.inputs_fingerprint(dev, TENANTS, [])
    assert one != bundle.inputs_fingerprint(sit, TENANTS, [])
    assert one != bundle.inputs_fingerprint(dev, TENANTS, ["example_variable=1"])


def test_writer_moves_a_bundle_into_place_only_when_complete(tmp_path, monkeypatch):
    monkeypatch.setenv("BBWS_WORK_DIR", str(tmp_path))
    with bundle.BundleWriter("sandbox", "dev", TENANTS) as writer:
        for name in bundle.BUNDLE_FILES:
            writer.path(name).write_text(name)
        writer.commit()
    directory = bundle.bundle_dir("sandbox", "dev", TENANTS)
    assert sorted(p.name for p in directory.iterdir()) == sorted(bundle.BUNDLE_FILES)

    # a new plan removes the old record first; a failure leaves nothing that looks complete
    with pytest.raises(RuntimeError), bundle.BundleWriter("sandbox", "dev", TENANTS) as writer:
        writer.path(bundle.PLAN_FILE).write_text("half")
        raise RuntimeError("plan failed")
    assert not (directory / bundle.RECORD).exists()
    assert not (directory / ".incoming").exists()


def test_load_refuses_missing_unreadable_and_misplaced_bundles(tmp_path, monkeypatch):
    monkeypatch.setenv("BBWS_WORK_DIR", str(tmp_path))
    with pytest.raises(UserError, match=r"No saved plan for tenants in dev .sandbox.; run: "
                                        "invoke plan --env dev --component tenants"):
        bundle.load("sandbox", "dev", TENANTS)
    directory = bundle.bundle_dir("sandbox", "dev", TENANTS)
    directory.mkdir(parents=True)
    (directory / bundle.RECORD).write_text("{not json")
    with pytest.raises(UserError, match="is unreadable"):
        bundle.load("sandbox", "dev", TENANTS)
    (directory / bundle.RECORD).write_text(_record(env="sit").to_json())
    with pytest.raises(UserError, match=r"was made for tenants in sit .sandbox., not tenants "
                                        "in dev"):
        bundle.load("sandbox", "dev", TENANTS)
    (directory / bundle.RECORD).write_text(_record().to_json())
    assert bundle.load("sandbox", "dev", TENANTS).component == "tenants"


def test_archive_keeps_what_was_applied(tmp_path, monkeypatch):
    monkeypatch.setenv("BBWS_WORK_DIR", str(tmp_path))
    directory = bundle.bundle_dir("sandbox", "dev", TENANTS)
    directory.mkdir(parents=True)
    for name in bundle.BUNDLE_FILES:
        (directory / name).write_text(name)
    (directory / bundle.RECORD).write_text(_record().to_json())
    # a bundle other than the one applied (a new plan written meanwhile) stays for review
    assert bundle.archive("sandbox", "dev", TENANTS, "9" * 64) is None
    assert (directory / bundle.RECORD).exists()
    archived = bundle.archive("sandbox", "dev", TENANTS, "1" * 64)
    assert archived is not None and archived.parent == directory / bundle.APPLIED_DIR
    assert sorted(p.name for p in archived.iterdir()) == sorted(bundle.BUNDLE_FILES)
    assert not (directory / bundle.RECORD).exists()


@pytest.mark.parametrize(("text", "seconds"), [("24h", 86400), ("90m", 5400), ("30s", 30),
                                                ("2d", 172800), ("45", 45), ("1.5h", 5400)])
def test_max_age_durations(text, seconds):
    assert deploy.parse_age(text) == seconds


def test_bad_max_age_is_one_sentence():
    with pytest.raises(UserError, match=r"--max-age .soon. is not a duration; write e.g. 24h"):
        deploy.parse_age("soon")


def test_the_applied_copy_is_private_and_must_match_the_checked_hash(tmp_path, monkeypatch):
    monkeypatch.setenv("BBWS_WORK_DIR", str(tmp_path))
    directory = bundle.bundle_dir("sandbox", "dev", TENANTS)
    directory.mkdir(parents=True)
    (directory / bundle.PLAN_FILE).write_bytes(b"reviewed plan")
    checked = bundle.sha256_file(directory / bundle.PLAN_FILE)
    with bundle.private_copy("sandbox", "dev", TENANTS, checked) as private:
        assert private.read_bytes() == b"reviewed plan"
        assert tmp_path not in private.parents
        assert private.parent.stat().st_mode & 0o077 == 0
        # swapping the bundle's file now changes nothing that is applied
        (directory / bundle.PLAN_FILE).write_bytes(b"destroying plan")
        assert private.read_bytes() == b"reviewed plan"
    assert not private.exists()
    with pytest.raises(bundle.BundleTaken, match="applied nothing"), \
            bundle.private_copy("sandbox", "dev", TENANTS, checked):
        pass
    (directory / bundle.PLAN_FILE).unlink()
    with pytest.raises(bundle.BundleTaken, match="taken by another apply"), \
            bundle.private_copy("sandbox", "dev", TENANTS, checked):
        pass
