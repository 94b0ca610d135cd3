"""Drift report from refresh-only plan JSON: attribute differences, sensitive values, the
allowlist (validation with lines, env and attribute coverage), the text and the exit code.

The plan JSONs are shaped like `terraform show -json` of a refresh-only plan: drift is in
resource_drift, resource_changes stays empty."""

from __future__ import annotations

from pathlib import Path

import pytest

from bbws_infra.core.errors import InputFileError
from bbws_infra.release import drift
from bbws_infra.release.drift import AllowEntry, AttributeChange, Drift

TABLE = "module.table.aws_dynamodb_table.this"
OBJECT = 'aws_s3_bucket_object.template["welcome.html"]'
VAULT = "module.backup.aws_backup_vault.this"


def _drift(address: str, actions: list[str], before: dict | None, after: dict | None,
           before_sensitive: object = None, after_sensitive: object = None) -> dict:
    rtype, name = address.replace('["welcome.html"]', "").split(".")[-2:]
    change: dict = {"actions": actions, "before": before, "after": after, "after_unknown": {}}
    if before is not None:
        change["before_sensitive"] = {} if before_sensitive is None else before_sensitive
    if after is not None:
        change["after_sensitive"] = {} if after_sensitive is None else after_sensitive
    return {"address": address, "mode": "managed", "type": rtype, "name": name,
            "provider_name": "registry.terraform.io/hashicorp/aws", "change": change}


def _plan(*entries: dict) -> dict:
    return {"format_version": "1.2", "terraform_version": "1.15.0", "resource_changes": [],
            "resource_drift": list(entries)}


TABLE_BEFORE = {
    "name": "tenants", "billing_mode": "PAY_PER_REQUEST", "hash_key": "PK",
    "point_in_time_recovery": [{"enabled": True}],
    "attribute": [{"name": "PK", "type": "S"}, {"name": "SK", "type": "S"}],
    "tags": {"Environment": "dev", "Component": "dynamodb"},
}
TABLE_AFTER = {**TABLE_BEFORE, "point_in_time_recovery": [{"enabled": False}]}
OBJECT_BEFORE = {"bucket": "bbws-templates-dev", "key": "welcome.html",
                 "etag": "0f343b0931126a20f133d67c2b018a3b", "tags": {"Environment": "dev"}}
OBJECT_AFTER = {**OBJECT_BEFORE, "etag": "5d41402abc4b2a76b9719d911017c592",
                "tags": {"Environment": "dev", "Owner": "ops"}}


def _change(path: str, before: str, after: str) -> AttributeChange:
    return AttributeChange(path, before, after)


# --- drifts ----------------------------------------------------------------------------------


def test_pitr_switched_off_is_one_leaf_change():
    found = drift.drifts("tenants", _plan(_drift(TABLE, ["update"], TABLE_BEFORE, TABLE_AFTER)))
    assert found == [Drift("tenants", TABLE, "changed",
                           (_change("point_in_time_recovery[0].enabled", "true", "false"),))]


def test_object_etag_and_added_tag():
    found = drift.drifts("templates",
                         _plan(_drift(OBJECT, ["update"], OBJECT_BEFORE, OBJECT_AFTER)))
    assert found == [Drift("templates", OBJECT, "changed", (
        _change("etag", '"0f343b0931126a20f133d67c2b018a3b"',
                '"5d41402abc4b2a76b9719d911017c592"'),
        _change("tags.Owner", "(absent)", '"ops"'),
    ))]


def test_deleted_resource_has_no_attribute_changes():
    vault = {"name": "bbws-tenants-dev", "arn": "arn:aws:backup:eu-west-1:1:backup-vault:x"}
    found = drift.drifts("tenants", _plan(_drift(VAULT, ["delete"], vault, None)))
    assert found == [Drift("tenants", VAULT, "deleted", ())]


def test_unchanged_entries_are_ignored_and_the_rest_sorted_by_address():
    plan = _plan(
        _drift(TABLE, ["update"], TABLE_BEFORE, TABLE_AFTER),
        _drift("module.backup.aws_iam_role.backup", ["update"], {"name": "r"}, {"name": "r"}),
        _drift(VAULT, ["delete"], {"name": "v"}, None),
    )
    assert [d.address for d in drift.drifts("tenants", plan)] == [VAULT, TABLE]
    assert drift.drifts("tenants", {"resource_changes": []}) == []
    assert drift.drifts("tenants", {"resource_drift": None}) == []


