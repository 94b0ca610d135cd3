"""Monthly cost estimate of saved Terraform plans, offline.

infracost needs its pricing API and a key, so by default a plan is priced here from the price
table kept in the repository (pricing/prices.json) and the environment's usage file
(envs/<env>.usage.yml, in infracost's usage-file format so the same file feeds infracost). When
infracost is installed and INFRACOST_API_KEY is set, infracost prices the plans instead.

Both files are validated before anything is priced: a broken one raises InputFileError with
its path, a line where possible and one sentence.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import cast

from bbws_infra.core.errors import InputFileError, OperationError, UserError
from bbws_infra.core.paths import REPO_ROOT
from bbws_infra.core.untyped import Json, JsonObject, JsonPath
from bbws_infra.core.yaml_files import load_json, load_yaml

PRICES_PATH = REPO_ROOT / "pricing" / "prices.json"

# Monthly review thresholds of the project's cost policy: an estimate above it needs a cost
# review before apply; prod has none. Policy, not price data: it lives here, next to the code
# that enforces it, rather than in prices.json (refreshed from AWS pages) or the usage files
# (infracost's format has no place for it).
REVIEW_THRESHOLD_USD: dict[str, float | None] = {"dev": 100.0, "sit": 100.0, "prod": None}

TABLE_ENGINE = "bbws price table"
INFRACOST_ENGINE = "infracost"
UNPRICED = "not priced (unknown to the bbws price table)"

# Usage keys priced here, flattened ("standard.storage_gb" is `standard: {storage_gb: ...}`).
# Names are infracost's except those marked bbws: infracost has no key for S3 replication
# traffic or AWS Backup copy traffic; it ignores unknown keys, so they are safe in its input.
USAGE_KEYS: dict[str, frozenset[str]] = {
    "aws_dynamodb_table": frozenset({
        "monthly_write_request_units", "monthly_read_request_units", "storage_gb",
        "pitr_backup_storage_gb", "on_demand_backup_storage_gb", "monthly_data_restored_gb",
        "monthly_streams_read_request_units",
    }),
    "aws_s3_bucket": frozenset({
        "standard.storage_gb", "standard.monthly_tier_1_requests",
        "standard.monthly_tier_2_requests",
        "monthly_replicated_gb",  # bbws
    }),
    "aws_backup_vault": frozenset({"monthly_dynamodb_backup_gb", "monthly_dynamodb_restore_gb"}),
    "aws_backup_plan": frozenset({"monthly_cross_region_copy_gb"}),  # bbws
}

# Every region in the price table must price each of these.
PRICE_KEYS = frozenset({
    "dynamodb.write_request_units", "dynamodb.read_request_units", "dynamodb.storage",
    "dynamodb.pitr_storage", "dynamodb.on_demand_backup_storage", "dynamodb.restore",
    "dynamodb.streams_read_request_units",
    "s3.standard_storage", "s3.tier1_requests", "s3.tier2_requests",
    "s3.server_access_logging", "s3.replication_transfer",
    "backup.dynamodb_warm_storage", "backup.dynamodb_restore",
    "backup.cross_region_copy_transfer",
})
_PRICE_FIELDS = {"usd", "unit", "per", "source", "date", "note"}
_PRICE_REQUIRED = _PRICE_FIELDS - {"note"}

# Resources AWS does not charge for; an object's bytes are its bucket's storage_gb.
FREE_TYPES: dict[str, str] = {
    "aws_iam_role": "free",
    "aws_iam_role_policy": "free",
    "aws_iam_role_policy_attachment": "free",
    "aws_iam_policy": "free",
    "aws_s3_bucket_policy": "free",
    "aws_s3_bucket_public_access_block": "free",
    "aws_s3_bucket_object": "free (its bytes count in the bucket's storage)",
    "aws_s3_object": "free (its bytes count in the bucket's storage)",
    "aws_backup_selection": "free (the vault's storage is priced)",
}


# --- Files ---


def _number(value: Json, rel: str, line: int | None, what: str, *, positive: bool = False
            ) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        hint = ""
        if isinstance(value, str) and re.fullmatch(r"[-+]?\d+(\.\d*)?[eE][-+]?\d+", value):
            hint = " (YAML reads exponent forms such as 1e6 as text: write the digits)"
        shown = "nothing" if value is None else repr(value)
        raise InputFileError(rel, line, f"{what} must be a number, not {shown}{hint}.")
    if not math.isfinite(value):
        raise InputFileError(rel, line, f"{what} must be a finite number.")
    if value < 0 or (positive and value == 0):
        bound = "greater than 0" if positive else "0 or more"
        raise InputFileError(rel, line, f"{what} must be {bound}, not {value}.")
    return float(value)


def _mapping(value: Json, rel: str, line: int | None, what: str) -> JsonObject:
    if not isinstance(value, dict):
        raise InputFileError(rel, line, f"{what} must be a mapping of keys to values.")
    return value


# --- Usage file ------------------------------------------------------------------------------


def _top_level(data: Json, rel: str, lines: dict[JsonPath, int], kind: str,
               allowed: tuple[str, ...]) -> JsonObject:
    """The file's top-level mapping, refusing any key but the allowed ones."""
    top = _mapping(data, rel, 1, "The file")
    for key in top:
        if key not in allowed:
            raise InputFileError(rel, lines.get((key,)), f"{key} is not a {kind} key; use "
                                 f"{', '.join(allowed[:-1])} and {allowed[-1]}.")
    return top


