"""Rollback on the sandbox: a component goes back to what an earlier state version described
by planning that version's commit against the current state (so what was created since is
destroyed), through every guard of the deploy path; `--restore-state` repairs a damaged state
without orphaning anything unasked; `doctor` finds a broken digest and a stale lock.

Runs in a throw-away git copy of the repository; the tests build on each other in file order.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from bbws_infra.bench import repo_copy
from bbws_infra.core.registry import COMPONENTS, load_environment
from tests.support.leftovers import held_locks, terraform_processes_under
from tests.support.repo_copies import Copy, make_copy

pytestmark = pytest.mark.e2e

DEV_BUCKET = "bbws-templates-dev"
TEMPLATES = "s3/templates/templates"
CHANGED_KEY = "receipts/receipt.html"
NEW_KEY = "receipts/receipt_v2.html"
NEW_OBJECT = f'aws_s3_bucket_object.template["{NEW_KEY}"]'
REMOVED = 'aws_s3_bucket_object.template["receipts/order.html"]'


@pytest.fixture(scope="module")
def copy(work, tmp_path_factory):
    yield from make_copy("rollback", work, tmp_path_factory)


def _versions(copy: Copy, component: str) -> list[dict]:
    return copy.json("state-versions", "--env", "dev", "--component", component)


def _edit_release(copy: Copy) -> None:
    """A template reworded, a new template (a new object), an index's projection changed."""
    root = copy.root
    changed = root / TEMPLATES / CHANGED_KEY
    changed.write_text(changed.read_text() + "<!-- reworded -->\n")
    for suffix in ("html", "txt"):
        source = root / TEMPLATES / f"receipts/receipt.{suffix}"
        (root / TEMPLATES / f"receipts/receipt_v2.{suffix}").write_bytes(source.read_bytes())
    contracts_path = root / "s3" / "templates" / "contracts.json"
    contracts = json.loads(contracts_path.read_text())
    entry = next(t for t in contracts["templates"] if t["key"] == CHANGED_KEY)
    contracts["templates"].append({**entry, "key": NEW_KEY, "text_key": "receipts/receipt_v2.txt"})
    contracts_path.write_text(json.dumps(contracts, indent=2) + "\n")
    schema = root / "dynamodb" / "tenants" / "tenant.schema.json"
    document = json.loads(schema.read_text())
    email = next(g for g in document["x-dynamodb"]["globalSecondaryIndexes"]
                 if g["name"] == "EmailIndex")
    email["projectionType"] = "KEYS_ONLY"
    # the access pattern on it then gets back its keys only (or the schema check refuses)
    pattern = next(p for p in document["x-accessPatterns"] if p.get("index") == "EmailIndex")
    pattern["attributes"] = ["email"]
    schema.write_text(json.dumps(document, indent=2) + "\n")


@pytest.fixture(scope="module")
def release(copy: Copy) -> dict:
    """Commit 1 deployed, then commit 2 (the edits above) deployed over it."""
    both = "tenants,templates"
    copy.ok("plan", "--env", "dev", "--component", both)
    copy.ok("apply", "--env", "dev", "--confirm", "deploy-dev")
    first = copy.head()
    before = {c: _versions(copy, c)[0] for c in ("tenants", "templates")}
    _edit_release(copy)
    second = copy.commit("reword a receipt, add receipt_v2, keys-only EmailIndex")
    copy.ok("plan", "--env", "dev", "--component", both)
    copy.ok("apply", "--env", "dev", "--confirm", "deploy-dev")
    return {"first": first, "second": second, "v1": before}


def _email_projection(copy: Copy) -> str:
    table = copy.session("dev").client("dynamodb").describe_table(TableName="tenants")["Table"]
    (index,) = [g for g in table["GlobalSecondaryIndexes"] if g["IndexName"] == "EmailIndex"]
    return index["Projection"]["ProjectionType"]


