"""What a saved plan does to the monthly cost: the price of what runs now (the resources of the
state the plan was made against) beside the price after its apply, per component.

Both sides are priced from the plan JSON alone, with the price table and the env's usage file
(the same engine on both sides, so the difference is the plan's and not the engines'): a
plan's `resource_changes` carry each resource's values before and after, so no AWS call is
needed and a pull request's comment job, which has no credentials, can price too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bbws_infra.core.errors import UserError
from bbws_infra.core.untyped import JsonObject
from bbws_infra.gates.cost_estimate import estimate, provider_keys, provider_regions
from bbws_infra.gates.cost_table import PRICES_PATH, REVIEW_THRESHOLD_USD, load_prices, strip_keys
from bbws_infra.gates.cost_usage import load_usage, usage_path

_ARN_REGION = re.compile(r"arn:aws[\w-]*:[\w-]+:([a-z]{2}(?:-[a-z]+)+-\d):")


def running_now(plan_json: JsonObject) -> tuple[JsonObject, dict[str, str]]:
    """A plan-shaped document of what exists before the apply (every managed change but a
    pure create, with its `before` values and no action), and the region of those resources
    the configuration no longer names (a delete): from their own values, else the default
    provider's region."""
    configured = provider_keys((plan_json.get("configuration") or {}).get("root_module") or {})
    default = provider_regions(plan_json).get("aws")
    changes, regions = [], {}
    for change in plan_json.get("resource_changes") or []:
        detail = change.get("change") or {}
        before = detail.get("before")
        if change.get("mode", "managed") != "managed" or detail.get("actions") == ["create"] \
                or not isinstance(before, dict):
            continue
        changes.append({**change, "change": {"actions": ["no-op"], "before": before,
                                             "after": before}})
        if strip_keys(change["address"]) not in configured:
            region = _region_of_values(before) or default
            if region:
                regions[change["address"]] = region
    return {**plan_json, "resource_changes": changes}, regions


def _region_of_values(values: JsonObject) -> str | None:
    if isinstance(values.get("region"), str) and values["region"]:
        return str(values["region"])
    match = _ARN_REGION.match(str(values.get("arn") or ""))
    return match.group(1) if match else None


@dataclass(frozen=True)
class CostChange:
    """One component's monthly cost now and after its plan, in USD."""

    component: str
    now: float
    after: float
    warnings: tuple[str, ...] = ()  # what the table could not price after the apply

    @property
    def difference(self) -> float:
        return self.after - self.now


@dataclass
class EnvCost:
    env: str
    engine: str
    threshold: float | None
    components: list[CostChange]
    warnings: list[str] = field(default_factory=list)

    @property
    def now(self) -> float:
        return sum(c.now for c in self.components)

    @property
    def after(self) -> float:
        return sum(c.after for c in self.components)

    @property
    def over_threshold(self) -> bool:
        return self.threshold is not None and self.after > self.threshold


def price_changes(env_name: str, plan_jsons: dict[str, JsonObject]) -> EnvCost:
    """Each component's cost now and after its plan (component name -> `show -json` output);
    the usage file and price table are validated first (InputFileError)."""
    if env_name not in REVIEW_THRESHOLD_USD:
        raise UserError(f"No review threshold is defined for {env_name!r}; "
                        f"known environments: {', '.join(REVIEW_THRESHOLD_USD)}.")
    usage = load_usage(usage_path(env_name))
    prices = load_prices(PRICES_PATH)
    components, warnings = [], []
    for name, plan in plan_jsons.items():
        after = estimate(plan, env_name, usage, prices, component=name)
        now_plan, regions = running_now(plan)
        now = estimate(now_plan, env_name, usage, prices, component=name, regions=regions)
        components.append(CostChange(name, now.total, after.total, tuple(after.warnings)))
        warnings += after.warnings
    return EnvCost(env_name, prices.engine, REVIEW_THRESHOLD_USD[env_name], components,
                   warnings)


def usd(value: float, signed: bool = False) -> str:
    """12.34 USD, or with signed +12.34 / -0.50 (a difference)."""
    text = f"{value:+,.2f}" if signed else f"{value:,.2f}"
    return "±0.00" if signed and text in ("+0.00", "-0.00") else text
