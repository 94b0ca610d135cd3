"""Data migrations in the release, on the sandbox: a table's pending migrations run after its
verified apply, recorded against the commit; a migration that needs an index waits for the
apply that adds it; a migration that failed in dev holds the promotion (and `invoke migrate`)
in sit back, changing nothing there; once fixed and applied in dev, the promotion runs every
migration in sit, then in prod; a rollback names the runs that changed items since its version.

Runs in a throw-away git copy of the repository; the tests build on each other in file order.
"""

from __future__ import annotations

import json

import pytest

from bbws_infra.bench import table_items
from tests.support.repo_copies import Copy, make_copy

pytestmark = pytest.mark.e2e

ITEMS = 300
BACKFILL = "0001_backfill_active_partition"
DOMAIN = "0002_backfill_email_domain"
BROKEN = "0003_name_the_importer"
DOMAIN_MIGRATION = '''"""Fill in emailDomain, the key of TenantEmailDomainIndex."""

from bbws_infra.migrations.catalog import ScanFilter

ID = "0002_backfill_email_domain"
DESCRIPTION = "Every tenant carries emailDomain, the lower-case domain of its email."
NEEDS_INDEX = "TenantEmailDomainIndex"
NEEDS_ATTRIBUTE = "emailDomain"
SCAN_FILTER = ScanFilter("attribute_exists(#e) AND attribute_not_exists(#d)",
                         {"#e": "email", "#d": "emailDomain"})


def change(item):
    return {**item, "emailDomain": item["email"].rsplit("@", 1)[1].lower()}
'''
BROKEN_MIGRATION = '''"""The tenants the old bulk loader wrote name it as bulk-import."""

ID = "0003_name_the_importer"
DESCRIPTION = "Tenants the old bulk loader wrote say lastUpdatedBy bulk-import."


def change(item):
    if item["lastUpdatedBy"] != "loader":
        return None
    return {**item, "lastUpdatedBy": item["lastUpdatedBy"].replace_all("loader", "bulk-import")}
'''
FIXED_MIGRATION = BROKEN_MIGRATION.replace(".replace_all(", ".replace(")


@pytest.fixture(scope="module")
def copy(work, tmp_path_factory):
    yield from make_copy("release-migrations", work, tmp_path_factory)


def _deploy_dev(copy: Copy) -> tuple[int, str, str]:
    copy.ok("plan", "--env", "dev", "--component", "tenants")
    result = copy.invoke("apply", "--env", "dev", "--component", "tenants", "--confirm",
                         "deploy-dev")
    return result.returncode, result.stdout, " ".join(result.stderr.split())


def _migrations(copy: Copy, env: str) -> dict[str, dict]:
    listed = copy.invoke("migrations", "--env", env, "--component", "tenants", "--json")
    return {m["id"]: m for m in json.loads(listed.stdout)}


def _dev_items(copy: Copy) -> list[dict]:
    return list(table_items.scan_all(copy.session("dev").client("dynamodb"), "tenants"))


def test_a_dev_apply_runs_the_tables_pending_migrations(copy: Copy):
    code, out, err = _deploy_dev(copy)
    assert code == 0, out + err
    assert f"tenants {BACKFILL} in dev (sandbox, at most 2000 items/s)" in out
    assert "applied, verified, 1 migration(s) run" in out
    applied = _migrations(copy, "dev")[BACKFILL]
    assert applied["status"] == "applied"
    assert applied["applied"]["commit"] == copy.head() and not applied["applied"]["dirty"]
    assert applied["applied"]["counts"]["seen"] == 0  # a new table: nothing to change
    # the portal writes tenants meanwhile, some without activePartition
    table_items.write_tenants(copy.session("dev").client("dynamodb"), "tenants", ITEMS)


def test_a_migration_waits_for_the_apply_that_adds_its_index(copy: Copy):
    schema_path = copy.root / "dynamodb" / "tenants" / "tenant.schema.json"
    schema = json.loads(schema_path.read_text())
    schema["properties"]["emailDomain"] = {
        "description": "Lower-case domain of email; hash key of TenantEmailDomainIndex.",
        "type": "string", "maxLength": 253}
    schema["x-dynamodb"]["globalSecondaryIndexes"].append(
        {"name": "TenantEmailDomainIndex", "hashKey": "emailDomain",
         "projectionType": "KEYS_ONLY"})
    schema_path.write_text(json.dumps(schema, indent=2) + "\n")
    (copy.root / "migrations" / "tenants" / f"{DOMAIN}.py").write_text(DOMAIN_MIGRATION)
    copy.commit("emailDomain, its index and its backfill")

    early = copy.invoke("migrate", "--env", "dev", "--component", "tenants", "--confirm",
                        "migrate-dev")
    assert early.returncode == 1, early.stdout + early.stderr
    assert (f"tenants {DOMAIN} waits: it needs index TenantEmailDomainIndex, which is missing "
            "on table tenants") in " ".join(early.stderr.split())
    assert _migrations(copy, "dev")[DOMAIN]["status"] == "pending"

    code, out, err = _deploy_dev(copy)
    assert code == 0, out + err
    assert "applied, verified, 1 migration(s) run" in out
    ran = _migrations(copy, "dev")[DOMAIN]["applied"]
    assert ran["commit"] == copy.head() and ran["counts"]["changed"] == ITEMS
    assert all(i["emailDomain"]["S"] == i["email"]["S"].rsplit("@", 1)[1].lower()
               for i in _dev_items(copy))