def _resource_type(address: str) -> str:
    """aws_s3_bucket from module.log_bucket[0].aws_s3_bucket.this (instance keys dropped)."""
    parts = _strip_keys(address).split(".")
    return parts[-2] if len(parts) >= 2 else ""


_INSTANCE_KEY = re.compile(r'\[(?:"(?:[^"\\]|\\.)*"|[^\]]*)\]')


def _strip_keys(address: str) -> str:
    return _INSTANCE_KEY.sub("", address)


@dataclass(frozen=True)
class Usage:
    """An environment's usage file: per-type defaults and per-address values, keys flattened."""

    path: str
    defaults: dict[str, dict[str, float]]
    resources: dict[str, dict[str, float]]

    def for_resource(self, address: str, resource_type: str) -> dict[str, float]:
        """The type's defaults overridden key by key by the entry matching the address (exact,
        or with [*] standing for any instance key, as infracost allows)."""
        values = dict(self.defaults.get(resource_type, {}))
        for pattern in self.matching(address):
            values.update(self.resources[pattern])
        return values

    def matching(self, address: str) -> list[str]:
        found = [p for p in self.resources if "[*]" in p and _wildcard(p).fullmatch(address)]
        return found + ([address] if address in self.resources else [])


def _wildcard(pattern: str) -> re.Pattern[str]:
    return re.compile(r'\[[^\]]*\]'.join(re.escape(part) for part in pattern.split("[*]")))


def _usage_values(raw: Json, resource_type: str, rel: str, lines: dict[JsonPath, int],
                  path: JsonPath) -> dict[str, float]:
    # An empty entry is allowed: infracost's --sync-usage-file writes them commented out.
    allowed = USAGE_KEYS[resource_type]
    groups = {key.split(".")[0] for key in allowed if "." in key}
    values: dict[str, float] = {}
    for key, value in _mapping(raw or {}, rel, lines.get(path), f"{path[-1]}").items():
        line = lines.get((*path, key))
        if key in groups:
            for sub, sub_value in _mapping(value or {}, rel, line, f"{key}").items():
                flat = f"{key}.{sub}"
                sub_line = lines.get((*path, key, sub))
                if flat not in allowed:
                    raise InputFileError(rel, sub_line, _unknown(flat, resource_type, allowed))
                values[flat] = _number(sub_value, rel, sub_line, flat)
        elif key in allowed:
            values[key] = _number(value, rel, line, key)
        else:
            raise InputFileError(rel, line, _unknown(str(key), resource_type, allowed))
    return values


def _unknown(key: str, resource_type: str, allowed: frozenset[str]) -> str:
    return (f"{key} is not a usage key the bbws price table knows for {resource_type}; "
            f"use one of {', '.join(sorted(allowed))}.")


def usage_path(env_name: str) -> Path:
    """envs/<env>.usage.yml"""
    return REPO_ROOT / "envs" / f"{env_name}.usage.yml"