def test_lists_of_other_length_are_one_change_and_nested_maps_recurse():
    before = {"replica": [], "ttl": [{"enabled": False, "attribute_name": ""}],
              "tags": {"kubernetes.io/team": "a", "Environment": "dev"}}
    after = {"replica": [{"region_name": "eu-central-1"}],
             "ttl": [{"enabled": True, "attribute_name": "expires"}],
             "tags": {"kubernetes.io/team": "b", "Environment": "dev"}}
    (found,) = drift.drifts("tenants", _plan(_drift(TABLE, ["update"], before, after)))
    assert found.changes == (
        _change("replica", "[]", '[{"region_name": "eu-central-1"}]'),
        _change('tags["kubernetes.io/team"]', '"a"', '"b"'),
        _change("ttl[0].attribute_name", '""', '"expires"'),
        _change("ttl[0].enabled", "false", "true"),
    )


def test_null_differs_from_absent():
    (found,) = drift.drifts("tenants", _plan(_drift(TABLE, ["update"], {"a": None}, {})))
    assert found.changes == (_change("a", "null", "(absent)"),)


def test_sensitive_values_are_never_printed():
    before = {"name": "r", "secret": "old-secret", "list": [{"token": "t1"}],
              "grants": [{"id": "x"}]}
    after = {"name": "r2", "secret": "new-secret", "list": [{"token": "t2"}],
             "grants": [{"id": "x"}, {"id": "y"}]}
    # Marked on one side only, at a leaf, inside a list, and inside a list that changed length.
    mask = {"list": [{"token": True}], "grants": [False, {"id": True}]}
    plan = _plan(_drift(TABLE, ["update"], before, after, {"secret": True, **mask}, mask))
    (found,) = drift.drifts("tenants", plan)
    assert found.changes == (
        _change("grants", "(sensitive)", "(sensitive)"),
        _change("list[0].token", "(sensitive)", "(sensitive)"),
        _change("name", '"r"', '"r2"'),
        _change("secret", "(sensitive)", "(sensitive)"),
    )
    assert "secret" not in drift.report_text("dev", [found]).replace("secret:", "")


def test_whole_resource_marked_sensitive():
    plan = _plan(_drift(TABLE, ["update"], {"a": 1}, {"a": 2}, True, True))
    (found,) = drift.drifts("tenants", plan)
    assert found.changes == (_change("a", "(sensitive)", "(sensitive)"),)


def test_long_values_are_shortened():
    policy = '{"Version":"2012-10-17","Statement":[' + '{"Effect":"Allow"},' * 10 + "]}"
    (found,) = drift.drifts("templates", _plan(_drift(
        "module.templates_bucket_policy.aws_s3_bucket_policy.this", ["update"],
        {"policy": policy}, {"policy": policy + " "})))
    (change,) = found.changes
    assert len(change.before) == 60 and change.before.endswith("...")
    assert change.before.startswith('"{\\"Version\\"')


# --- Allowlist -------------------------------------------------------------------------------


