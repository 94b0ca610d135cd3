"""The cost policy's constants and the price table (pricing/prices.json): loading and
validating it, and the small readers of numbers and mappings the usage file shares.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from bbws_infra.core.errors import InputFileError
from bbws_infra.core.paths import REPO_ROOT
from bbws_infra.core.untyped import Json, JsonObject, JsonPath
from bbws_infra.core.yaml_files import load_json

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
    "aws_sns_topic": frozenset({"monthly_requests"}),
    "aws_sns_topic_subscription": frozenset({"monthly_requests"}),
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
    "cloudwatch.alarm_metrics", "cloudwatch.dashboards", "kms.customer_managed_keys",
    "sns.requests", "sns.email_notifications",
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
    "aws_kms_alias": "free",
    "aws_sns_topic_policy": "free",
    "aws_cloudwatch_event_rule": "free (AWS service events on the default bus)",
    "aws_cloudwatch_event_target": "free (AWS service events on the default bus)",
    "aws_budgets_budget": "free (a budget without actions)",
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
    parts = strip_keys(address).split(".")
    return parts[-2] if len(parts) >= 2 else ""


_INSTANCE_KEY = re.compile(r'\[(?:"(?:[^"\\]|\\.)*"|[^\]]*)\]')


def strip_keys(address: str) -> str:
    """A resource address without its instance keys (what the configuration names)."""
    return _INSTANCE_KEY.sub("", address)


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
