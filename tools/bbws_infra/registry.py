"""Environments (read from envs/<env>.tfvars) and components (the Terraform roots)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import hcl2

from bbws_infra.errors import UserError
from bbws_infra.paths import REPO_ROOT

TARGETS = ("sandbox", "aws")

# Seed 000 section 6.4: the string an operator types to change each environment.
APPLY_CONFIRMATIONS = {"dev": "deploy-dev", "sit": "promote-sit", "prod": "promote-prod"}


@dataclass(frozen=True)
class Environment:
    name: str
    account_id: str
    region: str
    dr_region: str
    deletion_protection: bool
    tfvars: Path
    values: dict[str, Any]

    @property
    def state_bucket(self) -> str:
        return f"bbws-terraform-state-{self.name}"

    @property
    def lock_table(self) -> str:
        return f"terraform-state-lock-{self.name}"

    @property
    def apply_confirmation(self) -> str:
        return APPLY_CONFIRMATIONS[self.name]

    @property
    def rollback_confirmation(self) -> str:
        return f"rollback-{self.name}"


@dataclass(frozen=True)
class Component:
    name: str
    kind: str  # "dynamodb" or "s3": also the first folder of the root
    repository: str  # the seed's repository name, which prefixes the state key

    @property
    def root(self) -> str:
        """Root directory relative to the repository."""
        return f"{self.kind}/{self.name}"

    @property
    def state_key(self) -> str:
        return f"{self.repository}/{self.name}/terraform.tfstate"


COMPONENTS: dict[str, Component] = {
    c.name: c
    for c in (
        Component("tenants", "dynamodb", "2_1_bbws_dynamodb_schemas"),
        Component("products", "dynamodb", "2_1_bbws_dynamodb_schemas"),
        Component("campaigns", "dynamodb", "2_1_bbws_dynamodb_schemas"),
        Component("templates", "s3", "2_1_bbws_s3_schemas"),
    )
}


def _plain(value: Any) -> Any:
    """python-hcl2 keeps string quotes (and older releases wrap values in lists): undo both."""
    if isinstance(value, list) and len(value) == 1 and not isinstance(value[0], (list, dict)):
        return _plain(value[0])
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return json.loads(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if not k.startswith("__")}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def env_names(repo_root: Path = REPO_ROOT) -> list[str]:
    return sorted(p.stem for p in (repo_root / "envs").glob("*.tfvars"))


@cache
def load_environment(name: str, repo_root: Path = REPO_ROOT) -> Environment:
    """Read envs/<name>.tfvars; its file name and `environment` value must agree."""
    names = env_names(repo_root)
    if name not in names:
        raise UserError(f"Unknown environment {name!r}; choose one of: {', '.join(names)}.")
    path = repo_root / "envs" / f"{name}.tfvars"
    with path.open() as handle:
        values = _plain(hcl2.load(handle))
    missing = [k for k in ("environment", "account_id", "region", "dr_region") if k not in values]
    if missing:
        raise UserError(f"{path.relative_to(repo_root)} lacks {', '.join(missing)}.")
    if values["environment"] != name or name not in APPLY_CONFIRMATIONS:
        raise UserError(f"{path.relative_to(repo_root)} says environment = "
                        f"{values['environment']!r}; it must be {name!r} and one of "
                        f"{', '.join(APPLY_CONFIRMATIONS)}.")
    return Environment(
        name=name,
        account_id=str(values["account_id"]),
        region=values["region"],
        dr_region=values["dr_region"],
        deletion_protection=bool(values.get("deletion_protection", False)),
        tfvars=path,
        values=values,
    )


def resolve_components(name: str | None) -> list[Component]:
    """One component by name, or all of them when name is None or 'all'."""
    if name in (None, "", "all"):
        return list(COMPONENTS.values())
    wanted = [n.strip() for n in name.split(",")]
    unknown = [n for n in wanted if n not in COMPONENTS]
    if unknown:
        raise UserError(f"Unknown component {', '.join(map(repr, unknown))}; choose one of: "
                        f"{', '.join(COMPONENTS)} (or omit --component for all).")
    return [COMPONENTS[n] for n in dict.fromkeys(wanted)]


def resolve_target(name: str | None) -> str:
    target = name or os.environ.get("BBWS_TARGET") or "sandbox"
    if target not in TARGETS:
        raise UserError(f"Unknown target {target!r}; choose one of: {', '.join(TARGETS)}.")
    return target