def test_state_versions_name_the_commit_of_each_write(copy: Copy, release: dict):
    versions = _versions(copy, "templates")
    assert versions[0]["current"] and not any(v["current"] for v in versions[1:])
    assert (versions[0]["commit"], versions[0]["action"]) == (release["second"], "apply")
    v1 = release["v1"]["templates"]
    assert v1["commit"] == release["first"]
    assert [v["serial"] for v in versions] == sorted((v["serial"] for v in versions),
                                                     reverse=True)
    assert v1["version_id"] in {v["version_id"] for v in versions}
    assert _email_projection(copy) == "KEYS_ONLY"


def test_refusals_change_nothing(copy: Copy, release: dict):
    env = load_environment("dev")
    s3 = copy.session("dev").client("s3")
    key = COMPONENTS["tenants"].state_key
    current = s3.get_object(Bucket=env.state_bucket, Key=key)["Body"].read()
    # a version of another lineage, then the current bytes again (the digest stays right)
    foreign = {**json.loads(current), "lineage": "another-history", "serial": 1}
    other = s3.put_object(Bucket=env.state_bucket, Key=key,
                          Body=json.dumps(foreign).encode())["VersionId"]
    unrecorded = s3.put_object(Bucket=env.state_bucket, Key=key, Body=current)["VersionId"]
    # someone holds the templates lock
    lock_key = f"{env.state_bucket}/{COMPONENTS['templates'].state_key}"
    dynamodb = copy.session("dev").client("dynamodb")
    dynamodb.put_item(TableName=env.lock_table, Item={
        "LockID": {"S": lock_key},
        "Info": {"S": json.dumps({"ID": "lock-1", "Operation": "OperationTypeApply",
                                  "Who": "someone@laptop", "Created": "2026-11-26T08:00:00Z"})}})
    v1 = release["v1"]
    rollback = ("rollback", "--env", "dev")
    cases = [
        ((*rollback, "--component", "templates", "--version-id", v1["templates"]["version_id"]),
         "needs --confirm rollback-dev"),
        ((*rollback, "--component", "templates", "--version-id", v1["templates"]["version_id"],
          "--confirm", "deploy-dev"), "needs --confirm rollback-dev"),
        ((*rollback, "--component", "templates", "--version-id", "no-such-version",
          "--confirm", "rollback-dev"), "has no version no-such-version"),
        ((*rollback, "--component", "templates", "--version-id", v1["tenants"]["version_id"],
          "--confirm", "rollback-dev"), "belongs to the state of tenants, not templates"),
        ((*rollback, "--component", "tenants", "--version-id", other, "--confirm",
          "rollback-dev"), "belongs to another state lineage"),
        ((*rollback, "--component", "tenants", "--version-id", unrecorded, "--confirm",
          "rollback-dev"), "The ledger names no commit for version"),
        ((*rollback, "--component", "templates", "--version-id", v1["templates"]["version_id"],
          "--confirm", "rollback-dev"), "is locked by someone@laptop"),
    ]
    before = copy.snapshot("dev")
    try:
        for args, message in cases:
            said = copy.refused(*args)
            assert message in said and "nothing was changed" in said, (args, said)
            assert copy.snapshot("dev") == before, args
    finally:
        dynamodb.delete_item(TableName=env.lock_table, Key={"LockID": {"S": lock_key}})


