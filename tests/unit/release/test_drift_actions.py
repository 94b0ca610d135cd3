"""Accepting drift: the entries made read back through the allowlist's own validation and
accept exactly that drift (quoted addresses, paths with brackets and map keys, a deletion
without attributes), in the env it was seen in; a reason is required."""

from __future__ import annotations

from pathlib import Path

import pytest

from bbws_infra.core.errors import UserError
from bbws_infra.release import drift, drift_actions
from tests.support.work_dirs import using_work_dir
from tests.unit.release.test_drift import (
    OBJECT,
    OBJECT_AFTER,
    OBJECT_BEFORE,
    TABLE,
    TABLE_AFTER,
    TABLE_BEFORE,
    VAULT,
    _drift,
    _plan,
)


def _all() -> list[drift.Drift]:
    vault = {"name": "bbws-tenants-dev"}
    tagged = {**TABLE_AFTER, "tags": {**TABLE_AFTER["tags"], "kubernetes.io/x": "1"}}
    return (drift.drifts("tenants", _plan(_drift(TABLE, ["update"], TABLE_BEFORE, tagged),
                                          _drift(VAULT, ["delete"], vault, None)))
            + drift.drifts("templates", _plan(_drift(OBJECT, ["update"], OBJECT_BEFORE,
                                                     OBJECT_AFTER))))


def test_the_entries_accept_exactly_the_drift_they_were_made_for(tmp_path: Path):
    found = _all()
    text = drift_actions.checked_entries("dev", found, "It's harmless: a test.")
    # the vault was deleted: its entry names no attributes
    assert text.startswith("  - component: tenants\n    address: module.backup.aws_backup_vault"
                           ".this\n    env: dev\n    reason: 'It''s harmless: a test.'\n"
                           "  - component: tenants\n    address: "
                           "module.table.aws_dynamodb_table.this\n    env: dev\n"
                           "    attributes:\n      - 'point_in_time_recovery[0].enabled'\n"
                           "      - 'tags[\"kubernetes.io/x\"]'\n"
                           "    reason: 'It''s harmless: a test.'\n")
    assert "    address: 'aws_s3_bucket_object.template[\"welcome.html\"]'\n" in text
    allowlist = tmp_path / "allowlist.yml"
    allowlist.write_text("accepted:\n" + text)
    entries = drift.load_allowlist(allowlist)
    assert all(d.allowed_by for d in drift.classify(found, entries, "dev"))
    assert not any(d.allowed_by for d in drift.classify(found, entries, "sit"))
    # another value of a named attribute is still accepted; another attribute is not
    more = {**OBJECT_AFTER, "content_type": "text/plain"}
    (other,) = drift.drifts("templates", _plan(_drift(OBJECT, ["update"], OBJECT_BEFORE, more)))
    assert drift.classify([other], entries, "dev")[0].allowed_by is None


def test_the_entries_go_under_the_work_dir(tmp_path: Path):
    with using_work_dir(tmp_path):
        path = drift_actions.write_entries("dev", "  - component: tenants\n")
    assert path == tmp_path / "drift-accept" / "dev.yml"
    assert path.read_text().endswith("  - component: tenants\n")


@pytest.mark.parametrize("reason", [None, "", "   ", "bell\x07"])
def test_a_reason_is_required(reason: str | None):
    with pytest.raises(UserError, match="--accept needs --reason"):
        drift_actions.clean_reason(reason)
    assert drift_actions.clean_reason("  two\n lines ") == "two lines"
