"""A saved plan's monthly cost from the price table and the usage file: one pricing function
per resource type (PRICERS).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from bbws_infra.core.errors import OperationError
from bbws_infra.core.untyped import Json, JsonObject
from bbws_infra.gates.cost_table import FREE_TYPES, UNPRICED, PriceTable, strip_keys
from bbws_infra.gates.cost_usage import Usage

# --- Estimate --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CostLine:
    address: str
    resource_type: str
    item: str
    quantity: float  # in `unit`s
    unit: str
    unit_price: float  # USD per `unit`
    monthly: float  # USD
    region: str


@dataclass
class ComponentCost:
    component: str
    env: str
    engine: str
    lines: list[CostLine] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def total(self) -> float:
        return sum(line.monthly for line in self.lines)


def provider_regions(plan: JsonObject) -> dict[str, str | None]:
    """Region of each provider configuration in the plan, by its key ("aws", "aws.dr")."""
    variables = {name: v.get("value") for name, v in (plan.get("variables") or {}).items()}
    regions: dict[str, str | None] = {}
    for key, config in ((plan.get("configuration") or {}).get("provider_config") or {}).items():
        expression = (config.get("expressions") or {}).get("region") or {}
        region = expression.get("constant_value")
        references = expression.get("references") or []
        # A root-module provider's `region = var.x` lists "var.x"; its value is in variables.
        if region is None and references and references[0].startswith("var.") \
                and not config.get("module_address"):
            region = variables.get(references[0].removeprefix("var."))
        regions[key] = region if isinstance(region, str) else None
    return regions


def provider_keys(module: JsonObject, prefix: str = "") -> dict[str, str]:
    """provider_config_key of every resource in the configuration, by its address without
    instance keys (module.replication.module.replica_bucket.aws_s3_bucket.this)."""
    keys = {f"{prefix}{r['address']}": r.get("provider_config_key", "")
            for r in module.get("resources", [])}
    for name, call in (module.get("module_calls") or {}).items():
        keys.update(provider_keys(call.get("module") or {}, f"{prefix}module.{name}."))
    return keys


def _region_resolver(plan: JsonObject, known: dict[str, str] | None = None
                     ) -> Callable[[str], str]:
    """Region of a resource: where the provider configuration it uses points.

    The module path alone cannot tell: the replica bucket sits in a module that uses plain
    `aws`, and only the caller's `providers = { aws = aws.dr }` sends it to the DR region.
    Terraform (1.x) resolves that chain and records, for each resource in
    configuration.<module>.resources[], the provider_config_key of the root configuration it
    ends up using ("aws" or "aws.dr"). configuration.provider_config[key].expressions.region
    is then a constant or a reference to a root variable whose value is in plan.variables
    (var.region = af-south-1, var.dr_region = eu-west-1). `known` gives the region of
    addresses the configuration no longer has (what runs now, before a delete)."""
    regions = provider_regions(plan)
    known = known or {}
    keys = provider_keys((plan.get("configuration") or {}).get("root_module") or {})

    def region_of(address: str) -> str:
        if address in known:
            return known[address]
        key = keys.get(strip_keys(address))
        region = regions.get(key) if key else None
        if not region:
            raise OperationError(f"The plan does not tell the region of {address}: its provider "
                                 f"configuration ({key or 'none found'}) has no resolvable "
                                 "region; save the plan with `terraform show -json` (1.x).")
        return region

    return region_of


def _block(after: JsonObject, name: str) -> list[Json]:
    value = after.get(name)
    return value if isinstance(value, list) else []


class _Pricer:
    """Builds the lines of one resource: quantity from usage, price from the table."""

    def __init__(self, prices: PriceTable, address: str, rtype: str, region: str):
        self.prices, self.address, self.rtype, self.region = prices, address, rtype, region
        self.lines: list[CostLine] = []

    def add(self, item: str, key: str, usage_quantity: float, region: str | None = None) -> None:
        region = region or self.region
        price = self.prices.price(region, key, self.address)
        quantity = usage_quantity / price.per
        self.lines.append(CostLine(self.address, self.rtype, item, quantity, price.unit,
                                   price.usd, quantity * price.usd, region))

    def free(self, item: str) -> None:
        self.lines.append(CostLine(self.address, self.rtype, item, 0.0, "", 0.0, 0.0,
                                   self.region))


def _dynamodb(p: _Pricer, after: JsonObject, use: dict[str, float], warnings: list[str]) -> None:
    if after.get("billing_mode", "PAY_PER_REQUEST") == "PAY_PER_REQUEST":
        # GSI writes and reads consume request units too: the usage counts them.
        p.add("write request units", "dynamodb.write_request_units",
              use.get("monthly_write_request_units", 0.0))
        p.add("read request units", "dynamodb.read_request_units",
              use.get("monthly_read_request_units", 0.0))
    else:
        warnings.append(f"{p.address}: provisioned capacity is not priced by the bbws table.")
    p.add("storage", "dynamodb.storage", use.get("storage_gb", 0.0))
    if any(b.get("enabled") for b in _block(after, "point_in_time_recovery")):
        p.add("point-in-time recovery storage", "dynamodb.pitr_storage",
              use.get("pitr_backup_storage_gb", 0.0))
    if use.get("on_demand_backup_storage_gb"):
        p.add("on-demand backup storage", "dynamodb.on_demand_backup_storage",
              use["on_demand_backup_storage_gb"])
    if use.get("monthly_data_restored_gb"):
        p.add("data restored", "dynamodb.restore", use["monthly_data_restored_gb"])
    if after.get("stream_enabled"):
        p.add("streams read request units", "dynamodb.streams_read_request_units",
              use.get("monthly_streams_read_request_units", 0.0))
    if _block(after, "replica"):
        warnings.append(f"{p.address}: global-table replicas are not priced by the bbws table.")


def _s3_bucket(p: _Pricer, after: JsonObject, use: dict[str, float], _: list[str]) -> None:
    # Noncurrent versions are stored bytes too: storage_gb counts every version kept.
    storage = use.get("standard.storage_gb", 0.0)
    p.add("standard storage", "s3.standard_storage", storage)
    p.add("PUT/COPY/POST/LIST requests", "s3.tier1_requests",
          use.get("standard.monthly_tier_1_requests", 0.0))
    p.add("GET and other requests", "s3.tier2_requests",
          use.get("standard.monthly_tier_2_requests", 0.0))
    if _block(after, "logging"):
        p.add("access logging (free; logs are log-bucket storage)", "s3.server_access_logging",
              1.0)
    rules = [rule for config in _block(after, "replication_configuration")
             for rule in config.get("rules") or []]
    if any(rule.get("status") == "Enabled" for rule in rules):
        # Replication traffic leaves the source region and is billed there. Without a volume
        # in the usage file, assume the whole bucket is sent once a month.
        if "monthly_replicated_gb" in use:
            p.add("replication transfer to another region", "s3.replication_transfer",
                  use["monthly_replicated_gb"])
        else:
            p.add("replication transfer to another region (assumed: all storage monthly)",
                  "s3.replication_transfer", storage)


def _backup_vault(p: _Pricer, _after: JsonObject, use: dict[str, float], _: list[str]
                  ) -> None:
    # Recovery points are stored (and, for copies, billed) in the vault's own region.
    p.add("DynamoDB backup warm storage", "backup.dynamodb_warm_storage",
          use.get("monthly_dynamodb_backup_gb", 0.0))
    if use.get("monthly_dynamodb_restore_gb"):
        p.add("DynamoDB restore", "backup.dynamodb_restore", use["monthly_dynamodb_restore_gb"])


def _backup_plan(p: _Pricer, after: JsonObject, use: dict[str, float], _: list[str]
                 ) -> None:
    # The destination vault's ARN is unknown until apply; in this project a copy_action always
    # targets the DR region, so every copy is priced as inter-region transfer out of the
    # plan's (source) region.
    if any(_block(rule, "copy_action") for rule in _block(after, "rule")):
        p.add("cross-region copy transfer", "backup.cross_region_copy_transfer",
              use.get("monthly_cross_region_copy_gb", 0.0))
    else:
        p.free("free (no cross-region copy)")


def _metric_alarm(p: _Pricer, after: JsonObject, _use: dict[str, float], _: list[str]) -> None:
    # An alarm is billed per metric it evaluates: a metric-math alarm counts each metric it
    # reads (not its expressions).
    queries = _block(after, "metric_query")
    metrics = sum(1 for query in queries if isinstance(query, dict) and query.get("metric"))
    p.add("alarm metrics", "cloudwatch.alarm_metrics", float(metrics if queries else 1))


def _dashboard(p: _Pricer, _after: JsonObject, _use: dict[str, float], _: list[str]) -> None:
    p.add("dashboard", "cloudwatch.dashboards", 1.0)


def _kms_key(p: _Pricer, _after: JsonObject, _use: dict[str, float], _: list[str]) -> None:
    p.add("customer-managed key", "kms.customer_managed_keys", 1.0)


def _sns_topic(p: _Pricer, _after: JsonObject, use: dict[str, float], _: list[str]) -> None:
    p.add("publishes", "sns.requests", use.get("monthly_requests", 0.0))


def _sns_subscription(p: _Pricer, after: JsonObject, use: dict[str, float],
                      warnings: list[str]) -> None:
    if after.get("protocol") == "email":
        p.add("email notifications", "sns.email_notifications", use.get("monthly_requests", 0.0))
    else:  # HTTP(S) deliveries: 0.60 USD per million, not in the table
        p.free("HTTP(S) deliveries (0.60 USD per million; not priced)")


# Resource type -> what prices it: the lines it adds to the pricer, warnings for what the
# table cannot price. FREE_TYPES cost nothing; any other type is reported as unpriced.
PricingFunction = Callable[[_Pricer, JsonObject, dict[str, float], list[str]], None]
PRICERS: dict[str, PricingFunction] = {
    "aws_dynamodb_table": _dynamodb,
    "aws_s3_bucket": _s3_bucket,
    "aws_backup_vault": _backup_vault,
    "aws_backup_plan": _backup_plan,
    "aws_cloudwatch_metric_alarm": _metric_alarm,
    "aws_cloudwatch_dashboard": _dashboard,
    "aws_kms_key": _kms_key,
    "aws_sns_topic": _sns_topic,
    "aws_sns_topic_subscription": _sns_subscription,
}


def estimate(plan_json: JsonObject, env_name: str, usage: Usage, prices: PriceTable, *,
             component: str = "", regions: dict[str, str] | None = None) -> ComponentCost:
    """Monthly cost of the resources the plan leaves in place after apply (creates, updates,
    replacements and no-ops; deletes and data sources are skipped). regions: the region of
    addresses the plan's configuration does not name."""
    cost = ComponentCost(component, env_name, prices.engine)
    region_of = _region_resolver(plan_json, regions)
    for change in plan_json.get("resource_changes") or []:
        actions = (change.get("change") or {}).get("actions") or []
        if change.get("mode", "managed") != "managed" or actions == ["delete"]:
            continue
        address, rtype = change["address"], change["type"]
        after = (change.get("change") or {}).get("after") or {}
        pricer = _Pricer(prices, address, rtype, region_of(address))
        use = usage.for_resource(address, rtype)
        price_resource = PRICERS.get(rtype)
        if price_resource is not None:
            price_resource(pricer, after, use, cost.warnings)
        elif rtype in FREE_TYPES:
            pricer.free(FREE_TYPES[rtype])
        else:
            pricer.free(UNPRICED)
            cost.warnings.append(f"{address}: {rtype} is not priced by the bbws table.")
        cost.lines.extend(pricer.lines)
    return cost