def test_rollback_returns_to_the_earlier_version(copy: Copy, release: dict):
    v1 = release["v1"]
    s3 = copy.session("dev").client("s3")
    assert s3.head_object(Bucket=DEV_BUCKET, Key=NEW_KEY)
    before = copy.snapshot("dev")
    out = copy.ok("rollback", "--env", "dev", "--component", "templates", "--version-id",
                  v1["templates"]["version_id"], "--dry-run")
    assert f"- {NEW_OBJECT}" in out and "dry run: nothing was applied" in out
    after_dry_run = copy.snapshot("dev")
    assert {k: after_dry_run[k] for k in ("state", "tables", "buckets", "vaults")} == {
        k: before[k] for k in ("state", "tables", "buckets", "vaults")}

    previous = {c: _versions(copy, c)[0] for c in ("tenants", "templates")}
    for component in ("templates", "tenants"):
        copy.ok("rollback", "--env", "dev", "--component", component, "--version-id",
                v1[component]["version_id"], "--confirm", "rollback-dev")

    # the earlier template bytes, the object created since destroyed, the index as it was
    first_bytes = repo_copy.git(copy.root, "show", f"{release['first']}:{TEMPLATES}/"
                                f"{CHANGED_KEY}").encode()
    assert s3.get_object(Bucket=DEV_BUCKET, Key=CHANGED_KEY)["Body"].read() == first_bytes
    listed = {o["Key"] for o in s3.list_objects_v2(Bucket=DEV_BUCKET)["Contents"]}
    assert NEW_KEY not in listed and "receipts/receipt_v2.txt" not in listed
    assert _email_projection(copy) == "ALL"

    checks = json.loads(copy.invoke("verify", "--env", "dev", "--component",
                                    "tenants,templates", "--json").stdout)
    assert [c for c in checks if not c["ok"]] == [] and checks
    for component in ("templates", "tenants"):
        (record,) = copy.json("history", "--env", "dev", "--component", component, "--limit",
                              "1")
        assert (record["action"], record["commit"], record["verification"],
                record["rolled_back_to"]) == ("rollback", release["first"], "passed",
                                              v1[component]["version_id"])
        assert record["state_before"]["version_id"] == previous[component]["version_id"]
        (now, *_) = _versions(copy, component)
        assert now["current"] and now["version_id"] == record["state_after"]["version_id"]
        assert now["version_id"] not in (previous[component]["version_id"],
                                         v1[component]["version_id"])
        assert now["serial"] > previous[component]["serial"]


def _state(copy: Copy, component: str) -> dict:
    env = load_environment("dev")
    body = copy.session("dev").client("s3").get_object(
        Bucket=env.state_bucket, Key=COMPONENTS[component].state_key)["Body"].read()
    return json.loads(body)


def _remove_from_state_by_hand(copy: Copy, component: str, address: str) -> None:
    """What `terraform state rm` does: the same state without the instance, pushed forward."""
    state = _state(copy, component)
    key = address.split("[", 1)[1].rstrip("]")
    for resource in state["resources"]:
        if f"{resource['type']}.{resource['name']}" == address.split("[")[0]:
            resource["instances"] = [i for i in resource["instances"]
                                     if json.dumps(i.get("index_key")) != key]
    state["serial"] += 1
    env = load_environment("dev")
    body = json.dumps(state, indent=2).encode()
    session = copy.session("dev")
    session.client("s3").put_object(Bucket=env.state_bucket,
                                    Key=COMPONENTS[component].state_key, Body=body)
    session.client("dynamodb").put_item(TableName=env.lock_table, Item={
        "LockID": {"S": f"{env.state_bucket}/{COMPONENTS[component].state_key}-md5"},
        "Digest": {"S": hashlib.md5(body).hexdigest()}})


def _object_keys(copy: Copy) -> set[str]:
    """The template objects the templates state manages."""
    return {i["index_key"] for r in _state(copy, "templates")["resources"]
            if r["type"] == "aws_s3_bucket_object" for i in r["instances"]}


def test_restore_state_brings_a_removed_resource_back(copy: Copy, release: dict):
    healthy = _versions(copy, "templates")[0]
    _remove_from_state_by_hand(copy, "templates", REMOVED)
    damaged = _versions(copy, "templates")[0]
    assert "receipts/order.html" not in _object_keys(copy)

    # restoring the damaged version would drop the address the current state manages again
    out = copy.ok("rollback", "--env", "dev", "--component", "templates", "--version-id",
                  healthy["version_id"], "--confirm", "rollback-dev", "--restore-state")
    assert "restored the state document" in out
    assert "receipts/order.html" in _object_keys(copy)
    records = copy.json("history", "--env", "dev", "--component", "templates", "--limit", "2")
    assert [r["action"] for r in records] == ["rollback", "rollback"]
    assert records[1]["rolled_back_to"] == healthy["version_id"]
    assert records[0]["verification"] == "passed"

    before = copy.snapshot("dev")
    said = copy.refused("rollback", "--env", "dev", "--component", "templates", "--version-id",
                        damaged["version_id"], "--confirm", "rollback-dev", "--restore-state")
    assert "would drop 1 address(es)" in said and REMOVED in said
    assert "--allow-orphans" in said
    assert copy.snapshot("dev") == before


