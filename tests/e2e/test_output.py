"""Output a person can copy: in a pipe (a CI log, `| less`, a pasted bug report) and at any
width, the tables of `state-versions`, `history`, `status`, `backups` and `doctor` keep every
version id, commit, ARN and lock id whole on one line; `--json` carries the same for scripts.

Runs in a throw-away git copy of the repository with its own sandbox: tenants deployed to dev
once, an on-demand backup taken and a stale state lock left, so that every kind of id shows.
"""

from __future__ import annotations

import json

import pytest

from bbws_infra.core.registry import COMPONENTS, load_environment
from tests.support.repo_copies import Copy, make_copy

pytestmark = pytest.mark.e2e

LOCK_ID = "3f1b1e52-9d7a-4c1e-8a57-5d9f6f0b6a01"
# None: rich's default of 80 columns when stdout is no terminal
WIDTHS = [None, "60"]


@pytest.fixture(scope="module")
def copy(work, tmp_path_factory):
    yield from make_copy("output", work, tmp_path_factory)


@pytest.fixture(scope="module")
def deployed(copy: Copy) -> Copy:
    """tenants applied in dev, one on-demand backup of its table, a lock a killed run left."""
    copy.ok("plan", "--env", "dev", "--component", "tenants")
    copy.ok("apply", "--env", "dev", "--confirm", "deploy-dev")
    env = load_environment("dev")
    dynamodb = copy.session("dev").client("dynamodb")
    dynamodb.create_backup(TableName="tenants", BackupName="tenants-before-the-output-test")
    lock_key = f"{env.state_bucket}/{COMPONENTS['tenants'].state_key}"
    info = {"ID": LOCK_ID, "Operation": "OperationTypeApply", "Who": "ci@runner",
            "Version": "1.15.5", "Created": "2026-11-22T02:00:00Z", "Path": lock_key}
    dynamodb.put_item(TableName=env.lock_table, Item={
        "LockID": {"S": lock_key}, "Info": {"S": json.dumps(info)}})
    return copy


def _piped(copy: Copy, columns: str | None, *args: str, code: int = 0) -> str:
    """The table a command prints into a pipe (stdout is no terminal)."""
    result = copy.invoke(*args, COLUMNS=columns)
    assert result.returncode == code, result.stdout + result.stderr
    return result.stdout


def _assert_unbroken(output: str, ids: list[str]) -> None:
    assert ids, "nothing to look for"
    lines = output.splitlines()
    broken = [i for i in ids if not any(i in line for line in lines)]
    assert not broken, f"split across lines: {broken}\n{output}"


@pytest.mark.parametrize("columns", WIDTHS)
def test_state_versions_keep_version_ids_and_commits_whole(deployed: Copy, columns):
    args = ("state-versions", "--env", "dev", "--component", "tenants")
    versions = deployed.json(*args)
    ids = [v["version_id"] for v in versions] + [v["commit"][:12] for v in versions
                                                   if v["commit"]]
    assert any(v["commit"] for v in versions)
    _assert_unbroken(_piped(deployed, columns, *args), ids)


@pytest.mark.parametrize("columns", WIDTHS)
def test_history_and_status_keep_commits_and_people_whole(deployed: Copy, columns):
    records = deployed.json("history", "--env", "dev")
    assert records
    _assert_unbroken(_piped(deployed, columns, "history", "--env", "dev"),
                     [r["commit"][:12] for r in records] + [r["who"] for r in records]
                     + [r["finished_at"] for r in records])
    deployed_now = [s["deployed"] for s in deployed.json("status") if s.get("deployed")]
    assert deployed_now
    _assert_unbroken(_piped(deployed, columns, "status"),
                     [d["commit"][:12] for d in deployed_now] + [d["finished_at"]
                                                                 for d in deployed_now])


@pytest.mark.parametrize("columns", WIDTHS)
def test_backups_keep_arns_and_names_whole(deployed: Copy, columns):
    args = ("backups", "--env", "dev", "--component", "tenants")
    found = deployed.json(*args)
    assert any(b["name"] == "tenants-before-the-output-test" for b in found)
    _assert_unbroken(_piped(deployed, columns, *args),
                     [b["arn"] for b in found] + [b["name"] for b in found])


@pytest.mark.parametrize("columns", WIDTHS)
def test_doctor_keeps_the_lock_id_and_its_unlock_command_whole(deployed: Copy, columns):
    args = ("doctor", "--env", "dev", "--component", "tenants")
    result = deployed.invoke(*args, "--json")
    assert result.returncode == 1, result.stderr
    lock = {f["check"]: f for f in json.loads(result.stdout)}["lock"]
    assert not lock["ok"] and LOCK_ID in lock["fix"]
    out = _piped(deployed, columns, *args, code=1)
    # the fix is a command to paste: whole, on one line
    _assert_unbroken(out, [LOCK_ID, lock["fix"]])
