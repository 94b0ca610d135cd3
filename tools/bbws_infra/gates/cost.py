"""Monthly cost estimate of saved Terraform plans, offline.

infracost needs its pricing API and a key, so by default a plan is priced here from the price
table kept in the repository (pricing/prices.json) and the environment's usage file
(envs/<env>.usage.yml, in infracost's usage-file format so the same file feeds infracost). When
infracost is installed and INFRACOST_API_KEY is set, infracost prices the plans instead.

Both files are validated before anything is priced: a broken one raises InputFileError with
its path, a line where possible and one sentence.

The pieces live in cost_table.py (policy constants, price table), cost_usage.py (usage
file) and cost_estimate.py (pricing per resource type); this module reports and runs them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import cast

from bbws_infra.core import private_folders
from bbws_infra.core.errors import OperationError, UserError
from bbws_infra.core.untyped import JsonObject
from bbws_infra.gates.cost_estimate import ComponentCost, CostLine, _region_resolver, estimate
from bbws_infra.gates.cost_table import (
    INFRACOST_ENGINE,
    PRICES_PATH,
    REVIEW_THRESHOLD_USD,
    UNPRICED,
    _resource_type,
    load_prices,
)
from bbws_infra.gates.cost_usage import load_usage, usage_path

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
        # the plans hold the state's values: a killed run's folder is removed by the next
        with private_folders.private_folder("bbws-cost-") as tmp:
            for name, plan in plan_jsons.items():
                path = tmp / f"{name}.plan.json"
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