def test_doctor_finds_a_broken_digest_and_fix_digest_repairs_it(copy: Copy, release: dict):
    env = load_environment("dev")
    key = COMPONENTS["templates"].state_key
    s3 = copy.session("dev").client("s3")
    state = json.loads(s3.get_object(Bucket=env.state_bucket, Key=key)["Body"].read())
    s3.put_object(Bucket=env.state_bucket, Key=key, Body=json.dumps(state).encode())  # by hand

    result = copy.invoke("doctor", "--env", "dev", "--component", "templates", "--json")
    assert result.returncode == 1
    findings = {f["check"]: f for f in json.loads(result.stdout)}
    assert not findings["digest"]["ok"] and "stored" in findings["digest"]["found"]
    assert "--fix-digest" in findings["digest"]["fix"]
    # written by hand, but with the content the last record left: only the digest is wrong
    assert findings["ledger"]["ok"] and "same resources" in findings["ledger"]["found"]
    broken = copy.invoke("plan", "--env", "dev", "--component", "templates")
    assert broken.returncode == 1 and "expected content" in broken.stdout + broken.stderr

    fixed = copy.invoke("doctor", "--env", "dev", "--component", "templates", "--fix-digest")
    assert "templates: digest" in fixed.stdout
    result = copy.invoke("doctor", "--env", "dev", "--component", "templates", "--json")
    assert {f["check"]: f["ok"] for f in json.loads(result.stdout)}["digest"] is True
    copy.ok("plan", "--env", "dev", "--component", "templates")


def test_a_killed_apply_leaves_a_lock_doctor_reports_and_unlock_releases(copy: Copy,
                                                                         release: dict):
    changed = copy.root / TEMPLATES / CHANGED_KEY
    original = changed.read_text()
    changed.write_text(original + "<!-- another wording -->\n")
    try:
        copy.ok("plan", "--env", "dev", "--component", "templates")
        process = subprocess.Popen(
            [sys.executable, "-m", "invoke", "apply", "--env", "dev", "--component",
             "templates", "--confirm", "deploy-dev"], cwd=copy.root,
            env=repo_copy.cli_env(copy.root, copy.work), stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 120
        while not held_locks(copy.work, "dev") and time.monotonic() < deadline:
            time.sleep(0.05)
        # Terraform first (it runs in its own session, and would release the lock if only
        # its parent died), then the task: like a machine that lost power
        for pid in terraform_processes_under(copy.work):
            os.kill(pid, signal.SIGKILL)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    finally:
        changed.write_text(original)
    (lock_id,) = held_locks(copy.work, "dev")

    result = copy.invoke("doctor", "--env", "dev", "--component", "templates", "--json")
    lock = {f["check"]: f for f in json.loads(result.stdout)}["lock"]
    assert result.returncode == 1 and not lock["ok"] and "held by" in lock["found"]
    info = json.loads(copy.session("dev").client("dynamodb").get_item(
        TableName=load_environment("dev").lock_table,
        Key={"LockID": {"S": lock_id}})["Item"]["Info"]["S"])
    assert f"--lock-id {info['ID']}" in lock["fix"]

    out = copy.ok("unlock", "--env", "dev", "--component", "templates", "--lock-id",
                  info["ID"])
    assert "is held by" in out and "released lock" in out
    assert held_locks(copy.work, "dev") == []
