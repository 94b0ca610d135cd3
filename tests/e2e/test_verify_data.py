"""verify's data stage on the sandbox: dev deployed (the deploy path runs the stage after each
apply), `invoke verify --env dev` runs every access pattern of every table through a canary and
renders every template object, leaving no canary behind; an env whose tfvars allow no canary
writes (prod) only reads; an index whose projection changed and a template variable removed
behind Terraform's back fail naming the pattern, the index and the attribute; a canary a killed
run left is removed by the next run, and Ctrl-C leaves none.

Runs in a throw-away copy of the repository with its own sandbox (the breaks stay there).
"""

from __future__ import annotations

import dataclasses
import json
import time
import urllib.request

import pytest

from bbws_infra.core.registry import COMPONENTS, PROMOTION_ORDER, load_environment
from bbws_infra.inputs import access_patterns
from bbws_infra.inputs import templates as templates_module
from bbws_infra.inputs.schemas import load_table_definition, schema_file
from bbws_infra.release import canary, verify_data
from tests.support.aws_requests import Call, calls, load_recording
from tests.support.repo_copies import Copy, make_copy

pytestmark = pytest.mark.e2e

TABLES = ("tenants", "products", "campaigns")
DATA = ("tenants", "products", "campaigns", "templates")
BUCKET = "bbws-templates-dev"


@pytest.fixture(scope="module")
def copy(work, tmp_path_factory):
    yield from make_copy("verify-data", work, tmp_path_factory)


@pytest.fixture(scope="module")
def dev(copy: Copy) -> Copy:
    copy.ok("plan", "--env", "dev", "--component", ",".join(DATA))
    copy.ok("apply", "--env", "dev", "--component", ",".join(DATA), "--confirm", "deploy-dev")
    return copy


def _patterns(copy: Copy, table: str) -> list[str]:
    definition = load_table_definition(schema_file(COMPONENTS[table], copy.root))
    return [p.name for p in access_patterns.load(definition.schema)]


def _canaries(copy: Copy) -> dict[str, list[str]]:
    """Every item of each table that carries the canary marker (a full scan)."""
    dynamodb = copy.session("dev").client("dynamodb")
    return {t: [i["PK"]["S"] for i in dynamodb.scan(TableName=t)["Items"] if canary.is_canary(i)]
            for t in TABLES}


def _verify(copy: Copy, components: tuple[str, ...] = DATA) -> tuple[int, list[dict]]:
    result = copy.invoke("verify", "--env", "dev", "--component", ",".join(components), "--json")
    assert result.stdout, result.stderr
    return result.returncode, json.loads(result.stdout)


class _Recording:
    """The sandbox's request recorder around one block: the requests it served."""

    def __init__(self, copy: Copy) -> None:
        port = json.loads((copy.work / "sandbox" / "server.json").read_text())["port"]
        self.base = f"http://127.0.0.1:{port}/moto-api/recorder/"
        self.copy = copy
        self.entries: list[dict] = []

    def _call(self, verb: str, method: str = "POST") -> str:
        with urllib.request.urlopen(urllib.request.Request(self.base + verb, method=method),
                                    timeout=60) as response:
            return str(response.read().decode())

    def __enter__(self) -> _Recording:
        self._call("reset-recording")
        self._call("start-recording")
        return self

    def __exit__(self, *_: object) -> None:
        self._call("stop-recording")
        self.entries = load_recording(self._call("download-recording", "GET"))

    def calls(self) -> list[Call]:
        """Each request as IAM sees it (action, resource ARN)."""
        server = json.loads((self.copy.work / "sandbox" / "server.json").read_text())
        keys = {server["credentials"][e.account_id]["access_key"]: e
                for e in map(load_environment, PROMOTION_ORDER)
                if e.account_id in server["credentials"]}
        return calls(self.entries, keys)

    def dynamodb(self) -> list[tuple[str, str]]:
        """(operation, table) of each DynamoDB request."""
        return [(c.operation, c.request.resource.split(":table/", 1)[-1].split("/")[0])
                for c in self.calls() if c.service == "dynamodb"]