VALID = """\
# comment
accepted:
  - component: templates
    address: aws_s3_bucket_object.template["welcome.html"]
    attributes: [etag, tags]
    reason: >-
      Uploaded by hand during the
      template freeze.

  - env: prod
    component: tenants
    address: module.table.aws_dynamodb_table.this
    reason: PITR is switched by the DBA runbook.
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "drift-allowlist.yml"
    path.write_text(text)
    return path


def test_valid_allowlist_loads_with_lines_and_defaults(tmp_path):
    entries = drift.load_allowlist(_write(tmp_path, VALID))
    assert entries == [
        AllowEntry("*", "templates", OBJECT, ("etag", "tags"),
                   "Uploaded by hand during the template freeze.", 3),
        AllowEntry("prod", "tenants", TABLE, (), "PITR is switched by the DBA runbook.", 10),
    ]


def test_missing_file_and_empty_list_accept_nothing(tmp_path):
    assert drift.load_allowlist(tmp_path / "absent.yml") == []
    assert drift.load_allowlist(_write(tmp_path, "accepted: []\n")) == []


def test_committed_allowlist_loads():
    assert drift.ALLOWLIST_PATH.is_file()
    assert isinstance(drift.load_allowlist(), list)


ENTRY = f"accepted:\n  - component: tenants\n    address: {TABLE}\n    reason: r\n"


@pytest.mark.parametrize(("text", "line", "words"), [
    ("- accepted: []\n", 1, "must be a mapping"),
    ("accepted: []\nignored: []\n", 2, "ignored is not an allowlist key"),
    ("# nothing accepted\nother: 1\n", 2, "other is not an allowlist key"),
    ("version: 1\n", 1, "version is not an allowlist key"),
    ("{}\n", 1, "accepted is missing"),
    ("accepted:\n", 1, "must be a list"),
    ("accepted:\n  component: tenants\n", 1, "must be a list"),
    ("accepted:\n  - tenants\n", 2, "must be a mapping"),
    (ENTRY + "    attribute: [etag]\n", 5, "attribute is not an allowlist entry key"),
    ("accepted:\n  - component: tenants\n    reason: r\n", 2, "lacks address"),
    ("accepted:\n  - address: x.y\n", 2, "lacks component and reason"),
    (ENTRY + "\n  - component: tenants\n    address: x.y\n", 6, "lacks reason"),
    (ENTRY.replace("reason: r", "reason: '  '"), 4, "reason must be non-empty text"),
    (ENTRY.replace("reason: r", "reason:"), 4, "reason must be non-empty text, not nothing"),
    (ENTRY.replace("tenants", "orders"), 2, "component 'orders' is not a component"),
    (ENTRY.replace("tenants", "[tenants]"), 2, "component must be non-empty text"),
    (ENTRY + "    env: staging\n", 5, "env 'staging' is not an environment"),
    (ENTRY + "    env: [dev]\n", 5, "env must be non-empty text"),
    (ENTRY + "    env: *\n", 5, "not valid YAML"),
    (ENTRY.replace(TABLE, "aws_dynamodb_table"), 3, "not a managed resource address"),
    (ENTRY.replace(TABLE, "data.aws_iam_policy_document.tls"), 3,
     "not a managed resource address"),
    (ENTRY + "    attributes: etag\n", 5, "attributes must be a list"),
    (ENTRY + "    attributes: []\n", 5, "leave it out to accept any attribute"),
    (ENTRY + "    attributes:\n      - etag\n      - 3\n", 7, "attribute 3 is not"),
    (ENTRY + "    attributes:\n      - point_in_time_recovery.0.enabled\n", 6,
     "is not an attribute path"),
    (ENTRY + "    reason: again\n", 5, "sets reason twice (first on line 4)"),
    ("accepted: [\n", 2, "not valid YAML"),
])
def test_broken_allowlist_names_the_line(tmp_path, text, line, words):
    path = _write(tmp_path, text)
    with pytest.raises(InputFileError) as caught:
        drift.load_allowlist(path)
    assert caught.value.line == line, caught.value
    assert words in caught.value.message
    assert caught.value.file.endswith("drift-allowlist.yml")
    assert str(caught.value).startswith(f"{caught.value.file}:{line}: ")


def test_empty_file_is_refused(tmp_path):
    with pytest.raises(InputFileError, match="is empty"):
        drift.load_allowlist(_write(tmp_path, "# only a comment\n"))


def test_accepted_attribute_paths_match_what_drifts_prints(tmp_path):
    # Paths with brackets need the block form (or quotes): [ ] also delimit a YAML flow list.
    text = ENTRY + ("    attributes:\n      - point_in_time_recovery[0].enabled\n"
                    "      - 'tags[\"kubernetes.io/team\"]'\n      - ttl\n")
    (entry,) = drift.load_allowlist(_write(tmp_path, text))
    assert entry.attributes == ("point_in_time_recovery[0].enabled",
                                'tags["kubernetes.io/team"]', "ttl")


# --- classify, report, exit code -------------------------------------------------------------


PITR = Drift("tenants", TABLE, "changed",
             (_change("point_in_time_recovery[0].enabled", "true", "false"),))
ETAG_AND_TAG = Drift("templates", OBJECT, "changed", (
    _change("etag", '"0f34"', '"5d41"'), _change("tags.Owner", "(absent)", '"ops"')))
GONE = Drift("tenants", VAULT, "deleted", ())


def _entry(component: str, address: str, *attributes: str, env: str = "*",
           reason: str = "known") -> AllowEntry:
    return AllowEntry(env, component, address, attributes, reason, 1)


def test_any_env_entry_matches_every_env_and_a_named_env_only_its_own():
    anywhere = _entry("tenants", TABLE, "point_in_time_recovery")
    only_sit = _entry("tenants", TABLE, env="sit")
    for env in ("dev", "sit", "prod"):
        assert drift.classify([PITR], [anywhere], env)[0].allowed_by == anywhere
    assert drift.classify([PITR], [only_sit], "sit")[0].allowed_by == only_sit
    assert drift.classify([PITR], [only_sit], "dev")[0].allowed_by is None
    assert drift.classify([PITR], [only_sit], "prod")[0].allowed_by is None


def test_component_and_address_must_both_match():
    assert drift.classify([PITR], [_entry("products", TABLE)], "dev")[0].allowed_by is None
    assert drift.classify([PITR], [_entry("tenants", VAULT)], "dev")[0].allowed_by is None


def test_every_changed_path_must_be_covered_by_one_entry():
    partial = _entry("templates", OBJECT, "etag")
    prefix_only = _entry("templates", OBJECT, "etag", "tag")  # "tag" is not "tags"
    full = _entry("templates", OBJECT, "etag", "tags")
    exact = _entry("templates", OBJECT, "etag", "tags.Owner")
    assert drift.classify([ETAG_AND_TAG], [partial], "dev")[0].allowed_by is None
    assert drift.classify([ETAG_AND_TAG], [prefix_only], "dev")[0].allowed_by is None
    # Two entries each covering part are not one entry covering all.
    split = [partial, _entry("templates", OBJECT, "tags")]
    assert drift.classify([ETAG_AND_TAG], split, "dev")[0].allowed_by is None
    assert drift.classify([ETAG_AND_TAG], [partial, full], "dev")[0].allowed_by == full
    assert drift.classify([ETAG_AND_TAG], [exact], "dev")[0].allowed_by == exact
    indexed = _entry("tenants", TABLE, "point_in_time_recovery[0]")
    assert drift.classify([PITR], [indexed], "dev")[0].allowed_by == indexed
    other_index = _entry("tenants", TABLE, "point_in_time_recovery[1]")
    assert drift.classify([PITR], [other_index], "dev")[0].allowed_by is None


def test_deletion_is_covered_only_by_an_entry_without_attributes():
    named = _entry("tenants", VAULT, "name")
    whole = _entry("tenants", VAULT)
    assert drift.classify([GONE], [named], "dev")[0].allowed_by is None
    assert drift.classify([GONE], [named, whole], "dev")[0].allowed_by == whole


def test_classify_returns_new_objects_and_can_reclassify():
    entry = _entry("tenants", TABLE)
    classified = drift.classify([PITR, GONE], [entry], "dev")
    assert PITR.allowed_by is None
    assert [d.allowed_by for d in classified] == [entry, None]
    assert [d.allowed_by for d in drift.classify(classified, [], "dev")] == [None, None]


def test_exit_codes():
    entry = _entry("tenants", TABLE)
    assert drift.exit_code([]) == 0
    assert drift.exit_code(drift.classify([PITR], [entry], "dev")) == 0
    assert drift.exit_code(drift.classify([PITR, GONE], [entry], "dev")) == 2
    assert drift.exit_code([PITR]) == 2


def test_report_text():
    entry = _entry("tenants", TABLE, reason="PITR is switched by the DBA runbook.")
    found = drift.classify([GONE, ETAG_AND_TAG, PITR], [entry], "dev")
    assert drift.report_text("dev", found) == (
        "templates  aws_s3_bucket_object.template[\"welcome.html\"]  changed\n"
        '    etag: "0f34" -> "5d41"\n'
        '    tags.Owner: (absent) -> "ops"\n'
        "tenants  module.backup.aws_backup_vault.this  deleted\n"
        "tenants  module.table.aws_dynamodb_table.this  changed"
        "  [allowlisted: PITR is switched by the DBA runbook.]\n"
        "    point_in_time_recovery[0].enabled: true -> false\n"
        "3 drifted address(es) in dev, 1 allowlisted\n"
    )
    assert drift.report_text("prod", []) == "no drift in prod\n"


def test_plan_to_report_end_to_end(tmp_path):
    allowlist = drift.load_allowlist(_write(tmp_path, VALID))
    found = drift.drifts("templates", _plan(
        _drift(OBJECT, ["update"], OBJECT_BEFORE, OBJECT_AFTER)))
    found += drift.drifts("tenants", _plan(
        _drift(TABLE, ["update"], TABLE_BEFORE, TABLE_AFTER)))
    dev = drift.classify(found, allowlist, "dev")
    prod = drift.classify(found, allowlist, "prod")
    assert [d.allowed_by is not None for d in dev] == [True, False]
    assert drift.exit_code(dev) == 2
    assert drift.exit_code(prod) == 0
    assert drift.report_text("prod", prod).endswith(
        "2 drifted address(es) in prod, 2 allowlisted\n")


def test_unset_and_zero_values_are_no_drift():
    # what provider 3.39 writes at create (null) and reads back on the next refresh
    before = {"metadata": None, "tags": None, "read_capacity": None, "name": None, "ok": None,
              "enabled": None}
    after = {"metadata": {}, "tags": [], "read_capacity": 0, "name": "", "ok": None,
             "enabled": False}
    (found,) = drift.drifts("tenants", _plan(_drift(TABLE, ["update"], before, after)))
    assert found.changes == (_change("enabled", "null", "false"),)
