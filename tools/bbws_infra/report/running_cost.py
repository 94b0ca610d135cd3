"""The monthly cost of what a component runs now, from its current state document and the
offline price table (never infracost, never a plan: the status page only reads).

The price table prices plan JSON (gates/cost_estimate.py); a state holds the same resources
with their attributes, so each managed instance becomes an unchanged ("no-op") resource change
of a plan-shaped document, and each resource's provider configuration (the default one or
the DR alias, as the state records it) its region."""

from __future__ import annotations

import json
import re

from bbws_infra.core.registry import Environment
from bbws_infra.core.untyped import JsonObject
from bbws_infra.gates.cost import price_saved_plans
from bbws_infra.gates.cost_table import strip_keys

# provider["registry.terraform.io/hashicorp/aws"].dr -> "dr"; no alias -> None
_PROVIDER = re.compile(r'provider\["[^"]*/aws"\](?:\.(\w+))?$')


def _address(resource: JsonObject, index_key: object) -> str:
    prefix = f"{resource['module']}." if resource.get("module") else ""
    base = f"{prefix}{resource['type']}.{resource['name']}"
    if index_key is None:
        return base
    return f"{base}[{index_key}]" if isinstance(index_key, int) else \
        f"{base}[{json.dumps(index_key)}]"


def plan_shaped(state: JsonObject, env: Environment) -> JsonObject:
    """A plan-shaped document of everything the state holds, unchanged, for the estimate."""
    changes: list[JsonObject] = []
    keys: dict[str, str] = {}
    for resource in state.get("resources") or []:
        if resource.get("mode") != "managed":
            continue
        found = _PROVIDER.search(str(resource.get("provider", "")))
        key = f"aws.{found.group(1)}" if found and found.group(1) else "aws"
        for instance in resource.get("instances") or []:
            address = _address(resource, instance.get("index_key"))
            keys[strip_keys(address)] = key
            changes.append({"address": address, "mode": "managed", "type": resource["type"],
                            "change": {"actions": ["no-op"],
                                       "after": instance.get("attributes") or {}}})
    return {"resource_changes": changes, "configuration": {
        "provider_config": {
            "aws": {"expressions": {"region": {"constant_value": env.region}}},
            "aws.dr": {"expressions": {"region": {"constant_value": env.dr_region}}}},
        "root_module": {"resources": [{"address": address, "provider_config_key": key}
                                      for address, key in keys.items()]}}}


def monthly_costs(env: Environment, states: dict[str, JsonObject]) -> dict[str, float]:
    """USD a month of each component's running resources (component -> its state document),
    priced by the repository's price table with the env's usage file."""
    if not states:
        return {}
    report = price_saved_plans(env.name, {name: plan_shaped(state, env)
                                          for name, state in states.items()},
                               use_infracost=False)
    return {cost.component: round(cost.total, 2) for cost in report.components}