def test_verify_runs_every_pattern_and_template_and_leaves_no_canary(dev: Copy):
    history = dev.json("history", "--env", "dev")
    assert {r["component"]: r["verification"] for r in history} == dict.fromkeys(DATA, "passed")

    with _Recording(dev) as recording:
        started = time.monotonic()
        code, checks = _verify(dev)
        seconds = time.monotonic() - started
    assert code == 0, [c for c in checks if not c["ok"]]
    data = {(c["component"], c["name"]) for c in checks if c["name"].startswith("data: ")}
    for table in TABLES:
        for name in ("canary written", "canary deleted", "left-over canaries",
                     *_patterns(dev, table)):
            assert (table, f"data: {name}") in data
    templates = {n for c, n in data if c == "templates"}
    contracts, _ = templates_module.load_contracts(dev.root)
    assert templates == {f"data: template {c[k]}" for c in contracts or []
                         for k in ("key", "text_key")}
    assert "data: template receipts/receipt.html" in templates
    assert _canaries(dev) == {t: [] for t in TABLES}

    # the writes of the stage: one PutItem and one DeleteItem per table, nothing else
    calls = [(op, t) for op, t in recording.dynamodb() if t in TABLES]
    writes = sorted((op, t) for op, t in calls if op not in ("DescribeTable", "Query",
                                                             "DescribeContinuousBackups",
                                                             "DescribeTimeToLive",
                                                             "ListTagsOfResource"))
    assert writes == sorted((op, t) for t in TABLES for op in ("PutItem", "DeleteItem"))
    per_table = {t: sum(1 for op, n in calls if n == t and op in ("PutItem", "DeleteItem",
                                                                   "Query")) for t in TABLES}
    # one Query for left-overs, the PutItem, one Query per pattern, the DeleteItem
    assert per_table == {t: 3 + len(_patterns(dev, t)) for t in TABLES}

    # what the stage adds, timed on its own against the same deployment
    session, env = dev.session("dev"), load_environment("dev", dev.root)
    started = time.monotonic()
    for name in DATA:
        assert all(c.ok for c in verify_data.data_checks(session, env, COMPONENTS[name],
                                                         dev.root))
    stage = time.monotonic() - started
    actions = sorted({f"{c.request.action} {c.request.resource}" for c in recording.calls()
                      if c.service in ("dynamodb", "s3")})
    print("\n" + "\n".join(actions))
    print(f"\nverify --env dev ({', '.join(DATA)}): {seconds:.1f} s; data stage alone "
          f"{stage:.2f} s; requests per table: {per_table}")


def test_where_canary_writes_are_off_the_stage_only_reads(dev: Copy):
    """prod's switch: nothing is written, every pattern's index still answers."""
    dev_env = load_environment("dev", dev.root)
    assert load_environment("prod", dev.root).verify_canary_writes is False
    off = dataclasses.replace(dev_env, values={**dev_env.values, "verify_canary_writes": False})
    session = dev.session("dev")
    dynamodb = session.client("dynamodb")
    before = {t: dynamodb.scan(TableName=t)["Items"] for t in TABLES}
    with _Recording(dev) as recording:
        checks = [c for name in DATA for c in verify_data.data_checks(
            session, off, COMPONENTS[name], dev.root)]
    assert [c for c in checks if not c.ok] == []
    assert not any("canary written" in c.name for c in checks)
    assert {op for op, _ in recording.dynamodb()} == {"DescribeTable", "Query"}
    methods = {e["method"] for e in recording.entries}
    assert methods == {"POST", "GET"}  # DynamoDB's POSTs are the reads above; S3's GETs
    assert all(e["method"] == "GET" for e in recording.entries
               if "x-amz-target" not in {k.lower() for k in e["headers"]})
    assert {t: dynamodb.scan(TableName=t)["Items"] for t in TABLES} == before


