"""Which configurations of the AWS provider a staged root uses: "aws", and "aws.dr" where the
disaster-recovery region is on (prod), read from its files as Terraform reads them.

One shared provider process (engine.provider_process) can serve one configuration only: the
provider keeps a single configuration, so a second one (another region) would overwrite the
first and requests would reach the wrong region. A root that uses more runs as plain
Terraform runs it, one provider process per configuration.
"""

from __future__ import annotations

import re
from pathlib import Path

from bbws_infra.core import tfvars
from bbws_infra.core.untyped import JsonObject

DEFAULT = "aws"
# Override files (override.tf, *_override.tf) apply after the others, replacing the attributes
# they set in the blocks of the same name.
_OVERRIDE = re.compile(r"(^|_)override\.tf$")
# A module that configures the provider itself adds a configuration of its own.
_PROVIDER_BLOCK = re.compile(r'^\s*provider\s+"aws"\s*\{', re.M)


def _reference(value: object) -> str:
    """`aws.dr` from the parser's `${aws.dr}`."""
    return str(value).strip().removeprefix("${").removesuffix("}").strip()


def used(root: Path) -> set[str]:
    """The AWS provider configurations the root's module calls and resources use."""
    module_providers: dict[str, dict[str, object]] = {}
    module_sources: dict[str, str] = {}
    resource_providers: dict[tuple[str, str, str], object] = {}
    files = sorted(root.glob("*.tf"), key=lambda p: (bool(_OVERRIDE.search(p.name)), p.name))
    for path in files:
        parsed: JsonObject = tfvars.parse_file(path, root)
        for block in parsed.get("module", []):
            for name, body in block.items():
                if "providers" in body:
                    module_providers[name] = body["providers"] or {}
                if "source" in body:
                    module_sources[name] = str(body["source"]).strip('"')
        for kind in ("resource", "data"):
            for block in parsed.get(kind, []):
                for kind_type, named in block.items():
                    for name, body in named.items():
                        if "provider" in body:
                            resource_providers[(kind, kind_type, name)] = body["provider"]
    configurations = {DEFAULT}
    configurations |= {_reference(value) for providers in module_providers.values()
                       for value in providers.values()}
    configurations |= {_reference(value) for value in resource_providers.values()}
    for name, source in module_sources.items():
        folder = (root / source).resolve()
        if source.startswith(".") and any(_PROVIDER_BLOCK.search(tf.read_text())
                                          for tf in folder.rglob("*.tf")):
            configurations.add("module " + name.strip('"'))
    return configurations


def used_by_plan(plan_json: JsonObject) -> set[str]:
    """The provider configurations the resources of a plan (Terraform's `show -json`) use."""
    used_keys: set[str] = set()

    def walk(module: JsonObject) -> None:
        for resource in module.get("resources", []):
            # "aws", "aws.dr" (also for a module's resources given it); a module's own
            # provider block: "<module>:aws"
            used_keys.add(str(resource.get("provider_config_key", DEFAULT)))
        for call in module.get("module_calls", {}).values():
            walk(call.get("module", {}))

    walk(plan_json.get("configuration", {}).get("root_module", {}))
    return used_keys
