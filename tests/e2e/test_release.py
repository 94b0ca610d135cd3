"""The release across environments on the sandbox: every apply verifies and is recorded in the
env's ledger; `verify` and `drift` see changes made behind Terraform's back; a commit reaches
sit only after dev verified it, and prod only after sit did; going back is refused; racing
applies leave one record each and a consistent state.

Runs in a throw-away git copy of the repository (promotion needs commits of its own). The tests
build on each other in file order, like a release does.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bbws_infra.bench import repo_copy
from bbws_infra.core.registry import COMPONENTS, load_environment
from tests.support.leftovers import held_locks
from tests.support.repo_copies import Copy, make_copy

pytestmark = pytest.mark.e2e

TABLE = "module.table.aws_dynamodb_table.this"
TEMPLATE_KEY = "receipts/receipt.html"
TEMPLATE = f'aws_s3_bucket_object.template["{TEMPLATE_KEY}"]'
DEV_BUCKET = "bbws-templates-dev"


@pytest.fixture(scope="module")
def copy(work, tmp_path_factory):
    yield from make_copy("release", work, tmp_path_factory)


@pytest.fixture(scope="module")
def first(copy: Copy) -> str:
    """The commit the release starts from, deployed to dev."""
    copy.ok("plan", "--env", "dev")
    copy.ok("apply", "--env", "dev", "--confirm", "deploy-dev")
    return copy.head()


def _history(copy: Copy, env: str, *args: str) -> list[dict]:
    return copy.deployments(env, *args)


def _failed_checks(copy: Copy, env: str) -> set[tuple[str, str]]:
    result = copy.invoke("verify", "--env", env, "--json")
    checks = json.loads(result.stdout)
    failed = {(c["component"], c["name"]) for c in checks if not c["ok"]}
    assert result.returncode == (1 if failed else 0), result.stderr
    return failed


ROLE_NOISE = {(c, "module.backup.aws_iam_role.backup") for c in ("tenants", "products",
                                                                  "campaigns")}


def _drift(copy: Copy, env: str) -> tuple[int, dict[tuple[str, str], str]]:
    """Exit code, and each reported (component, address) with the rest of its line, leaving
    out the provider noise the committed allowlist accepts (asserted to be shown as such)."""
    result = copy.invoke("drift", "--env", env)
    assert result.returncode in (0, 2), result.stdout + result.stderr
    found = {}
    for line in result.stdout.splitlines():
        parts = line.split("  ")
        if line and not line.startswith(" ") and parts[0] in COMPONENTS and len(parts) >= 3:
            found[(parts[0], parts[1])] = "  ".join(parts[2:])
    for key in ROLE_NOISE & set(found):
        assert "allowlisted: The role's policy is attached" in found.pop(key)
    return result.returncode, found


def test_a_dev_deploy_verifies_and_is_recorded(copy: Copy, first: str):
    records = _history(copy, "dev")
    assert sorted(r["component"] for r in records) == sorted(COMPONENTS)
    for record in records:
        assert (record["action"], record["commit"], record["dirty"], record["result"],
                record["verification"]) == ("apply", first, False, "applied", "passed")
        assert record["state_before"]["serial"] == 0 < record["state_after"]["serial"]
        assert record["state_after"]["version_id"] and record["state_after"]["lineage"]
        assert record["failed_checks"] == [] and record["backups"] == []
        assert record["who"] == "bbws-test <bbws-test@example.invalid>"
        assert record["started_at"] <= record["finished_at"]
    latest = _history(copy, "dev", "--component", "tenants")[0]
    assert latest["component"] == "tenants"
    assert "tenants" in copy.ok("history", "--env", "dev")

    status = {(s["env"], s["component"]): s["deployed"] for s in copy.json("status")}
    assert {status[("dev", c)]["commit"] for c in COMPONENTS} == {first}
    assert all(status[("dev", c)]["verification"] == "passed" for c in COMPONENTS)
    assert all(status[(e, c)] is None for e in ("sit", "prod") for c in COMPONENTS)
    assert copy.ok("status")

    assert _failed_checks(copy, "dev") == set()
    assert "checks passed" in copy.ok("verify", "--env", "dev")
    assert _drift(copy, "dev") == (0, {})


def test_changes_behind_terraforms_back_fail_verify_and_show_as_drift(copy: Copy, first: str):
    dev = copy.session("dev")
    dev.client("dynamodb").update_continuous_backups(
        TableName="tenants",
        PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False})
    s3 = dev.client("s3")
    original = s3.get_object(Bucket=DEV_BUCKET, Key=TEMPLATE_KEY)
    s3.put_object(Bucket=DEV_BUCKET, Key=TEMPLATE_KEY, ContentType=original["ContentType"],
                  Body=original["Body"].read() + b"<!-- edited by hand -->")

    assert _failed_checks(copy, "dev") == {
        ("tenants", "table tenants: point-in-time recovery"),
        ("tenants", "plan: nothing pending"),
        ("templates", f"object {TEMPLATE_KEY}: bytes"),
        ("templates", "plan: nothing pending"),
    }
    code, found = _drift(copy, "dev")
    assert code == 2 and set(found) == {("tenants", TABLE), ("templates", TEMPLATE)}
    assert not any("allowlisted" in rest for rest in found.values())

    # accepted noise: shown, but it no longer fails drift
    allowlist = copy.root / "envs" / "drift-allowlist.yml"
    committed = allowlist.read_text()
    allowlist.write_text(
        committed +
        f"  - component: tenants\n    address: {TABLE}\n    env: dev\n"
        "    attributes: [point_in_time_recovery]\n    reason: switched off for a test\n")
    code, found = _drift(copy, "dev")
    assert code == 2 and "allowlisted: switched off for a test" in found[("tenants", TABLE)]
    assert "allowlisted" not in found[("templates", TEMPLATE)]
    allowlist.write_text(allowlist.read_text() + (
        f"  - component: templates\n    address: '{TEMPLATE}'\n"
        "    reason: edited by hand for a test\n"))
    code, found = _drift(copy, "dev")
    assert code == 0 and set(found) == {("tenants", TABLE), ("templates", TEMPLATE)}
    repo_copy.git(copy.root, "checkout", "--", "envs/drift-allowlist.yml")

    # the next apply of the same commit puts both back, and verifies
    copy.ok("plan", "--env", "dev", "--component", "tenants,templates")
    copy.ok("apply", "--env", "dev", "--confirm", "deploy-dev")
    assert _failed_checks(copy, "dev") == set()
    assert _drift(copy, "dev") == (0, {})


def test_promotion_to_sit_of_the_verified_commit(copy: Copy, first: str):
    out = copy.ok("promote", "--to", "sit", "--confirm", "promote-sit")
    assert f"promoting commit {first[:12]}" in out
    records = _history(copy, "sit")
    assert sorted(r["component"] for r in records) == sorted(COMPONENTS)
    assert all((r["action"], r["commit"], r["verification"]) == ("promote", first, "passed")
               for r in records)
    assert _failed_checks(copy, "sit") == set()
    assert repo_copy.git(copy.root, "status", "--porcelain") == ""


def test_a_reviewed_plan_whose_state_moved_is_planned_again(copy: Copy, first: str):
    # The bundle a failed or racing apply leaves behind: reviewed, then the state moved.
    copy.ok("promote", "--to", "sit", "--component", "campaigns", "--plan-only")
    env = load_environment("sit")
    s3 = copy.session("sit").client("s3")
    key = "2_1_bbws_dynamodb_schemas/campaigns/terraform.tfstate"
    document = json.loads(s3.get_object(Bucket=env.state_bucket, Key=key)["Body"].read())
    s3.put_object(Bucket=env.state_bucket, Key=key,
                  Body=json.dumps({**document, "serial": document["serial"] + 1}).encode())
    # the digest follows; the same resources under a new serial are no finding of doctor's
    fixed = copy.ok("doctor", "--env", "sit", "--component", "campaigns", "--fix-digest")
    assert "campaigns: digest " in fixed

    # after approval nothing is planned: refused, changing nothing, with the command that
    # makes a new review
    before, records = copy.snapshot("sit"), _history(copy, "sit")
    message = copy.refused("promote", "--to", "sit", "--component", "campaigns", "--reviewed",
                           "--confirm", "promote-sit")
    assert "The state of campaigns in sit moved since the plan" in message
    assert (f"plan again: invoke promote --to sit --commit {first[:12]} --target sandbox "
            "--plan-only") in message
    assert copy.snapshot("sit") == before and _history(copy, "sit") == records
    # a promotion that may plan plans that component again instead of keeping the stale plan
    out = copy.ok("promote", "--to", "sit", "--component", "campaigns", "--confirm",
                  "promote-sit")
    assert "reviewed plans of this commit kept" not in out
    record = _history(copy, "sit", "--component", "campaigns")[0]
    assert (record["commit"], record["verification"]) == (first, "passed")
    assert record["state_before"]["serial"] == document["serial"] + 1


def test_a_commit_dev_never_ran_is_refused_and_changes_nothing(copy: Copy, first: str):
    second = copy.commit("a commit dev never ran")
    before = copy.snapshot("sit")
    message = copy.refused("promote", "--to", "sit", "--commit", second, "--confirm",
                           "promote-sit")
    assert f"at commit {second[:12]} has not been applied and verified in dev" in message
    assert "nothing was changed" in message
    assert copy.snapshot("sit") == before


def test_prod_refuses_a_commit_sit_has_not_verified(copy: Copy, first: str):
    second = copy.head()
    copy.ok("plan", "--env", "dev")
    copy.ok("apply", "--env", "dev", "--confirm", "deploy-dev")  # dev now verified `second`
    before = copy.snapshot("prod")
    message = copy.refused("promote", "--to", "prod", "--commit", second, "--confirm",
                           "promote-prod")
    assert f"at commit {second[:12]} has not been applied and verified in sit" in message
    assert copy.snapshot("prod") == before
    # the plain apply path holds the same rule: a prod bundle of `second` is refused too
    copy.ok("plan", "--env", "prod", "--component", "campaigns")
    before = copy.snapshot("prod")
    message = copy.refused("apply", "--env", "prod", "--component", "campaigns", "--confirm",
                           "promote-prod")
    assert "has not been applied and verified in sit" in message
    assert copy.snapshot("prod") == before


def test_an_older_commit_is_refused(copy: Copy, first: str):
    second = copy.head()
    copy.ok("promote", "--to", "sit", "--commit", second, "--confirm", "promote-sit")
    before = copy.snapshot("sit")
    message = copy.refused("promote", "--to", "sit", "--commit", first, "--confirm",
                           "promote-sit")
    assert f"sit runs campaigns at commit {second[:12]}, which {first[:12]} does not " \
           "contain" in message
    assert "going back is a rollback, not a promotion" in message
    assert copy.snapshot("sit") == before


def test_prod_applies_exactly_the_reviewed_plan(copy: Copy, first: str):
    second = copy.head()
    out = copy.ok("promote", "--to", "prod", "--plan-only")
    assert "once approved: invoke promote --to prod" in out
    reviewed = {c: json.loads(
        (copy.bundle_dir("prod", c) / "bundle.json").read_text()) for c in COMPONENTS}
    assert {r["commit"] for r in reviewed.values()} == {second}
    assert not _history(copy, "prod")

    out = copy.ok("promote", "--to", "prod", "--confirm", "promote-prod")
    assert "reviewed plans of this commit kept" in out
    records = {r["component"]: r for r in _history(copy, "prod")}
    assert {c: r["bundle_sha256"] for c, r in records.items()} == {
        c: r["plan_sha256"] for c, r in reviewed.items()}
    assert all(r["verification"] == "passed" for r in records.values())


def test_a_protected_replacement_in_prod(copy: Copy, first: str):
    both = "tenants,products"
    for name in ("tenant", "product"):  # a new sort key: DynamoDB can only replace the table
        schema = copy.root / "dynamodb" / f"{name}s" / f"{name}.schema.json"
        schema.write_text(schema.read_text().replace('"rangeKey": "SK"', '"rangeKey": "id"'))
    third = copy.commit("re-key the tables (a replacement)")
    copy.ok("plan", "--env", "dev", "--component", both)
    copy.ok("apply", "--env", "dev", "--confirm", "deploy-dev")
    copy.ok("promote", "--to", "sit", "--component", both, "--confirm", "promote-sit")
    copy.ok("promote", "--to", "prod", "--component", both, "--plan-only")
    summary = (copy.bundle_dir("prod", "tenants") / "summary.txt").read_text()
    assert "DELETION PROTECTION" in summary.splitlines()[1] and f"! {TABLE}" in summary

    promote = ("promote", "--to", "prod", "--component", both, "--confirm", "promote-prod")
    before = copy.snapshot("prod")
    assert f"deletes, replaces or forgets {TABLE}, and deletion protection is on" in copy.refused(
        *promote)
    partial = ("--allow-destroy", f"tenants:{TABLE}", "--confirm-destroy", "destroy-prod")
    message = copy.refused(*promote, *partial)
    assert f"The prod plan for products deletes, replaces or forgets {TABLE}" in message
    assert f"--allow-destroy products:{TABLE} --confirm-destroy destroy-prod" in message
    full = ("--allow-destroy", f"tenants:{TABLE}", "--allow-destroy", f"products:{TABLE}")
    assert "needs --confirm-destroy destroy-prod" in copy.refused(*promote, *full)
    assert copy.snapshot("prod") == before
    # a pre-deploy backup that fails stops the deployment before anything is applied
    failed = copy.invoke(*promote, *full, "--confirm-destroy", "destroy-prod",
                         BBWS_FAULT_BACKUP="tenants")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "The pre-deploy backup of table tenants in prod failed" in failed.stderr
    assert "nothing was applied" in failed.stderr
    assert copy.snapshot("prod") == before

    copy.ok(*promote, *full, "--confirm-destroy", "destroy-prod")
    prod = copy.session("prod")
    dynamodb = prod.client("dynamodb")
    backups = {b["BackupArn"]: b["TableName"] for b in dynamodb.list_backups()["BackupSummaries"]}
    for table in ("tenants", "products"):
        keys = dynamodb.describe_table(TableName=table)["Table"]["KeySchema"]
        assert {"AttributeName": "id", "KeyType": "RANGE"} in keys
        record = _history(copy, "prod", "--component", table)[0]
        assert (record["commit"], record["verification"]) == (third, "passed")
        # the protected environment backed the table up before replacing it
        (arn,) = record["backups"]
        assert backups[arn] == table


def test_racing_applies_record_one_each_and_keep_the_state_consistent(copy: Copy, first: str):
    env = load_environment("dev")
    # a wording change: one object to update (dev accepts an uncommitted tree)
    template = copy.root / "s3" / "templates" / "templates" / TEMPLATE_KEY
    original = template.read_text()
    template.write_text(original + "<!-- wording change -->\n")
    try:
        copy.ok("plan", "--env", "dev", "--component", "templates")
        s3 = copy.session("dev").client("s3")
        key = COMPONENTS["templates"].state_key

        def serial() -> int:
            return json.loads(s3.get_object(Bucket=env.state_bucket, Key=key)["Body"].read())[
                "serial"]

        serial_before = serial()
        records_before = len(_history(copy, "dev", "--component", "templates"))
        command = [sys.executable, "-m", "invoke", "apply", "--env", "dev", "--component",
                   "templates", "--confirm", "deploy-dev", "--no-verify"]
        racers = [subprocess.Popen(command, cwd=copy.root,
                                   env=repo_copy.cli_env(copy.root, copy.work),
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                  for _ in range(2)]
        results = [(racer.communicate(timeout=300), racer.returncode) for racer in racers]
    finally:
        template.write_text(original)
    codes = sorted(code for _, code in results)
    assert codes[0] == 0 and codes[1] in (1, 2), results
    loser = next(err for (_, err), code in results if code)
    assert "Traceback" not in loser
    said = " ".join(loser.split())
    assert any(reason in said for reason in (
        "moved since the plan", "No saved plan", "no longer matches",
        "this run applied nothing")), said

    records = _history(copy, "dev", "--component", "templates")
    # a refusal (exit 2) records nothing; the loser that got as far as the apply (exit 1)
    # records that it applied nothing (which withdraws no verification)
    new = records[: len(records) - records_before]
    assert sorted(r["result"] for r in new) == (["applied", "nothing applied"]
                                                if codes[1] == 1 else ["applied"])
    assert serial() == serial_before + 1
    applied = next(r for r in new if r["result"] == "applied")
    assert applied["state_after"]["serial"] == serial()
    assert not held_locks(copy.work, "dev")