def test_a_migration_that_failed_in_dev_holds_sit_back(copy: Copy):
    (copy.root / "migrations" / "tenants" / f"{BROKEN}.py").write_text(BROKEN_MIGRATION)
    broken = copy.commit("a migration with a bug")
    writers = sorted(i["lastUpdatedBy"]["S"] for i in _dev_items(copy))

    code, out, err = _deploy_dev(copy)
    assert code == 1, out + err
    assert (f"tenants was applied and verified in dev, but a migration did not finish "
            f"({BROKEN} failed") in err
    assert "invoke migrate --env dev --component tenants --confirm migrate-dev" in err
    assert "AttributeError: 'str' object has no attribute 'replace_all'" in err  # the first
    assert f"tenants {BROKEN}: failed: 300 seen, 0 changed, 0 skipped, 300 failed" in out
    named = [line for line in out.splitlines()
             if line.startswith(f"tenants {BROKEN}: failed: PK=TENANT#")]
    assert len(named) == 10  # the first ten failed items, each named by its key
    (apply,) = [r for r in copy.json("history", "--env", "dev", "--component", "tenants")
                if r["commit"] == broken and r["action"] == "apply"]
    assert (apply["result"], apply["verification"]) == ("applied", "passed")
    assert _migrations(copy, "dev")[BROKEN]["status"] == "pending"
    assert sorted(i["lastUpdatedBy"]["S"] for i in _dev_items(copy)) == writers

    assert "pending" in copy.ok("migrations", "--env", "sit")  # (sit's account made)
    before = copy.snapshot("sit")
    refused = copy.refused("promote", "--to", "sit", "--component", "tenants", "--confirm",
                           "promote-sit")
    assert (f"tenants at commit {broken[:12]}: migration tenants {BROKEN} has not been applied "
            "in dev, which every migration passes before sit; nothing was changed.") in refused
    refused = copy.refused("migrate", "--env", "sit", "--component", "tenants", "--confirm",
                           "migrate-sit")
    assert f"migration tenants {BROKEN} has not been applied in dev" in refused
    assert copy.snapshot("sit") == before


def test_the_fixed_migration_runs_in_dev_and_every_migration_in_sit(copy: Copy):
    (copy.root / "migrations" / "tenants" / f"{BROKEN}.py").write_text(FIXED_MIGRATION)
    fixed = copy.commit("the migration fixed")
    code, out, err = _deploy_dev(copy)
    assert code == 0, out + err
    ran = _migrations(copy, "dev")[BROKEN]["applied"]
    assert ran["commit"] == fixed and ran["counts"]["changed"] == ITEMS
    assert {i["lastUpdatedBy"]["S"] for i in _dev_items(copy)} == {"bulk-import"}

    out = copy.ok("promote", "--to", "sit", "--component", "tenants", "--confirm",
                  "promote-sit")
    assert "applied, verified, 3 migration(s) run" in out
    in_sit = _migrations(copy, "sit")
    assert {m["status"] for m in in_sit.values()} == {"applied"}
    assert {m["applied"]["commit"] for m in in_sit.values()} == {fixed}


def test_a_rollback_names_the_migrations_run_since_its_version(copy: Copy):
    versions = copy.json("state-versions", "--env", "dev", "--component", "tenants")
    first = versions[-1]  # the oldest: the first apply, before any item was migrated
    out = copy.ok("rollback", "--env", "dev", "--component", "tenants", "--version-id",
                  first["version_id"], "--dry-run")
    said = " ".join(out.split())
    assert "data: 2 migration run(s) changed this table's items since that version" in said
    assert f"{DOMAIN} (applied, {ITEMS:,} items changed" in said
    assert f"{BROKEN} (applied, {ITEMS:,} items changed" in said
    assert "reverse migration or restore a backup" in said


def test_prod_runs_them_on_promotion_too(copy: Copy):
    fixed = copy.head()
    out = copy.ok("promote", "--to", "prod", "--component", "tenants", "--confirm",
                  "promote-prod")
    assert "applied, verified, 3 migration(s) run" in out
    in_prod = _migrations(copy, "prod")
    assert {(m["status"], m["applied"]["commit"]) for m in in_prod.values()} == {
        ("applied", fixed)}
    again = copy.ok("migrate", "--env", "prod", "--component", "tenants", "--confirm",
                    "migrate-prod")
    assert "prod (sandbox): no pending migrations" in again
