from bbws_infra.plan_summary import summarise


def _change(address, *actions):
    return {"address": address, "type": address.split(".")[-2],
            "change": {"actions": list(actions)}}


def test_counts_match_terraform_semantics():
    plan = {"resource_changes": [
        _change("aws_dynamodb_table.this", "create"),
        _change("aws_s3_bucket.templates", "update"),
        _change("aws_backup_vault.this", "delete", "create"),
        _change("aws_iam_role.backup", "create", "delete"),
        _change("aws_s3_bucket_object.old", "delete"),
        _change("aws_s3_bucket.logs", "no-op"),
        _change("data.aws_iam_policy_document.tls", "read"),
    ]}
    summary = summarise(plan)
    assert (summary.add, summary.change, summary.destroy) == (3, 1, 3)
    assert summary.has_changes
    assert [c[1] for c in summary.removals()] == [
        "aws_backup_vault.this", "aws_iam_role.backup", "aws_s3_bucket_object.old"]
    text = summary.text("tenants in dev (sandbox)")
    assert text.splitlines()[0] == (
        "tenants in dev (sandbox): 3 to add, 1 to change, 3 to destroy.")
    assert "-/+ aws_backup_vault.this" in text


def test_empty_plan_has_no_changes():
    summary = summarise({"resource_changes": [_change("aws_s3_bucket.logs", "no-op")]})
    assert not summary.has_changes
    assert summary.counts == "0 to add, 0 to change, 0 to destroy"
