"""The five read-only listings share one shape: rows as data, printed as a table or --json by
listings.show, exit 1 only when the listing found a failure. And the logic they had moved
down: the backups of every page (state.backups), the envs whose ledger cannot be read
(state.ledger.deployed_everywhere)."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from bbws_infra.commands import listings
from bbws_infra.core.errors import UserError
from bbws_infra.core.registry import COMPONENTS, load_environment
from bbws_infra.state import backups, ledger
from tests.support.moto_session import MotoSession


def _listing(**overrides: object) -> listings.Listing:
    values: dict = {"title": "things", "columns": ["id", "what"],
                    "rows": [["i-0123456789abcdef0", "a thing"]],
                    "records": [{"id": "i-0123456789abcdef0"}]}
    return listings.Listing(**(values | overrides))


def test_a_listing_prints_its_table_and_notes_and_exits_0(capsys):
    assert listings.show(_listing(notes=["fix: invoke unlock [--x]"]), as_json=False) == 0
    out = capsys.readouterr().out
    assert "i-0123456789abcdef0" in out and "things" in out
    assert out.rstrip().endswith("fix: invoke unlock [--x]")  # a note is never markup


def test_json_carries_the_records_alone(capsys):
    assert listings.show(_listing(notes=["a note"], empty="none"), as_json=True) == 0
    assert json.loads(capsys.readouterr().out) == [{"id": "i-0123456789abcdef0"}]


def test_an_empty_listing_says_so_and_is_no_failure(capsys):
    assert listings.show(_listing(rows=[], records=[], empty="nothing yet"), False) == 0
    assert capsys.readouterr().out == "nothing yet\n"
    assert listings.show(_listing(rows=[], records=[], empty="nothing yet"), True) == 0
    assert json.loads(capsys.readouterr().out) == []


@pytest.mark.parametrize("as_json", [False, True])
def test_a_listing_that_found_a_failure_exits_1_in_both_forms(as_json, capsys):
    assert listings.show(_listing(failed=True), as_json) == 1


def test_backups_of_every_page_newest_first():
    dev = load_environment("dev")
    with mock_aws():
        session = MotoSession()
        dynamodb = session.client("dynamodb", region_name=dev.region)
        dynamodb.create_table(TableName="tenants", BillingMode="PAY_PER_REQUEST",
                              AttributeDefinitions=[{"AttributeName": "PK",
                                                     "AttributeType": "S"}],
                              KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}])
        for number in range(3):
            dynamodb.create_backup(TableName="tenants", BackupName=f"backup-{number}")
        found = backups.list_backups(session, dev, {"tenants": "tenants"})
    assert sorted(b.name for b in found) == ["backup-0", "backup-1", "backup-2"]
    assert [b.created for b in found] == sorted((b.created for b in found), reverse=True)
    assert {b.component for b in found} == {"tenants"}


def test_only_table_components_have_backups():
    with pytest.raises(UserError, match="Only table components have backups"):
        backups.table_names([COMPONENTS["templates"]])
    assert backups.table_names([COMPONENTS["tenants"], COMPONENTS["templates"]]) == {
        "tenants": "tenants"}


def test_an_env_whose_ledger_cannot_be_read_is_named_and_the_others_still_listed():
    dev, sit = load_environment("dev"), load_environment("sit")
    denied = ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "GetObject")

    with mock_aws():
        session = MotoSession()
        session.client("s3", region_name=dev.region).create_bucket(
            Bucket=dev.state_bucket,
            CreateBucketConfiguration={"LocationConstraint": dev.region})

        def session_for(env):
            if env.name == "sit":  # these credentials may not read sit's ledger
                raise denied
            return session

        found, unreadable = ledger.deployed_everywhere(session_for, [dev, sit], ["tenants"])
    assert found == [ledger.Deployed("dev", "tenants", None)]
    assert list(unreadable) == ["sit"] and "AccessDenied" in unreadable["sit"]