def load_usage(path: Path) -> Usage:
    """Read and validate a usage file (infracost's format, version 0.1)."""
    data, lines, rel = load_yaml(path)
    top = _top_level(data, rel, lines, "usage-file",
                     ("version", "resource_type_default_usage", "resource_usage"))
    if str(top.get("version")) not in ("0.1", "v0.1"):
        raise InputFileError(rel, lines.get(("version",), 1),
                             f"version must be 0.1 (infracost's usage-file format), "
                             f"not {top.get('version')!r}.")
    defaults: dict[str, dict[str, float]] = {}
    section = "resource_type_default_usage"
    for rtype, raw in _mapping(top.get(section) or {}, rel, lines.get((section,)),
                               section).items():
        if rtype not in USAGE_KEYS:
            raise InputFileError(rel, lines.get((section, rtype)), _unpriced_type(rtype))
        defaults[rtype] = _usage_values(raw, rtype, rel, lines, (section, rtype))
    resources: dict[str, dict[str, float]] = {}
    section = "resource_usage"
    for address, raw in _mapping(top.get(section) or {}, rel, lines.get((section,)),
                                 section).items():
        rtype = _resource_type(str(address))
        if rtype not in USAGE_KEYS:
            raise InputFileError(rel, lines.get((section, address)), _unpriced_type(rtype or
                                                                                    address))
        resources[str(address)] = _usage_values(raw, rtype, rel, lines, (section, address))
    return Usage(rel, defaults, resources)


def _unpriced_type(rtype: str) -> str:
    return (f"{rtype} has no usage-based price in the bbws price table; usage can be given "
            f"for {', '.join(sorted(USAGE_KEYS))}.")


# --- Price table -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Price:
    usd: float  # for `per` units of the usage quantity
    unit: str
    per: float
    source: str
    date: str
    note: str = ""


@dataclass(frozen=True)
class PriceTable:
    path: str
    currency: str
    regions: dict[str, dict[str, Price]]

    def price(self, region: str, key: str, address: str) -> Price:
        if region not in self.regions:
            raise InputFileError(self.path, None, f"has no prices for {region}, the region of "
                                 f"{address}; add that region with every price.")
        return self.regions[region][key]

    @property
    def dated(self) -> str:
        dates = sorted({p.date for prices in self.regions.values() for p in prices.values()})
        return dates[0] if len(dates) == 1 else f"{dates[0]} to {dates[-1]}"

    @property
    def engine(self) -> str:
        return f"{TABLE_ENGINE} ({self.path}, prices dated {self.dated})"


def load_prices(path: Path = PRICES_PATH) -> PriceTable:
    """Read and validate the price table: every region prices every key in PRICE_KEYS."""
    data, lines, rel = load_json(path)
    top = _top_level(data, rel, lines, "price-table", ("currency", "verification", "regions"))
    if top.get("currency") != "USD":
        raise InputFileError(rel, lines.get(("currency",), 1), "currency must be USD.")
    regions: dict[str, dict[str, Price]] = {}
    raw_regions = _mapping(top.get("regions"), rel, lines.get(("regions",), 1), "regions")
    if not raw_regions:
        raise InputFileError(rel, lines.get(("regions",), 1), "regions prices no region.")
    for region, raw in raw_regions.items():
        path_r = ("regions", region)
        entries = _mapping(raw, rel, lines.get(path_r), region)
        for key in entries:
            if key not in PRICE_KEYS:
                known = ", ".join(sorted(PRICE_KEYS))
                raise InputFileError(rel, lines.get((*path_r, key)), f"{key} is not a price "
                                     f"the estimator uses; use one of {known}.")
        missing = sorted(PRICE_KEYS - set(entries))
        if missing:
            raise InputFileError(rel, lines.get(path_r), f"{region} lacks prices for "
                                 f"{', '.join(missing)}.")
        regions[region] = {key: _price(value, rel, lines, (*path_r, key))
                           for key, value in entries.items()}
    return PriceTable(rel, "USD", regions)


