"""Routes around the guards, tried the way someone who can push a branch, edit files under the
work directory or run two commands at once would: each is refused or harmless, and a refusal
changes nothing (state versions, ledger, tables and items, buckets and objects, vaults and
bundles are compared before and after).

Dev runs with deletion protection on here (committed), so "a protected table was replaced" is
the visible harm every route aims for.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from bbws_infra.bench import repo_copy
from bbws_infra.core.registry import load_environment
from bbws_infra.plans import bundle
from tests.support.repo_copies import Copy, make_copy

pytestmark = pytest.mark.e2e

TABLE = "module.table.aws_dynamodb_table.this"
VAULT = "module.backup.aws_backup_vault.this"
PLAN = ("plan", "--env", "dev", "--component")
APPLY = ("apply", "--env", "dev", "--confirm", "deploy-dev", "--component")


def _allow(component: str) -> tuple[str, ...]:
    return ("--allow-destroy", f"{component}:{TABLE}", "--confirm-destroy", "destroy-dev")


def _rekey(copy: Copy, range_key: str) -> None:
    """Give the campaigns table another range key: a replacement of the table."""
    schema = copy.root / "dynamodb" / "campaigns" / "campaign.schema.json"
    # the table's range key (SK or code; the indexes' is fromDate) and with it the one of the
    # access pattern that reads the table by its key (x-accessPatterns)
    schema.write_text(re.sub(r'"rangeKey": "(?:SK|code)"', f'"rangeKey": "{range_key}"',
                             schema.read_text()))


def _range_key(copy: Copy) -> str:
    table = copy.session("dev").client("dynamodb").describe_table(TableName="campaigns")
    return next(k["AttributeName"] for k in table["Table"]["KeySchema"]
                if k["KeyType"] == "RANGE")


@pytest.fixture(scope="module")
def copy(work: Path, tmp_path_factory: pytest.TempPathFactory):
    yield from make_copy("trust", work, tmp_path_factory)


@pytest.fixture(scope="module")
def deployed(copy: Copy) -> str:
    """Dev protected, campaigns and tenants applied and verified at that commit."""
    tfvars = copy.root / "envs" / "dev.tfvars"
    tfvars.write_text(tfvars.read_text().replace("deletion_protection = false",
                                                 "deletion_protection = true"))
    commit = copy.commit("protect dev")
    copy.ok("plan", "--env", "dev", "--component", "campaigns,tenants")
    copy.ok("apply", "--env", "dev", "--confirm", "deploy-dev")
    return commit


def test_a_plan_file_swapped_into_a_reviewed_bundle_is_refused(copy: Copy, deployed: str):
    """A destroying tfplan put into a no-op bundle (its hash updated in bundle.json) used to
    replace a protected table with no --allow-destroy, no backup and a "failed" record. Now the
    applying Terraform shows the very file it applies, and that is not the reviewed plan."""
    _rekey(copy, "code")
    copy.commit("re-key campaigns")
    copy.ok(*PLAN, "campaigns")
    directory = copy.bundle_dir("dev", "campaigns")
    destroying = (directory / "tfplan").read_bytes()
    repo_copy.git(copy.root, "revert", "--no-edit", "HEAD")
    copy.ok(*PLAN, "campaigns")
    assert json.loads((directory / "bundle.json").read_text())["destroy"] == 0

    (directory / "tfplan").write_bytes(destroying)
    record = json.loads((directory / "bundle.json").read_text())
    record["plan_sha256"] = bundle.sha256_file(directory / "tfplan")
    (directory / "bundle.json").write_text(json.dumps(record))
    before = copy.snapshot("dev")
    message = copy.refused(*APPLY, "campaigns")
    assert "The plan file about to be applied for campaigns in dev is not the plan that was " \
           "reviewed" in message
    assert copy.snapshot("dev") == before
    assert _range_key(copy) == "SK"


def _forget_backup(copy: Copy) -> None:
    """The campaigns root without its backup module, and a `removed` block that makes
    Terraform forget it (vault, plan, selection, role) instead of destroying it."""
    root = copy.root / "dynamodb" / "campaigns"
    main = (copy.root / "dynamodb" / "table_main.tf").read_text()
    main = main[:main.index('module "backup"')] + (
        'removed {\n  from = module.backup\n\n  lifecycle {\n    destroy = false\n  }\n}\n')
    outputs = (copy.root / "dynamodb" / "table_outputs.tf").read_text().split("\noutput ")
    kept = "\noutput ".join(block for block in outputs if "module.backup" not in block)
    for name, text in (("main.tf", main), ("outputs.tf", kept)):
        (root / name).unlink()
        (root / name).write_text(text)


def test_forgetting_a_protected_vault_is_shown_and_guarded(copy: Copy, deployed: str):
    """A `removed { lifecycle { destroy = false } }` used to plan as "No changes", pass
    --detailed-exitcode with 0 and be applied without a word."""
    _forget_backup(copy)
    copy.commit("forget the campaigns backup")
    result = copy.invoke(*PLAN, "campaigns", "--detailed-exitcode")
    assert result.returncode == 2, result.stdout + result.stderr
    summary = (copy.bundle_dir("dev", "campaigns") / "summary.txt").read_text()
    assert "to forget" in summary and f"  x {VAULT}" in summary
    assert f"! {VAULT}" in summary  # deletion protection lists it
    before = copy.snapshot("dev")
    message = copy.refused(*APPLY, "campaigns")
    assert f"deletes, replaces or forgets {VAULT}" in message
    assert copy.snapshot("dev") == before
    repo_copy.git(copy.root, "revert", "--no-edit", "HEAD")


def test_ignored_files_never_reach_an_environment(copy: Copy, deployed: str):
    """An ignored *_override.tf (Terraform's own habit, often in a global excludes file) was
    staged and applied while the bundle said "clean"; a promotion worktree kept one planted
    under the work directory."""
    (copy.root / ".git" / "info" / "exclude").write_text("*_override.tf\n")
    evil = 'resource "aws_s3_bucket" "evil" {\n  bucket = "evil-bbws-dev"\n}\n'
    (copy.root / "dynamodb" / "tenants" / "evil_override.tf").write_text(evil)
    assert repo_copy.git(copy.root, "status", "--porcelain") == ""  # git calls it clean
    copy.ok(*PLAN, "tenants")
    record = json.loads((copy.bundle_dir("dev", "tenants") / "bundle.json").read_text())
    assert (record["dirty"], record["add"]) == (False, 0)
    assert "evil" not in (copy.bundle_dir("dev", "tenants") / "summary.txt").read_text()
    copy.ok(*APPLY, "tenants")
    buckets = copy.session("dev").client("s3").list_buckets()["Buckets"]
    assert "evil-bbws-dev" not in {b["Name"] for b in buckets}

    # promotion: a worktree of the verified commit, with an override planted in it
    promote = ("promote", "--to", "sit", "--component", "tenants", "--plan-only")
    copy.ok(*promote)
    worktree = copy.work / "worktrees" / copy.head()
    (worktree / "dynamodb" / "tenants" / "evil_override.tf").write_text(evil)
    copy.ok(*promote)
    assert not (worktree / "dynamodb" / "tenants" / "evil_override.tf").exists()
    assert "evil" not in (copy.bundle_dir("sit", "tenants") / "summary.txt").read_text()
    (copy.root / "dynamodb" / "tenants" / "evil_override.tf").unlink()


def test_a_link_out_of_the_repository_is_refused(copy: Copy, deployed: str, tmp_path: Path):
    outside = tmp_path / "outside.tf"
    outside.write_text('resource "aws_s3_bucket" "evil" {\n  bucket = "evil-bbws-dev"\n}\n')
    link = copy.root / "dynamodb" / "tenants" / "extra.tf"
    link.symlink_to(outside)
    copy.commit("a link out of the repository")
    before = copy.snapshot("dev")
    message = copy.refused(*PLAN, "tenants")
    assert "dynamodb/tenants/extra.tf is a link outside the repository" in message
    assert copy.snapshot("dev") == before
    link.unlink()
    copy.commit("no link")


def _forge(copy: Copy, commit: str, state_after: dict, started: str | None = None) -> str:
    """A ledger record written by hand (as anyone with write access to the bucket could): the
    newest real record of campaigns, claiming `commit`."""
    env = load_environment("dev")
    s3 = copy.session("dev").client("s3")
    real = copy.deployments("dev", "--component", "campaigns")[0]
    forged = {**real, "commit": commit, "state_after": state_after,
              "started_at": started or real["started_at"]}
    forged.pop("key", None)
    stamp = forged["started_at"].replace("-", "").replace(":", "")
    key = f"ledger/campaigns/{stamp}-apply-{uuid.uuid4().hex[:8]}.json"
    s3.put_object(Bucket=env.state_bucket, Key=key, Body=json.dumps(forged).encode())
    return real["state_after"]


def test_a_forged_ledger_record_is_no_release(copy: Copy, deployed: str):
    """A record written by hand for a commit dev never ran let promote --to sit apply it."""
    readme = copy.root / "README.md"
    readme.write_text(readme.read_text() + "\nnever applied in dev\n")
    never = copy.commit("a commit dev never ran")
    promote = ("promote", "--to", "sit", "--component", "campaigns", "--commit", never,
               "--confirm", "promote-sit")
    real_after = _forge(copy, never, {"version_id": "made-up", "serial": 3, "lineage": "x"})
    before = copy.snapshot("sit")
    assert "has not been applied and verified in dev" in copy.refused(*promote)
    # the same record with the real state points a verified apply left
    _forge(copy, never, real_after)
    assert "has not been applied and verified in dev" in copy.refused(*promote)
    # keyed in the future, to be "the newest" forever
    _forge(copy, never, real_after, started="2099-01-01T00:00:00Z")
    assert "has not been applied and verified in dev" in copy.refused(*promote)
    assert copy.snapshot("sit") == before


def _burn_cpu(seconds: float) -> list[subprocess.Popen]:
    loop = f"import time\nend = time.time() + {seconds}\nwhile time.time() < end: pass\n"
    return [subprocess.Popen([sys.executable, "-c", loop]) for _ in range(2)]


def _history(copy: Copy) -> list[dict]:
    return copy.deployments("dev", "--component", "campaigns")


def _records_are_true(copy: Copy, since: set[str]) -> None:
    """Every applied record written since then names a state version that exists as
    recorded (older records include the forgeries of another test)."""
    env = load_environment("dev")
    s3 = copy.session("dev").client("s3")
    for record in _history(copy):
        if record["result"] != "applied" or record["key"] in since:
            continue
        after = record["state_after"]
        state = json.loads(s3.get_object(
            Bucket=env.state_bucket, Key="2_1_bbws_dynamodb_schemas/campaigns/terraform.tfstate",
            VersionId=after["version_id"])["Body"].read())
        assert (state["serial"], state["lineage"]) == (after["serial"], after["lineage"])


def test_commands_running_at_once_never_change_each_others_files(copy: Copy, deployed: str):
    """A read-only verify started just after an apply that replaces a table re-staged another
    commit's files mid-apply: the table was destroyed and never recreated. Now each command
    stages its own files; apply with verify, and apply with a plan of the same component, run
    together under CPU load, many times."""
    burners = _burn_cpu(600)
    earlier = {record["key"] for record in _history(copy)}
    try:
        for round_number, key in enumerate(("code", "SK", "code", "SK")):
            _rekey(copy, key)
            copy.commit(f"campaigns range key {key}")
            copy.ok(*PLAN, "campaigns")
            recorded = {record["key"] for record in _history(copy)}
            apply = subprocess.Popen(
                [sys.executable, "-m", "invoke", *APPLY, "campaigns", *_allow("campaigns")],
                cwd=copy.root, env=repo_copy.cli_env(copy.root, copy.work),
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            time.sleep(0.1)
            other = (("verify", "--env", "dev") if round_number % 2 == 0
                     else (*PLAN, "campaigns"))
            beside = copy.invoke(*other)
            out, err = apply.communicate(timeout=900)
            assert "Traceback" not in beside.stderr + err
            said = " ".join((out + err).split())
            if apply.returncode != 0 and "No saved plan for campaigns" in said:
                # the plan beside it withdrew the bundle before the apply read it: refused
                # before anything started, so nothing is recorded either
                assert apply.returncode == 2, said
                assert {record["key"] for record in _history(copy)} == recorded
                copy.ok(*APPLY, "campaigns", *_allow("campaigns"))  # the new bundle
            elif apply.returncode != 0:
                # the plan beside it replaced the bundle before the apply copied it: the
                # apply refuses to take a file it did not check, and applies nothing
                assert "this run applied nothing" in said, said
                newest = next(r for r in _history(copy) if r["key"] not in earlier)
                assert newest["result"] == "nothing applied"  # (the forgeries are older keys)
                copy.ok(*APPLY, "campaigns", *_allow("campaigns"))  # the new bundle
            assert _range_key(copy) == key
            assert "campaigns" in copy.session("dev").client("dynamodb").list_tables()[
                "TableNames"]
            _records_are_true(copy, earlier)
    finally:
        for burner in burners:
            burner.kill()


def test_two_applies_of_one_bundle_apply_it_once_and_withdraw_nothing(copy: Copy,
                                                                      deployed: str):
    """The loser of two applies of the same bundle applies nothing, says so in the ledger, and
    the commit stays verified in dev (a promotion to sit is still allowed)."""
    earlier = {record["key"] for record in _history(copy)}
    _rekey(copy, "code")
    commit = copy.commit("campaigns range key code, applied twice at once")
    copy.ok(*PLAN, "campaigns")
    command = [sys.executable, "-m", "invoke", *APPLY, "campaigns", *_allow("campaigns")]
    runs = [subprocess.Popen(command, cwd=copy.root, env=repo_copy.cli_env(copy.root,
                                                                          copy.work),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]
    outputs = [run.communicate(timeout=900) for run in runs]
    codes = sorted(run.returncode for run in runs)
    assert codes == [0, 1], outputs
    assert any("applied nothing" in " ".join((out + err).split()) for out, err in outputs)
    # (the history also holds the forgeries of another test, one keyed in 2099)
    history = [r for r in _history(copy) if r["key"] not in earlier]
    assert sorted(r["result"] for r in history) == ["applied", "nothing applied"], history
    assert all(r["commit"] == commit for r in history), history
    copy.ok("promote", "--to", "sit", "--component", "campaigns", "--plan-only")


def test_rollback_dry_run_leaves_a_bundle_under_review_alone(copy: Copy, deployed: str):
    versions = json.loads(copy.ok("state-versions", "--env", "dev", "--component",
                                  "campaigns", "--json"))
    older = next(v for v in versions if v["commit"] and not v["current"])
    _rekey(copy, "SK")
    copy.commit("campaigns back to SK, waiting for review")
    copy.ok(*PLAN, "campaigns")
    directory = copy.bundle_dir("dev", "campaigns")
    pending = {name: (directory / name).read_bytes() for name in bundle.BUNDLE_FILES}
    out = copy.ok("rollback", "--env", "dev", "--component", "campaigns", "--version-id",
                  older["version_id"], "--dry-run")
    assert "dry run: nothing was applied" in out
    assert {name: (directory / name).read_bytes() for name in bundle.BUNDLE_FILES} == pending
    assert (directory / "dry-run" / "bundle.json").exists()
    copy.ok(*APPLY, "campaigns", *_allow("campaigns"))  # the reviewed bundle still applies


def _push_state_outside_the_deploy_path(copy: Copy) -> None:
    """What an operator with Terraform and the deploy role could do: push the current state
    again (same resources, next serial), leaving a version no record names."""
    code = (
        "import json\n"
        "from bbws_infra.plans import operations\n"
        "from bbws_infra.targets import targets\n"
        "from bbws_infra.core.paths import work_dir\n"
        "from bbws_infra.core.registry import COMPONENTS, load_environment\n"
        "ctx = targets.prepare('sandbox', load_environment('dev'))\n"
        "component = COMPONENTS['campaigns']\n"
        "targets.stage(ctx, [component])\n"
        "state = operations.state_pull(ctx, component)\n"
        "state['serial'] += 1\n"
        "path = work_dir() / 'pushed.json'\n"
        "path.write_text(json.dumps(state))\n"
        "operations.state_push(ctx, component, path)\n")
    subprocess.run([sys.executable, "-c", code], cwd=copy.root, check=True,
                   env=repo_copy.cli_env(copy.root, copy.work), capture_output=True)


def test_a_state_restore_without_a_commit_keeps_deletion_protection(copy: Copy,
                                                                   deployed: str):
    """After --restore-state of a version no record names, the "protection switched off by the
    same change" check skipped itself and a protected table was replaced without
    --allow-destroy. Now the commit dev runs is the last one applied (the restore changed no
    resource), and its protection holds."""
    _push_state_outside_the_deploy_path(copy)
    versions = json.loads(copy.ok("state-versions", "--env", "dev", "--component",
                                  "campaigns", "--json"))
    unnamed = next(v for v in versions if v["current"])
    assert unnamed["commit"] == ""
    copy.ok("rollback", "--env", "dev", "--component", "campaigns", "--version-id",
            unnamed["version_id"], "--confirm", "rollback-dev", "--restore-state")
    running = _range_key(copy)

    tfvars = copy.root / "envs" / "dev.tfvars"
    tfvars.write_text(tfvars.read_text().replace("deletion_protection = true",
                                                 "deletion_protection = false"))
    _rekey(copy, "code" if running == "SK" else "SK")
    copy.commit("unprotect dev and re-key campaigns")
    copy.ok(*PLAN, "campaigns")
    before = copy.snapshot("dev")
    message = copy.refused(*APPLY, "campaigns")
    assert "deletion protection is on in envs/dev.tfvars of commit" in message
    assert copy.snapshot("dev") == before
    assert _range_key(copy) == running


def test_a_task_killed_after_terraform_applied_is_named_by_doctor(copy: Copy, deployed: str):
    """Killed (SIGKILL, as a runner does last) once Terraform has applied but before the
    ledger record is written: the next doctor names the apply and its commit from the intent
    the deploy path left, instead of "written outside the deploy path". (Last in this module:
    it leaves dev with an unrecorded state version.)"""
    key = "code" if _range_key(copy) == "SK" else "SK"
    _rekey(copy, key)
    commit = copy.commit(f"campaigns range key {key}, the task killed mid-way")
    copy.ok(*PLAN, "campaigns")
    killed = copy.invoke(*APPLY, "campaigns", *_allow("campaigns"),
                         BBWS_FAULT_INTERRUPT_AT="plan", BBWS_FAULT_SIGNAL="KILL")
    assert killed.returncode == -9, killed.stdout + killed.stderr
    assert _range_key(copy) == key  # Terraform applied
    doctor = copy.invoke("doctor", "--env", "dev", "--component", "campaigns", "--json")
    assert doctor.returncode == 1, doctor.stdout + doctor.stderr
    (ledger_check,) = [f for f in json.loads(doctor.stdout) if f["check"] == "ledger"]
    assert not ledger_check["ok"]
    assert f"was written by the apply of commit {commit[:12]}" in ledger_check["found"]
    assert "whose ledger record is missing" in ledger_check["found"]
    assert "outside the deploy path" not in ledger_check["found"]
