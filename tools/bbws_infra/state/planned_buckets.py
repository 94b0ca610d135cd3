"""The names of the S3 buckets an environment creates, read from where they are written: the
state bucket and its log bucket (state_bucket.py, made by bootstrap), and each bucket of a
bucket component as its root's main.tf names it.

In a component root, a module input ending in `bucket_name` whose value is built from locals
and variables (`local.bucket_name`, `"${local.bucket_name}-logs"`, `var.environment`) names a
bucket that module creates; an input that reads another module's output (`module.x.id`)
names a bucket made elsewhere. A module counted `var.<switch> ? 1 : 0` creates its bucket only
where the env's tfvars set that switch.
"""

from __future__ import annotations

import re

from bbws_infra.core import tfvars
from bbws_infra.core.paths import REPO_ROOT
from bbws_infra.core.registry import COMPONENTS, Component, Environment
from bbws_infra.core.untyped import JsonObject
from bbws_infra.state.state_bucket import log_bucket

_REFERENCE = re.compile(r"\$\{(var|local)\.(\w+)\}")
_SWITCH = re.compile(r"^\$\{var\.(\w+) \? 1 : 0\}$")


def _resolve(text: str, env: Environment, locals_: JsonObject, depth: int = 0) -> str | None:
    """The string with every ${var.x} and ${local.x} filled in; None when it reads anything
    else (another module's output, a function)."""
    def fill(match: re.Match[str]) -> str:
        kind, name = match.groups()
        value = env.values.get(name) if kind == "var" else locals_.get(name)
        if not isinstance(value, str) or depth > 5:
            raise LookupError(name)
        return _resolve(value, env, locals_, depth + 1) or ""

    try:
        resolved = _REFERENCE.sub(fill, text)
    except LookupError:
        return None
    return None if "${" in resolved or not resolved else resolved


def component_buckets(env: Environment, component: Component) -> list[str]:
    """The buckets the component's root creates in this env."""
    document = tfvars.parse_file(REPO_ROOT / component.root / "main.tf", REPO_ROOT)
    locals_: JsonObject = {}
    for block in document.get("locals", []):
        locals_.update(tfvars.plain(block))
    names = []
    for module in document.get("module", []):
        for body in (tfvars.plain(m) for m in module.values()):
            switch = _SWITCH.match(str(body.get("count", "")))
            if switch and not env.values.get(switch.group(1)):
                continue
            for key, value in body.items():
                if key.endswith("bucket_name") and isinstance(value, str):
                    name = _resolve(value, env, locals_)
                    if name:
                        names.append(name)
    return list(dict.fromkeys(names))


def planned_buckets(env: Environment) -> list[str]:
    """Every bucket name the env will create, the state backend's first."""
    names = [env.state_bucket, log_bucket(env)]
    for component in COMPONENTS.values():
        if (REPO_ROOT / component.root / "main.tf").exists() and component.kind == "s3":
            names += component_buckets(env, component)
    return list(dict.fromkeys(names))