def _price(raw: Json, rel: str, lines: dict[JsonPath, int], path: JsonPath) -> Price:
    what = f"{path[1]} {path[2]}"
    entry = _mapping(raw, rel, lines.get(path), what)
    for name in entry:
        if name not in _PRICE_FIELDS:
            raise InputFileError(rel, lines.get((*path, name)), f"{name} is not a price field; "
                                 f"use {', '.join(sorted(_PRICE_FIELDS))}.")
    missing = sorted(_PRICE_REQUIRED - set(entry))
    if missing:
        raise InputFileError(rel, lines.get(path), f"{what} lacks {', '.join(missing)}.")
    for name in ("unit", "source", "date", "note"):
        if name in entry and not (isinstance(entry[name], str) and entry[name].strip()):
            raise InputFileError(rel, lines.get((*path, name)), f"{what} {name} must be text.")
    if not entry["source"].startswith("https://"):
        raise InputFileError(rel, lines.get((*path, "source")),
                             f"{what} source must be the https:// address of the pricing page.")
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", entry["date"]):
        raise InputFileError(rel, lines.get((*path, "date")),
                             f"{what} date must read YYYY-MM-DD, not {entry['date']!r}.")
    return Price(usd=_number(entry["usd"], rel, lines.get((*path, "usd")), f"{what} usd"),
                 unit=entry["unit"],
                 per=_number(entry["per"], rel, lines.get((*path, "per")), f"{what} per",
                             positive=True),
                 source=entry["source"], date=entry["date"], note=entry.get("note", ""))


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


def _provider_regions(plan: JsonObject) -> dict[str, str | None]:
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


def _provider_keys(module: JsonObject, prefix: str = "") -> dict[str, str]:
    """provider_config_key of every resource in the configuration, by its address without
    instance keys (module.replication.module.replica_bucket.aws_s3_bucket.this)."""
    keys = {f"{prefix}{r['address']}": r.get("provider_config_key", "")
            for r in module.get("resources", [])}
    for name, call in (module.get("module_calls") or {}).items():
        keys.update(_provider_keys(call.get("module") or {}, f"{prefix}module.{name}."))
    return keys


def _region_resolver(plan: JsonObject) -> Callable[[str], str]:
    """Region of a resource: where the provider configuration it uses points.

    The module path alone cannot tell: the replica bucket sits in a module that uses plain
    `aws`, and only the caller's `providers = { aws = aws.dr }` sends it to the DR region.
    Terraform (1.x) resolves that chain and records, for each resource in
    configuration.<module>.resources[], the provider_config_key of the root configuration it
    ends up using ("aws" or "aws.dr"). configuration.provider_config[key].expressions.region
    is then a constant or a reference to a root variable whose value is in plan.variables
    (var.region = af-south-1, var.dr_region = eu-west-1)."""
    regions = _provider_regions(plan)
    keys = _provider_keys((plan.get("configuration") or {}).get("root_module") or {})

    def region_of(address: str) -> str:
        key = keys.get(_strip_keys(address))
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


def _s3_bucket(p: _Pricer, after: JsonObject, use: dict[str, float]) -> None:
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


def _backup_vault(p: _Pricer, use: dict[str, float]) -> None:
    # Recovery points are stored (and, for copies, billed) in the vault's own region.
    p.add("DynamoDB backup warm storage", "backup.dynamodb_warm_storage",
          use.get("monthly_dynamodb_backup_gb", 0.0))
    if use.get("monthly_dynamodb_restore_gb"):
        p.add("DynamoDB restore", "backup.dynamodb_restore", use["monthly_dynamodb_restore_gb"])


def _backup_plan(p: _Pricer, after: JsonObject, use: dict[str, float]) -> None:
    # The destination vault's ARN is unknown until apply; in this project a copy_action always
    # targets the DR region, so every copy is priced as inter-region transfer out of the
    # plan's (source) region.
    if any(_block(rule, "copy_action") for rule in _block(after, "rule")):
        p.add("cross-region copy transfer", "backup.cross_region_copy_transfer",
              use.get("monthly_cross_region_copy_gb", 0.0))
    else:
        p.free("free (no cross-region copy)")


def estimate(plan_json: JsonObject, env_name: str, usage: Usage, prices: PriceTable, *,
             component: str = "") -> ComponentCost:
    """Monthly cost of the resources the plan leaves in place after apply (creates, updates,
    replacements and no-ops; deletes and data sources are skipped)."""
    cost = ComponentCost(component, env_name, prices.engine)
    region_of = _region_resolver(plan_json)
    for change in plan_json.get("resource_changes") or []:
        actions = (change.get("change") or {}).get("actions") or []
        if change.get("mode", "managed") != "managed" or actions == ["delete"]:
            continue
        address, rtype = change["address"], change["type"]
        after = (change.get("change") or {}).get("after") or {}
        pricer = _Pricer(prices, address, rtype, region_of(address))
        use = usage.for_resource(address, rtype)
        if rtype == "aws_dynamodb_table":
            _dynamodb(pricer, after, use, cost.warnings)
        elif rtype == "aws_s3_bucket":
            _s3_bucket(pricer, after, use)
        elif rtype == "aws_backup_vault":
            _backup_vault(pricer, use)
        elif rtype == "aws_backup_plan":
            _backup_plan(pricer, after, use)
        elif rtype in FREE_TYPES:
            pricer.free(FREE_TYPES[rtype])
        else:
            pricer.free(UNPRICED)
            cost.warnings.append(f"{address}: {rtype} is not priced by the bbws table.")
        cost.lines.extend(pricer.lines)
    return cost


