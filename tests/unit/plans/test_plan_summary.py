import pytest

from bbws_infra.plans.plan_summary import UnknownPlanAction, summarise


def _change(address, *actions):
    return {"address": address, "type": address.split(".")[-2],
            "change": {"actions": list(actions)}}


PLAN = {"resource_changes": [
    _change("aws_dynamodb_table.this", "create"),
    _change("aws_s3_bucket.templates", "update"),
    _change("aws_backup_vault.this", "delete", "create"),
    _change("aws_iam_role.backup", "create", "delete"),
    _change("aws_s3_bucket_object.old", "delete"),
    _change("aws_s3_bucket.logs", "no-op"),
    _change("data.aws_iam_policy_document.tls", "read"),
]}


def test_counts_match_terraform_semantics():
    summary = summarise(PLAN)
    assert (summary.add, summary.change, summary.destroy) == (3, 1, 3)
    assert summary.has_changes
    assert [c[1] for c in summary.removals()] == [
        "aws_backup_vault.this", "aws_iam_role.backup", "aws_s3_bucket_object.old"]


def test_text_lists_protected_then_removals_first():
    text = summarise(PLAN).text("tenants in prod (sandbox)", ["aws_backup_vault.this"])
    lines = text.splitlines()
    assert lines[0] == "tenants in prod (sandbox): 3 to add, 1 to change, 3 to destroy."
    assert lines[1].startswith(
        "DELETION PROTECTION: this plan deletes, replaces or forgets 1 protected")
    assert lines[2] == "  ! aws_backup_vault.this"
    assert [line.split()[-1] for line in lines[3:]] == [
        "aws_backup_vault.this", "aws_iam_role.backup", "aws_s3_bucket_object.old",
        "aws_dynamodb_table.this", "aws_s3_bucket.templates"]


def test_markdown_puts_protection_and_deletions_first():
    markdown = summarise(PLAN).markdown("tenants in prod (aws)", ["aws_backup_vault.this"])
    caution = markdown.index("[!CAUTION]")
    deletions = markdown.index("#### Deletions, replacements and forgets")
    everything = markdown.index("#### All changes")
    assert markdown.startswith("### tenants in prod (aws)")
    assert caution < deletions < everything
    assert "> - `aws_backup_vault.this`" in markdown
    assert "- **REPLACE (delete, then create)** `aws_backup_vault.this`" in markdown
    assert "| + create | `aws_dynamodb_table.this` | `aws_dynamodb_table` |" in markdown


def test_empty_plan_has_no_changes():
    summary = summarise({"resource_changes": [_change("aws_s3_bucket.logs", "no-op")]})
    assert not summary.has_changes
    assert summary.counts == "0 to add, 0 to change, 0 to destroy"
    assert "No changes" in summary.markdown("x")
    assert "[!CAUTION]" not in summary.markdown("x")


TABLE = "module.table.aws_dynamodb_table.this"


def test_forget_import_and_move_are_changes_a_reviewer_sees():
    plan = {"resource_changes": [
        _change(TABLE, "forget"),
        {**_change("aws_s3_bucket.new", "no-op"), "previous_address": "aws_s3_bucket.old"},
        {"address": "aws_s3_bucket.found", "type": "aws_s3_bucket",
         "change": {"actions": ["no-op"], "importing": {"id": "bbws-found"}}},
        _change("aws_iam_role.backup", "create", "forget"),
    ]}
    summary = summarise(plan)
    assert summary.has_changes
    assert summary.counts == ("1 to add, 0 to change, 0 to destroy, 2 to forget, 1 to import, "
                              "1 to move")
    assert sorted(c.address for c in summary.removals()) == ["aws_iam_role.backup", TABLE]
    text = summary.text("tenants in prod (sandbox)")
    assert f"  x {TABLE}" in text
    assert "  -> aws_s3_bucket.new (moved from aws_s3_bucket.old)" in text
    assert "  <= aws_s3_bucket.found (imported from id bbws-found)" in text
    markdown = summary.markdown("tenants in prod (sandbox)")
    assert f"- **FORGET (stays in the account, no longer managed)** `{TABLE}`" in markdown


def test_a_moved_resource_that_also_changes_keeps_both():
    plan = {"resource_changes": [
        {**_change("aws_s3_bucket.new", "update"), "previous_address": "aws_s3_bucket.old"}]}
    (change,) = summarise(plan).changes
    assert (change.action, change.previous_address) == ("update", "aws_s3_bucket.old")
    assert summarise(plan).counts == "0 to add, 1 to change, 0 to destroy, 1 to move"


@pytest.mark.parametrize("actions", [["archive"], ["delete", "forget"], []])
def test_an_action_this_tool_does_not_know_is_refused(actions):
    with pytest.raises(UnknownPlanAction, match="does not know"):
        summarise({"resource_changes": [_change(TABLE, *actions)]})
