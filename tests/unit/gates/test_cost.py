"""The offline cost estimate: hand-computed prices per service, region resolution, file
validation with lines, the report and the review threshold.

The fixtures under tests/fixtures/cost/ use round test prices (not AWS's), so each expected value is
written out here as quantity x price."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bbws_infra.core.errors import InputFileError, OperationError, UserError
from bbws_infra.gates import cost, cost_estimate
from bbws_infra.gates.cost_estimate import ComponentCost, CostLine
from bbws_infra.gates.cost_table import PRICE_KEYS, PriceTable, load_prices
from bbws_infra.gates.cost_usage import Usage, load_usage, usage_path

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "cost"
TABLE_PLAN = json.loads((FIXTURES / "table.plan.json").read_text())
BUCKET_PLAN = json.loads((FIXTURES / "bucket.plan.json").read_text())


@pytest.fixture(scope="module")
def prices() -> PriceTable:
    return load_prices(FIXTURES / "prices.json")


@pytest.fixture(scope="module")
def usage() -> Usage:
    return load_usage(FIXTURES / "usage.yml")


def _lines(component: ComponentCost, address: str) -> dict[str, CostLine]:
    return {line.item: line for line in component.lines if line.address == address}


def _write(tmp_path: Path, text: str, name: str = "env.usage.yml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# --- one hand-computed case per service ----------------------------------------------------


def test_dynamodb_writes_reads_storage_pitr_streams(usage, prices):
    lines = _lines(cost_estimate.estimate(TABLE_PLAN, "prod", usage, prices),
                   "module.table.aws_dynamodb_table.this")
    assert set(lines) == {"write request units", "read request units", "storage",
                          "point-in-time recovery storage", "streams read request units"}
    writes = lines["write request units"]
    assert (writes.quantity, writes.unit, writes.unit_price) == (12.5, "1M write request units",
                                                                  1.4375)
    assert writes.monthly == pytest.approx(12_500_000 / 1_000_000 * 1.4375)
    assert lines["read request units"].monthly == pytest.approx(40 * 0.2875)
    assert lines["storage"].monthly == pytest.approx(8 * 0.25)
    assert lines["point-in-time recovery storage"].monthly == pytest.approx(8 * 0.2)
    assert lines["streams read request units"].monthly == pytest.approx(
        3_000_000 / 100_000 * 0.02)
    assert {line.region for line in lines.values()} == {"af-south-1"}


def test_s3_storage_and_requests(usage, prices):
    lines = _lines(cost_estimate.estimate(BUCKET_PLAN, "prod", usage, prices),
                   "module.templates_bucket.aws_s3_bucket.this")
    assert lines["standard storage"].monthly == pytest.approx(20 * 0.025)
    assert lines["PUT/COPY/POST/LIST requests"].monthly == pytest.approx(100_000 / 1000 * 0.005)
    assert lines["GET and other requests"].monthly == pytest.approx(2_500_000 / 1000 * 0.0004)
    logging = lines["access logging (free; logs are log-bucket storage)"]
    assert logging.monthly == 0


def test_replication_transfer_is_billed_in_the_source_region(usage, prices, tmp_path):
    estimate = cost_estimate.estimate(BUCKET_PLAN, "prod", usage, prices)
    transfer = _lines(estimate, "module.templates_bucket.aws_s3_bucket.this")[
        "replication transfer to another region"]
    assert transfer.region == "af-south-1"
    assert transfer.monthly == pytest.approx(4 * 0.147)
    # Buckets without a replication rule have no transfer line.
    replica = "module.replication[0].module.replica_bucket.aws_s3_bucket.this"
    assert not any("replication" in item for item in _lines(estimate, replica))
    # Without monthly_replicated_gb the whole bucket (storage_gb) is assumed to travel.
    text = (FIXTURES / "usage.yml").read_text().replace("    monthly_replicated_gb: 4\n", "")
    lines = _lines(cost_estimate.estimate(BUCKET_PLAN, "prod", load_usage(_write(tmp_path, text)),
                                 prices), "module.templates_bucket.aws_s3_bucket.this")
    assumed = lines["replication transfer to another region (assumed: all storage monthly)"]
    assert assumed.monthly == pytest.approx(20 * 0.147)


def test_backup_storage_and_cross_region_copy(usage, prices):
    estimate = cost_estimate.estimate(TABLE_PLAN, "prod", usage, prices)
    primary = _lines(estimate, "module.backup.aws_backup_vault.this")
    dr = _lines(estimate, "module.backup.aws_backup_vault.dr[0]")
    plan = _lines(estimate, "module.backup.aws_backup_plan.this")
    item = "DynamoDB backup warm storage"
    assert primary[item].monthly == pytest.approx(50 * 0.1)  # type default, af-south-1
    assert dr[item].monthly == pytest.approx(45 * 0.11)  # own entry, eu-west-1 price
    copy = plan["cross-region copy transfer"]
    assert (copy.region, copy.monthly) == ("af-south-1", pytest.approx(30 * 0.147))


def test_backup_plan_without_copy_action_is_free(usage, prices):
    plan = json.loads(json.dumps(TABLE_PLAN))
    for change in plan["resource_changes"]:
        if change["type"] == "aws_backup_plan":
            change["change"]["after"]["rule"][0]["copy_action"] = []
    lines = _lines(cost_estimate.estimate(plan, "dev", usage, prices),
                   "module.backup.aws_backup_plan.this")
    assert [line.monthly for line in lines.values()] == [0]


def _monitoring_plan(*resources: tuple[str, str, dict]) -> dict:
    """A plan creating the given (address, type, after) resources with the default provider."""
    plan = json.loads(json.dumps(BUCKET_PLAN))
    plan["resource_changes"] = [
        {"address": address, "mode": "managed", "type": rtype,
         "change": {"actions": ["create"], "after": after}} for address, rtype, after in resources]
    plan["configuration"]["root_module"]["resources"] = [
        {"address": address, "provider_config_key": "aws"} for address, _, _ in resources]
    return plan


def test_alarms_are_priced_per_metric_they_read(usage, prices):
    """A single-metric alarm is one alarm metric; a metric-math alarm counts each metric it
    reads, not its expression; dashboards and keys have a monthly price; budgets, rules and
    targets are free."""
    metrics = [{"id": f"m{i}", "metric": [{"metric_name": "SystemErrors"}]} for i in range(10)]
    math = {"metric_query": [*metrics, {"id": "errors", "expression": "SUM(METRICS())"}]}
    plan = _monitoring_plan(
        ("aws_cloudwatch_metric_alarm.throttles", "aws_cloudwatch_metric_alarm",
         {"metric_name": "ReadThrottleEvents", "metric_query": []}),
        ("aws_cloudwatch_metric_alarm.system_errors", "aws_cloudwatch_metric_alarm", math),
        ("aws_cloudwatch_dashboard.data_stores", "aws_cloudwatch_dashboard", {}),
        ("aws_kms_key.alerts", "aws_kms_key", {}),
        ("aws_budgets_budget.monthly_cost", "aws_budgets_budget", {}),
        ("aws_cloudwatch_event_rule.failed_jobs", "aws_cloudwatch_event_rule", {}))
    estimate = cost_estimate.estimate(plan, "dev", usage, prices, component="alerts")
    quantities = {line.address: line.quantity for line in estimate.lines}
    assert quantities["aws_cloudwatch_metric_alarm.throttles"] == 1
    assert quantities["aws_cloudwatch_metric_alarm.system_errors"] == 10
    monthly = {line.address: line.monthly for line in estimate.lines}
    per_metric = prices.price("af-south-1", "cloudwatch.alarm_metrics", "x").usd
    assert monthly["aws_cloudwatch_metric_alarm.system_errors"] == pytest.approx(10 * per_metric)
    assert monthly["aws_cloudwatch_dashboard.data_stores"] > 0
    assert monthly["aws_kms_key.alerts"] > 0
    assert monthly["aws_budgets_budget.monthly_cost"] == 0
    assert monthly["aws_cloudwatch_event_rule.failed_jobs"] == 0
    assert estimate.warnings == []


# --- region, actions, free resources ------------------------------------------------------


def test_region_comes_from_the_provider_configuration(usage, prices):
    regions = {line.address: line.region
               for plan in (TABLE_PLAN, BUCKET_PLAN)
               for line in cost_estimate.estimate(plan, "prod", usage, prices).lines}
    assert regions["module.backup.aws_backup_vault.dr[0]"] == "eu-west-1"  # provider = aws.dr
    # Plain `aws` inside the module, sent to aws.dr by the caller's providers map.
    assert regions["module.replication[0].module.replica_bucket.aws_s3_bucket.this"] == \
        "eu-west-1"
    assert regions["module.templates_bucket.aws_s3_bucket.this"] == "af-south-1"
    assert regions['aws_s3_bucket_object.template["invoices/invoice.html"]'] == "af-south-1"


def test_unresolvable_region_is_an_error(usage, prices):
    plan = {**TABLE_PLAN, "configuration": {}}
    with pytest.raises(OperationError, match=r"region of module\.table\.aws_dynamodb_table\.this"):
        cost_estimate.estimate(plan, "prod", usage, prices)


def test_deletes_are_skipped_replacements_priced_and_the_rest_free(usage, prices):
    estimate = cost_estimate.estimate(BUCKET_PLAN, "prod", usage, prices)
    addresses = {line.address for line in estimate.lines}
    assert "aws_s3_bucket.old" not in addresses  # delete
    logs = _lines(estimate, "module.log_bucket[0].aws_s3_bucket.this")  # delete + create
    assert logs["standard storage"].monthly == pytest.approx(3 * 0.025)
    free = [line for line in estimate.lines
            if line.resource_type in ("aws_s3_bucket_object", "aws_iam_role")]
    assert len(free) == 2 and all(line.monthly == 0 for line in free)
    table = cost_estimate.estimate(TABLE_PLAN, "prod", usage, prices)
    assert not any("aws_backup_selection" in line.address for line in table.lines)
    assert not any(".data." in line.address for line in table.lines)


def test_wildcard_and_defaults_merge_key_by_key(usage):
    replica = usage.for_resource("module.replication[0].module.replica_bucket.aws_s3_bucket.this",
                                 "aws_s3_bucket")
    assert replica == {"standard.storage_gb": 20, "standard.monthly_tier_1_requests": 100_000}
    assert usage.for_resource("module.backup.aws_backup_vault.dr[0]", "aws_backup_vault") == {
        "monthly_dynamodb_backup_gb": 45}



def test_unknown_resource_type_is_flagged_not_hidden(usage, prices):
    plan = json.loads(json.dumps(BUCKET_PLAN))
    plan["resource_changes"].append({"address": "aws_sqs_queue.alerts", "mode": "managed",
                                     "type": "aws_sqs_queue", "change": {"actions": ["create"],
                                                                         "after": {}}})
    plan["configuration"]["root_module"]["resources"].append(
        {"address": "aws_sqs_queue.alerts", "provider_config_key": "aws"})
    estimate = cost_estimate.estimate(plan, "dev", usage, prices, component="templates")
    assert estimate.warnings == ["aws_sqs_queue.alerts: aws_sqs_queue is not priced by the "
                                 "bbws table."]
    text = cost.format_table([estimate], 100.0)
    assert "  not priced: aws_sqs_queue x1" in text
    assert "aws_sqs_queue" not in text.split("no charge:")[1].splitlines()[0]


def test_empty_usage_entries_are_allowed(tmp_path):
    # infracost --sync-usage-file leaves entries whose keys are all commented out.
    usage = load_usage(_write(tmp_path, "version: 0.1\nresource_usage:\n"
                                             "  aws_s3_bucket.x:\n    standard:\n"
                                             "      # storage_gb: 0\n"))
    assert usage.resources == {"aws_s3_bucket.x": {}}

# --- the real files --------------------------------------------------------------------------


@pytest.mark.parametrize("env", ["dev", "sit", "prod"])
def test_real_usage_files_and_price_table_load(env):
    usage = load_usage(usage_path(env))
    assert usage.path == f"envs/{env}.usage.yml"
    assert "aws_dynamodb_table" in usage.defaults
    prices = load_prices()
    assert prices.path == "pricing/prices.json"
    assert set(prices.regions) >= {"af-south-1", "eu-west-1"}
    for region in prices.regions.values():
        assert set(region) == PRICE_KEYS
    # The real table prices the fixture plans in both regions without a gap.
    for plan in (TABLE_PLAN, BUCKET_PLAN):
        assert cost_estimate.estimate(plan, env, usage, prices).total >= 0


# --- input errors name the file and the line -----------------------------------------------


def test_broken_yaml_reports_its_line():
    with pytest.raises(InputFileError) as caught:
        load_usage(FIXTURES / "broken.usage.yml")
    assert caught.value.file == "tests/fixtures/cost/broken.usage.yml"
    assert caught.value.line == 6
    assert "not valid YAML" in caught.value.message


def test_unknown_usage_key_reports_its_line(tmp_path):
    path = _write(tmp_path, "version: 0.1\nresource_usage:\n"
                            "  module.templates_bucket.aws_s3_bucket.this:\n"
                            "    standard:\n"
                            "      storage_gb: 1\n"
                            "      storage_gbb: 2\n")
    with pytest.raises(InputFileError) as caught:
        load_usage(path)
    assert caught.value.line == 6
    assert caught.value.message.startswith("standard.storage_gbb is not a usage key")


def test_negative_number_reports_its_line(tmp_path):
    path = _write(tmp_path, "version: 0.1\nresource_type_default_usage:\n"
                            "  aws_dynamodb_table:\n"
                            "    storage_gb: 1\n"
                            "    monthly_write_request_units: -5\n")
    with pytest.raises(InputFileError) as caught:
        load_usage(path)
    assert (caught.value.line, caught.value.message) == (
        5, "monthly_write_request_units must be 0 or more, not -5.")


@pytest.mark.parametrize(("text", "line", "fragment"), [
    ("version: 0.1\nresource_usage:\n  aws_s3_bucket.x:\n    standard:\n      storage_gb: 1e6\n",
     5, "exponent"),
    ("version: 0.1\nresource_usage:\n  aws_lambda_function.x:\n    monthly_requests: 1\n",
     3, "no usage-based price"),
    ("version: 0.1\nresource_usage:\n  aws_s3_bucket.x:\n    standard: 5\n", 4, "mapping"),
    ("version: 0.1\nresource_usage:\n  aws_s3_bucket.x:\n    monthly_replicated_gb: 1\n"
     "    monthly_replicated_gb: 2\n", 5, "twice (first on line 4)"),
    ("version: 0.2\n", 1, "version must be 0.1"),
    ("version: 0.1\nbbws_review_threshold_usd: 100\n", 2, "not a usage-file key"),
])
def test_other_usage_errors(tmp_path, text, line, fragment):
    with pytest.raises(InputFileError) as caught:
        load_usage(_write(tmp_path, text))
    assert caught.value.line == line
    assert fragment in caught.value.message


def test_price_table_errors_name_the_line(tmp_path):
    text = (FIXTURES / "prices.json").read_text()
    data = json.loads(text)

    def load(changed: dict) -> InputFileError:
        with pytest.raises(InputFileError) as caught:
            load_prices(_write(tmp_path, json.dumps(changed, indent=2), "prices.json"))
        return caught.value

    unknown = json.loads(text)
    unknown["regions"]["eu-west-1"]["s3.glacier_storage"] = \
        unknown["regions"]["eu-west-1"]["s3.standard_storage"]
    error = load(unknown)
    assert "s3.glacier_storage is not a price" in error.message
    lines = json.dumps(unknown, indent=2).splitlines()
    assert lines[error.line - 1].strip().startswith('"s3.glacier_storage"')

    missing = json.loads(text)
    del missing["regions"]["af-south-1"]["dynamodb.restore"]
    assert "af-south-1 lacks prices for dynamodb.restore" in load(missing).message

    negative = json.loads(text)
    negative["regions"]["af-south-1"]["dynamodb.storage"]["usd"] = -1
    error = load(negative)
    assert "must be 0 or more" in error.message
    assert json.dumps(negative, indent=2).splitlines()[error.line - 1].strip() == '"usd": -1,'

    with pytest.raises(InputFileError) as caught:
        load_prices(_write(tmp_path, '{\n  "currency": "USD",\n  "regions": {,\n}',
                                "prices.json"))
    assert caught.value.line == 3

    assert data["currency"] == "USD"


def test_resource_in_an_unpriced_region_is_an_error(usage, tmp_path):
    data = json.loads((FIXTURES / "prices.json").read_text())
    del data["regions"]["eu-west-1"]
    prices = load_prices(_write(tmp_path, json.dumps(data), "prices.json"))
    with pytest.raises(InputFileError, match="has no prices for eu-west-1"):
        cost_estimate.estimate(TABLE_PLAN, "prod", usage, prices)


# --- report and threshold ------------------------------------------------------------------


def _dev_usage(tmp_path: Path, writes: int) -> Path:
    return _write(tmp_path, "version: 0.1\nresource_type_default_usage:\n"
                            f"  aws_dynamodb_table:\n    monthly_write_request_units: {writes}\n")


def test_threshold_line_appears_above_100_usd_for_dev(tmp_path):
    plans = {"tenants": TABLE_PLAN}
    report = cost.price_saved_plans("dev", plans, usage_file=_dev_usage(tmp_path, 80_000_000),
                                    prices_file=FIXTURES / "prices.json", use_infracost=False)
    assert report.threshold == 100.0
    assert report.total == pytest.approx(80 * 1.4375)  # 115.00: only writes have usage
    assert report.over_threshold
    text = report.text()
    assert "OVER THRESHOLD: the estimate of 115.00 USD a month exceeds the dev review " \
           "threshold of 100.00 USD" in text
    assert "engine: bbws price table (tests/fixtures/cost/prices.json, prices dated " \
           "2026-01-15)" in text
    assert json.loads(report.to_json())["over_threshold"] is True

    below = cost.price_saved_plans("dev", plans, usage_file=_dev_usage(tmp_path, 1_000_000),
                                   prices_file=FIXTURES / "prices.json", use_infracost=False)
    assert not below.over_threshold
    assert "Within the dev review threshold of 100.00 USD a month." in below.text()


def test_prod_has_no_threshold_and_the_report_has_every_component(usage, prices):
    report = cost.price_saved_plans("prod", {"tenants": TABLE_PLAN, "templates": BUCKET_PLAN},
                                    usage_file=FIXTURES / "usage.yml",
                                    prices_file=FIXTURES / "prices.json", use_infracost=False)
    assert report.threshold is None and not report.over_threshold
    assert [c.component for c in report.components] == ["tenants", "templates"]
    assert report.total == pytest.approx(
        cost_estimate.estimate(TABLE_PLAN, "prod", usage, prices).total
        + cost_estimate.estimate(BUCKET_PLAN, "prod", usage, prices).total)
    text = report.text()
    assert "prod has no review threshold." in text
    assert "no charge: aws_iam_role x1, aws_s3_bucket_object x1" in text
    data = json.loads(report.to_json())
    assert data["total_monthly"] == pytest.approx(report.total)
    assert data["components"][0]["lines"][0].keys() == {
        "address", "resource_type", "item", "quantity", "unit", "unit_price", "monthly",
        "region"}


def test_usage_entries_matching_no_resource_are_reported(tmp_path):
    path = _write(tmp_path, "version: 0.1\nresource_usage:\n  aws_s3_bucket.typo:\n"
                            "    standard:\n      storage_gb: 1\n")
    report = cost.price_saved_plans("sit", {"templates": BUCKET_PLAN}, usage_file=path,
                                    prices_file=FIXTURES / "prices.json", use_infracost=False)
    assert report.warnings == [
        f"{path}: resource_usage entry aws_s3_bucket.typo matches no resource in the plans."]


def test_unknown_environment_is_refused():
    with pytest.raises(UserError, match="known environments: dev, sit, prod"):
        cost.price_saved_plans("qa", {})


# --- infracost -----------------------------------------------------------------------------


def test_infracost_needs_the_binary_and_the_key(monkeypatch):
    monkeypatch.setattr(cost.shutil, "which", lambda name: None)
    monkeypatch.setenv("INFRACOST_API_KEY", "ico-test")
    assert not cost.infracost_available()
    monkeypatch.setattr(cost.shutil, "which", lambda name: "/usr/bin/infracost")
    assert cost.infracost_available()
    monkeypatch.delenv("INFRACOST_API_KEY")
    assert not cost.infracost_available()


def test_infracost_result_becomes_the_report(monkeypatch):
    calls = []

    def fake(plan_json_path: Path, usage_path: Path) -> dict:
        # a private folder named after this process (a killed run's is swept by the next)
        assert Path(plan_json_path).parent.name.startswith(f"bbws-cost-{os.getpid()}-")
        calls.append((json.loads(Path(plan_json_path).read_text()), usage_path))
        return {"projects": [{"breakdown": {"resources": [{
            "name": "module.backup.aws_backup_vault.dr[0]", "resourceType": "aws_backup_vault",
            "costComponents": [{"name": "DynamoDB backup", "unit": "GB", "price": "0.11",
                                "monthlyQuantity": "10", "monthlyCost": "1.1"}]}]}}]}

    monkeypatch.setattr(cost, "run_infracost", fake)
    report = cost.price_saved_plans("prod", {"tenants": TABLE_PLAN},
                                    usage_file=FIXTURES / "usage.yml", use_infracost=True)
    assert calls[0][0] == TABLE_PLAN and calls[0][1] == FIXTURES / "usage.yml"
    assert report.engine == "infracost"
    (line,) = report.components[0].lines
    assert (line.region, line.monthly) == ("eu-west-1", 1.1)
    assert "engine: infracost" in report.text()