# --- Report ----------------------------------------------------------------------------------


def _qty(value: float) -> str:
    return f"{value:,.0f}" if value >= 1000 else f"{value:.4g}"


def threshold_sentence(env_name: str, total: float, threshold_usd: float | None) -> str:
    if threshold_usd is None:
        return f"{env_name} has no review threshold."
    if total > threshold_usd:
        return (f"OVER THRESHOLD: the estimate of {total:,.2f} USD a month exceeds the "
                f"{env_name} review threshold of {threshold_usd:,.2f} USD; the change needs "
                "a cost review before apply.")
    return f"Within the {env_name} review threshold of {threshold_usd:,.2f} USD a month."


def format_table(costs: list[ComponentCost], threshold_usd: float | None) -> str:
    """A monthly table per component (free resources summarised on one line), the total, the
    engine, and the threshold verdict."""
    out: list[str] = []
    header = ("resource", "item", "region", "quantity", "unit", "USD/unit", "USD/month")
    for cost in costs:
        priced = [line for line in cost.lines if line.unit_price or line.quantity]
        free = Counter(line.resource_type for line in cost.lines
                       if not (line.unit_price or line.quantity) and line.item != UNPRICED)
        unpriced = Counter(line.resource_type for line in cost.lines if line.item == UNPRICED)
        rows = [header] + [(line.address, line.item, line.region, _qty(line.quantity),
                            line.unit, f"{line.unit_price:.6g}", f"{line.monthly:,.2f}")
                           for line in priced]
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        out.append(f"{cost.component or 'plan'} ({cost.env}): {cost.total:,.2f} USD a month")
        for number, row in enumerate(rows):
            cells = [c.rjust(w) if i >= 3 and i != 4 else c.ljust(w)
                     for i, (c, w) in enumerate(zip(row, widths, strict=True))]
            out.append("  " + "  ".join(cells).rstrip())
            if number == 0:
                out.append("  " + "  ".join("-" * w for w in widths))
        for label, counts in (("no charge", free), ("not priced", unpriced)):
            if counts:
                listed = ", ".join(f"{t} x{n}" for t, n in sorted(counts.items()))
                out.append(f"  {label}: {listed}")
        out.extend(f"  warning: {warning}" for warning in cost.warnings)
        out.append("")
    total = sum(cost.total for cost in costs)
    env = costs[0].env if costs else ""
    engines = sorted({cost.engine for cost in costs})
    out.append(f"TOTAL {env}: {total:,.2f} USD a month")
    out.append(f"engine: {'; '.join(engines) or 'none'}")
    out.append(threshold_sentence(env, total, threshold_usd))
    return "\n".join(out)


def to_json(costs: list[ComponentCost], threshold_usd: float | None) -> str:
    """The same content as format_table, machine-readable."""
    total = sum(cost.total for cost in costs)
    return json.dumps({
        "currency": "USD",
        "engine": sorted({cost.engine for cost in costs}),
        "total_monthly": round(total, 6),
        "threshold_monthly": threshold_usd,
        "over_threshold": threshold_usd is not None and total > threshold_usd,
        "components": [{"component": cost.component, "env": cost.env, "engine": cost.engine,
                        "total_monthly": round(cost.total, 6), "warnings": cost.warnings,
                        "lines": [asdict(line) for line in cost.lines]} for cost in costs],
    }, indent=2)


@dataclass
class CostReport:
    env: str
    components: list[ComponentCost]
    engine: str
    threshold: float | None
    warnings: list[str] = field(default_factory=list)

    @property
    def total(self) -> float:
        return sum(cost.total for cost in self.components)

    @property
    def over_threshold(self) -> bool:
        return self.threshold is not None and self.total > self.threshold

    def text(self) -> str:
        extra = "".join(f"\nwarning: {warning}" for warning in self.warnings)
        return format_table(self.components, self.threshold) + extra

    def to_json(self) -> str:
        data = json.loads(to_json(self.components, self.threshold))
        data["warnings"] = self.warnings
        return json.dumps(data, indent=2)


