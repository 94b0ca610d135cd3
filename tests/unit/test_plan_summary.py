from bbws_infra.plan_summary import summarise


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
    assert lines[1].startswith("DELETION PROTECTION: this plan deletes or replaces 1 protected")
    assert lines[2] == "  ! aws_backup_vault.this"
    assert [line.split()[-1] for line in lines[3:]] == [
        "aws_backup_vault.this", "aws_iam_role.backup", "aws_s3_bucket_object.old",
        "aws_dynamodb_table.this", "aws_s3_bucket.templates"]


def test_markdown_puts_protection_and_deletions_first():
    markdown = summarise(PLAN).markdown("tenants in prod (aws)", ["aws_backup_vault.this"])
    caution = markdown.index("[!CAUTION]")
    deletions = markdown.index("#### Deletions and replacements")
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
