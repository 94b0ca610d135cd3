"""bbws_infra.release.deploy, round 1 (check_offline and _check_record): everything refused
before anything starts, on bundles written into a temporary work directory (BBWS_WORK_DIR); no
sandbox, no Terraform. The same refusals end to end: tests/e2e/test_deploy.py."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from bbws_infra.core.errors import UserError
from bbws_infra.core.paths import REPO_ROOT
from bbws_infra.core.registry import COMPONENTS, load_environment
from bbws_infra.plans import bundle
from bbws_infra.release import deploy
from bbws_infra.targets import targets

TENANTS = COMPONENTS["tenants"]
NOW_COMMIT, _ = bundle.git_state(REPO_ROOT)


@pytest.fixture(autouse=True)
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("BBWS_WORK_DIR", str(tmp_path))
    return tmp_path


def _save(env_name: str = "dev", **changes: Any) -> Path:
    """A complete bundle of tenants for env on the sandbox, planned from this tree now; its
    record hashes its files (changes override the record's fields)."""
    env = load_environment(env_name)
    directory = bundle.bundle_dir("sandbox", env_name, TENANTS)
    directory.mkdir(parents=True)
    (directory / bundle.PLAN_FILE).write_bytes(b"PK not a real plan")
    (directory / bundle.PLAN_JSON).write_text(json.dumps(
        {"format_version": "1.2", "resource_changes": []}))
    (directory / bundle.SUMMARY_TEXT).write_text("no changes")
    (directory / bundle.SUMMARY_MARKDOWN).write_text("**no changes**")
    extra = list(targets.TARGET_IMPLEMENTATIONS["sandbox"].extra_vars)
    values: dict[str, Any] = dict(
        target="sandbox", env=env_name, component="tenants", commit=NOW_COMMIT, dirty=False,
        plan_sha256=bundle.sha256_file(directory / bundle.PLAN_FILE),
        plan_json_sha256=bundle.sha256_file(directory / bundle.PLAN_JSON),
        summary_text_sha256=bundle.sha256_file(directory / bundle.SUMMARY_TEXT),
        summary_markdown_sha256=bundle.sha256_file(directory / bundle.SUMMARY_MARKDOWN),
        state_lineage="L", state_serial=1, terraform_version="1.15.5", provider_versions={},
        lock_file_sha256="", inputs_sha256=bundle.inputs_fingerprint(env, TENANTS, extra),
        who="me", created_at=bundle.now_iso(), created_epoch=time.time())
    values.update(changes)
    (directory / bundle.RECORD).write_text(bundle.BundleRecord(**values).to_json())
    return directory


def _request(env_name: str = "dev", **changes: Any) -> deploy.DeployRequest:
    env = load_environment(env_name)
    values: dict[str, Any] = dict(env=env, target="sandbox", components=[TENANTS],
                                  confirm=env.apply_confirmation)
    values.update(changes)
    return deploy.DeployRequest(**values)


def test_a_complete_fresh_bundle_of_this_commit_is_approved():
    directory = _save()
    [approved] = deploy.check_offline(_request())
    assert approved.name == "tenants" and approved.directory == directory
    assert approved.record.commit == NOW_COMMIT
    assert approved.protected_types_removed == []


@pytest.mark.parametrize(("action", "confirm", "expected"), [
    ("apply", None, "Applying to dev needs --confirm deploy-dev; nothing was changed."),
    ("apply", "deploy-sit", "Applying to dev needs --confirm deploy-dev; nothing was changed."),
    ("apply", "rollback-dev", "Applying to dev needs --confirm deploy-dev"),
    ("rollback", "deploy-dev", "Rolling back in dev needs --confirm rollback-dev; nothing"),
])
def test_the_wrong_confirmation_is_refused_before_any_bundle_is_read(action, confirm,
                                                                     expected):
    # no bundle saved: the confirmation is checked first
    with pytest.raises(UserError) as caught:
        deploy.check_offline(_request(confirm=confirm, action=action))
    assert str(caught.value).startswith(expected)


def test_no_saved_plan_names_the_plan_command():
    with pytest.raises(UserError, match=r"No saved plans for dev \(sandbox\); run: invoke "
                                        r"plan --env dev --target sandbox"):
        deploy.check_offline(_request(components=[]))
    with pytest.raises(UserError, match=r"No saved plan for tenants in dev \(sandbox\); run: "
                                        r"invoke plan --env dev --component tenants"):
        deploy.check_offline(_request())


@pytest.mark.parametrize("name", [bundle.PLAN_FILE, bundle.PLAN_JSON, bundle.SUMMARY_TEXT,
                                  bundle.SUMMARY_MARKDOWN])
def test_a_changed_or_missing_file_of_the_bundle_is_refused(name):
    directory = _save()
    (directory / name).write_bytes((directory / name).read_bytes() + b" ")
    with pytest.raises(UserError, match=rf"The saved {name} of tenants in dev is missing or "
                                        "no longer matches the hash recorded"):
        deploy.check_offline(_request())
    (directory / name).unlink()
    with pytest.raises(UserError, match=rf"The saved {name} of tenants in dev is missing"):
        deploy.check_offline(_request())


def test_a_plan_of_another_commit_is_refused_and_names_the_way_back():
    _save(commit="b" * 40)
    with pytest.raises(UserError) as caught:
        deploy.check_offline(_request())
    assert f"made at commit {'b' * 12}, but the working tree is at {NOW_COMMIT[:12]}" \
        in str(caught.value)
    assert str(caught.value).endswith(
        "plan again: invoke plan --env dev --component tenants --target sandbox.")
    # a promotion says its own way back
    with pytest.raises(UserError, match=r"plan again: invoke promote --to dev\.$"):
        deploy.check_offline(_request(replan="invoke promote --to dev"))


def test_changed_inputs_are_refused():
    _save(inputs_sha256="0" * 64)
    with pytest.raises(UserError, match=r"The inputs of tenants in dev \(.*\) changed since "
                                        r"the plan was made"):
        deploy.check_offline(_request())


def test_a_dirty_tree_is_accepted_in_dev_only():
    _save("dev", dirty=True)
    assert deploy.check_offline(_request("dev"))
    _save("sit", dirty=True)
    with pytest.raises(UserError, match="with uncommitted changes, which sit never accepts"):
        deploy.check_offline(_request("sit"))


@pytest.mark.parametrize(("age_s", "max_age", "refused"), [
    (2 * 3600, "24h", False),
    (25 * 3600, "24h", True),
    (25 * 3600, "2d", False),
    (120, "90s", True),
    (30, "90s", False),
])
def test_a_plan_older_than_max_age_is_refused(age_s, max_age, refused):
    _save(created_epoch=time.time() - age_s)
    if not refused:
        assert deploy.check_offline(_request(max_age=max_age))
        return
    with pytest.raises(UserError, match=rf"old, older than --max-age {max_age}; nothing was "
                                        "changed"):
        deploy.check_offline(_request(max_age=max_age))


def test_a_bad_max_age_is_refused():
    _save()
    with pytest.raises(UserError, match="--max-age 'soon' is not a duration"):
        deploy.check_offline(_request(max_age="soon"))


@pytest.mark.parametrize(("ahead_s", "refused"), [
    (60, False),  # within the clock skew allowed
    (deploy.CLOCK_SKEW_S + 60, True),
    (365 * 86400, True),
])
def test_a_plan_from_the_future_is_refused(ahead_s, refused):
    _save(created_epoch=time.time() + ahead_s, created_at="2099-01-01T00:00:00Z")
    if not refused:
        assert deploy.check_offline(_request())
        return
    with pytest.raises(UserError, match="made at 2099-01-01T00:00:00Z, which is in the "
                                        "future"):
        deploy.check_offline(_request())


def test_a_tampered_file_is_refused_before_the_age_or_commit_is_looked_at():
    """The hashes come first: a bundle whose files changed is never described as merely old."""
    directory = _save(commit="b" * 40, created_epoch=time.time() - 7 * 86400)
    (directory / bundle.PLAN_FILE).write_bytes(b"another plan")
    with pytest.raises(UserError, match="The saved tfplan of tenants in dev is missing or no "
                                        "longer matches"):
        deploy.check_offline(_request())