# --- infracost -------------------------------------------------------------------------------


def infracost_available() -> bool:
    return shutil.which("infracost") is not None and bool(os.environ.get("INFRACOST_API_KEY"))


def run_infracost(plan_json_path: Path, usage_path: Path) -> JsonObject:
    """infracost's JSON breakdown of one plan JSON with the usage file."""
    command = ["infracost", "breakdown", "--path", str(plan_json_path),
               "--usage-file", str(usage_path), "--format", "json"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=600,
                              check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise OperationError(f"infracost could not run ({error}).") from None
    if done.returncode != 0:
        raise OperationError(f"infracost breakdown failed for {plan_json_path} (exit "
                             f"{done.returncode}).", details=done.stderr)
    try:
        return cast(JsonObject, json.loads(done.stdout))
    except json.JSONDecodeError:
        raise OperationError("infracost printed no JSON.", details=done.stdout[-2000:]) from None


def _from_infracost(result: JsonObject, plan: JsonObject, env_name: str,
                    component: str) -> ComponentCost:
    cost = ComponentCost(component, env_name, INFRACOST_ENGINE)
    region_of = _region_resolver(plan)

    def walk(resource: JsonObject, address: str, rtype: str, region: str, prefix: str) -> None:
        for part in resource.get("costComponents") or []:
            quantity = float(part.get("monthlyQuantity") or 0)
            price = float(part.get("price") or 0)
            monthly = float(part.get("monthlyCost") or 0)
            cost.lines.append(CostLine(address, rtype, prefix + part.get("name", ""), quantity,
                                       part.get("unit", ""), price, monthly, region))
        for sub in resource.get("subresources") or []:
            walk(sub, address, rtype, region, f"{prefix}{sub.get('name', '')}: ")

    for project in result.get("projects") or []:
        for resource in (project.get("breakdown") or {}).get("resources") or []:
            address = resource.get("name", "")
            try:
                region = region_of(address)
            except OperationError:
                region = ""  # infracost's own resources (aws_data_transfer) are not in the plan
            walk(resource, address, resource.get("resourceType") or _resource_type(address),
                 region, "")
    return cost


# --- Entry point -----------------------------------------------------------------------------


def price_saved_plans(env_name: str, plan_jsons: dict[str, JsonObject], *,
                      usage_file: Path | None = None, prices_file: Path | None = None,
                      use_infracost: bool | None = None) -> CostReport:
    """Price each component's plan JSON (component name -> `terraform show -json` output)
    for an environment. The usage file and price table are validated first (InputFileError);
    infracost is used when available unless use_infracost says otherwise."""
    if env_name not in REVIEW_THRESHOLD_USD:
        raise UserError(f"No review threshold is defined for {env_name!r}; "
                        f"known environments: {', '.join(REVIEW_THRESHOLD_USD)}.")
    usage_file = usage_file or usage_path(env_name)
    usage = load_usage(usage_file)
    prices = load_prices(prices_file or PRICES_PATH)
    threshold = REVIEW_THRESHOLD_USD[env_name]
    if use_infracost is None:
        use_infracost = infracost_available()
    components: list[ComponentCost] = []
    if use_infracost:
        with tempfile.TemporaryDirectory(prefix="bbws-cost-") as tmp:
            for name, plan in plan_jsons.items():
                path = Path(tmp) / f"{name}.plan.json"
                path.write_text(json.dumps(plan), encoding="utf-8")
                result = run_infracost(path, usage_file)
                components.append(_from_infracost(result, plan, env_name, name))
        engine = INFRACOST_ENGINE
    else:
        components = [estimate(plan, env_name, usage, prices, component=name)
                      for name, plan in plan_jsons.items()]
        engine = prices.engine
    addresses = [c["address"] for plan in plan_jsons.values()
                 for c in plan.get("resource_changes") or []]
    used = {pattern for address in addresses for pattern in usage.matching(address)}
    warnings = [f"{usage.path}: resource_usage entry {pattern} matches no resource in the plans."
                for pattern in usage.resources if pattern not in used]
    return CostReport(env_name, components, engine, threshold, warnings)
