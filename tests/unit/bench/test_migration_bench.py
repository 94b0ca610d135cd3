"""The migration bench's parts against an in-process DynamoDB (moto): the generated items
and the plain loop it compares the engine with. The bench itself runs on the sandbox
(invoke bench --only migration)."""

from __future__ import annotations

import pytest
from moto import mock_aws

from bbws_infra.bench import migration_bench, table_items
from bbws_infra.commands import benchmark
from tests.support.moto_session import MotoSession


@pytest.fixture
def dynamodb():
    with mock_aws():
        client = MotoSession().client("dynamodb")
        client.create_table(
            TableName="tenants", BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"},
                       {"AttributeName": "SK", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"},
                                  {"AttributeName": "SK", "AttributeType": "S"}])
        yield client


def test_generated_items_are_reproducible_and_mixed(dynamodb):
    first, again = list(table_items.generated(200)), list(table_items.generated(200))
    assert first == again and len({i["PK"]["S"] for i in first}) == 200
    assert list(table_items.generated(50)) == first[:50], "a smaller set is a prefix"
    needing = table_items.write_tenants(dynamodb, "tenants", 200)
    assert needing == sum(map(table_items.needs_backfill, first))
    assert 40 < needing < 160, "some need the backfill, some do not"
    assert table_items.wrong_items(dynamodb, "tenants") == needing


def test_the_plain_loop_backfills_every_item(dynamodb):
    needing = table_items.write_tenants(dynamodb, "tenants", 300)
    seconds, changed = migration_bench.plain_loop(dynamodb, "tenants")
    assert changed == needing and seconds > 0
    assert table_items.wrong_items(dynamodb, "tenants") == 0
    # written back as generated, they need it again
    assert table_items.write_tenants(dynamodb, "tenants", 300) == needing
    assert table_items.wrong_items(dynamodb, "tenants") == needing


def test_only_the_named_entries_run_alone(capsys):
    assert benchmark.bench(env="dev", repeats=1, only="everything") == 2
    assert "the entries that run alone are migration" in capsys.readouterr().err