def test_a_killed_run_leaves_a_canary_the_next_run_removes_and_ctrl_c_leaves_none(dev: Copy):
    args = ("verify", "--env", "dev", "--component", "tenants", "--json")
    # killed outright the moment its canary is written: nothing can delete it
    killed = dev.invoke(*args, BBWS_FAULT_INTERRUPT_AT="canary", BBWS_FAULT_SIGNAL="KILL")
    assert killed.returncode == -9, killed.stderr
    (left,) = _canaries(dev)["tenants"]
    # an hour later, as far as its marker says (younger ones belong to a run under way)
    dynamodb = dev.session("dev").client("dynamodb")
    item = dynamodb.get_item(TableName="tenants", Key={"PK": {"S": left},
                                                       "SK": {"S": "METADATA"}})["Item"]
    marker = item["lastUpdatedBy"]["S"].split(" ")
    marker[1] = "2026-01-01T00:00:00Z"
    dynamodb.update_item(TableName="tenants", Key={"PK": {"S": left}, "SK": {"S": "METADATA"}},
                         UpdateExpression="SET lastUpdatedBy = :m",
                         ExpressionAttributeValues={":m": {"S": " ".join(marker)}})

    result = dev.invoke(*args)
    failed = {c["name"]: c["found"] for c in json.loads(result.stdout) if not c["ok"]}
    assert result.returncode == 1
    assert failed == {"data: left-over canaries": f"1 left by an earlier run, 1 removed now: "
                                                  f"{left}"}
    assert _canaries(dev)["tenants"] == []

    # Ctrl-C with the canary written: the patterns stop, the canary goes, exit 130
    stopped = dev.invoke(*args, BBWS_FAULT_INTERRUPT_AT="canary")
    assert stopped.returncode == 130, stopped.stdout + stopped.stderr
    assert _canaries(dev)["tenants"] == []
    _, checks = _verify(dev, ("tenants",))
    assert all(c["ok"] for c in checks)


def test_an_index_and_a_template_changed_behind_terraforms_back_fail_by_name(dev: Copy):
    session = dev.session("dev")
    dynamodb, s3 = session.client("dynamodb"), session.client("s3")
    # EmailIndex again, but holding the keys only: sign-in would lose the tenant's details
    defined = dynamodb.describe_table(TableName="tenants")["Table"]["AttributeDefinitions"]
    dynamodb.update_table(TableName="tenants", GlobalSecondaryIndexUpdates=[
        {"Delete": {"IndexName": "EmailIndex"}}])
    # all of them: the sandbox replaces the table's definitions with these (AWS merges)
    dynamodb.update_table(
        TableName="tenants", AttributeDefinitions=defined,
        GlobalSecondaryIndexUpdates=[{"Create": {
            "IndexName": "EmailIndex", "KeySchema": [{"AttributeName": "email",
                                                      "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "KEYS_ONLY"}}}])
    key = "receipts/receipt.html"
    original = s3.get_object(Bucket=BUCKET, Key=key)
    body = original["Body"].read().replace(b"{{paymentReference}}", b"")
    s3.put_object(Bucket=BUCKET, Key=key, Body=body, ContentType=original["ContentType"])

    code, checks = _verify(dev, ("tenants", "templates"))
    failed = {(c["component"], c["name"]): c["found"] for c in checks
              if not c["ok"] and c["name"].startswith("data: ")}
    assert code == 1
    assert failed[("tenants", "data: tenant by email")] == (
        "EmailIndex returned the canary without id, status, organizationName, "
        "destinationEmail, active")
    assert failed[("templates", f"data: template {key}")] == "no tag for paymentReference"
    assert set(failed) == {("tenants", "data: tenant by email"),
                           ("templates", f"data: template {key}")}
    assert _canaries(dev) == {t: [] for t in TABLES}
