"""The project's lists, each written once: environments (values from envs/<env>.tfvars, order
of promotion here), components (discovered from the folders under dynamodb/ and s3/), the
Terraform tree, provider aliases (read from envs/providers.tf) and confirmation strings.

Adding a table is adding a folder under dynamodb/; adding an environment is adding its tfvars
file and its place in PROMOTION_ORDER.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Protocol

from bbws_infra.core import tfvars
from bbws_infra.core.errors import UserError
from bbws_infra.core.paths import REPO_ROOT
from bbws_infra.core.untyped import JsonObject

TARGETS = ("sandbox", "aws")

# Changes travel dev -> sit -> prod; the first environment deploys, the later ones promote.
PROMOTION_ORDER = ("dev", "sit", "prod")

# How many different people must approve a workflow run that changes an environment (release
# or rollback), not counting whoever started the run. GitHub starts a job on the first
# approval, so the workflows add approval jobs and the apply job counts (see approvals.py).
REQUIRED_APPROVALS = {"dev": 1, "sit": 2, "prod": 3}

# Where deletion protection is on, deleting a protected table, bucket or vault needs the
# break-glass role, which only jobs bound to this GitHub environment may assume; a run through
# it needs one approval more than the env's own (see docs/decisions/deletion-protection.md).
BREAK_GLASS_SUFFIX = "-break-glass"
BREAK_GLASS = "break-glass"  # the role's part of its name (role_name)


def break_glass_environment(env_name: str) -> str:
    """prod -> prod-break-glass: the GitHub environment of protected deletions in env_name."""
    return f"{env_name}{BREAK_GLASS_SUFFIX}"


def role_name(role: str, env_name: str) -> str:
    """The IAM role a GitHub job assumes in env_name's account: bbws-infra-plan-dev,
    bbws-infra-deploy-sit, bbws-infra-break-glass-prod (pipeline/iam_policy.py writes them)."""
    return f"bbws-infra-{role}-{env_name}"

# Component folders and the prefix of their state keys (the repository names the state layout
# was agreed with).
STATE_KEY_PREFIXES = {"dynamodb": "2_1_bbws_dynamodb_schemas", "s3": "2_1_bbws_s3_schemas",
                      "monitoring": "2_1_bbws_monitoring"}
# Files outside its own folder a kind's plans depend on, as repository-relative patterns ({name}:
# the component's): a monitoring root reads every schema (a schema change re-plans monitoring),
# and a table's apply runs its data migrations, so a reviewed plan goes stale when they change.
EXTRA_INPUTS = {"monitoring": ("dynamodb/*/*.schema.json",),
                "dynamodb": ("migrations/{name}/*.py",)}
# Top-level folders those patterns reach that are no Terraform.
EXTRA_INPUT_DIRS = ("migrations",)
MODULES_DIR = "modules"
SHARED_DIR = "envs"  # tfvars plus the providers and variables every root links
# Everything staged, formatted and validated: the component roots, the modules, envs/.
TERRAFORM_TREE = (*STATE_KEY_PREFIXES, MODULES_DIR, SHARED_DIR)

# Variables an environment's tfvars must set for the task runner itself (Terraform checks the
# rest against envs/variables.tf).
_REQUIRED = ("environment", "account_id", "region", "dr_region")


def previous_env(env_name: str) -> str | None:
    """The environment a change must have passed before this one (None for the first)."""
    index = PROMOTION_ORDER.index(env_name)
    return PROMOTION_ORDER[index - 1] if index else None


def apply_confirmation(env_name: str) -> str:
    """What an operator types to change an environment: deploy-dev, promote-sit, promote-prod."""
    verb = "deploy" if env_name == PROMOTION_ORDER[0] else "promote"
    return f"{verb}-{env_name}"


@dataclass(frozen=True)
class Environment:
    name: str
    account_id: str
    region: str
    dr_region: str
    deletion_protection: bool
    tfvars: Path
    values: JsonObject

    @property
    def state_bucket(self) -> str:
        return f"bbws-terraform-state-{self.name}"

    @property
    def lock_table(self) -> str:
        return f"terraform-state-lock-{self.name}"

    @property
    def apply_confirmation(self) -> str:
        return apply_confirmation(self.name)

    @property
    def rollback_confirmation(self) -> str:
        return f"rollback-{self.name}"

    @property
    def destroy_confirmation(self) -> str:
        return f"destroy-{self.name}"

    @property
    def migrate_confirmation(self) -> str:
        """What an operator types to change a table's items: migrate-<env>."""
        return f"migrate-{self.name}"

    @property
    def pre_deploy_backup(self) -> bool:
        """Whether every change to a table here is preceded by an on-demand backup of it."""
        return bool(self.values.get("pre_deploy_backup", False))

    @property
    def verify_canary_writes(self) -> bool:
        """Whether verify's data stage may write (and delete) a canary item in each table here;
        where not, it only reads."""
        return bool(self.values.get("verify_canary_writes", False))

    @property
    def uses_dr(self) -> bool:
        """Whether anything in this environment lives in the DR region (backup copies or the
        replica bucket); where not, the DR provider is never started."""
        return bool(self.values.get("backup_copy_to_dr") or self.values.get("replication_enabled"))


class Named(Protocol):
    """Anything with a name: what the runner works on (components, modules) and what a log
    file is named after."""

    @property
    def name(self) -> str: ...


@dataclass(frozen=True)
class Component:
    name: str
    kind: str  # the folder holding the root: a key of STATE_KEY_PREFIXES

    @property
    def root(self) -> str:
        """Root directory relative to the repository."""
        return f"{self.kind}/{self.name}"

    @property
    def extra_inputs(self) -> tuple[str, ...]:
        """Patterns of the files outside its root the component's plan depends on."""
        return tuple(p.format(name=self.name) for p in EXTRA_INPUTS.get(self.kind, ()))

    @property
    def state_key(self) -> str:
        return f"{STATE_KEY_PREFIXES[self.kind]}/{self.name}/terraform.tfstate"


def discover_components(repo_root: Path = REPO_ROOT) -> dict[str, Component]:
    """Every folder under dynamodb/ and s3/ that holds a main.tf is a component."""
    found: dict[str, Component] = {}
    for kind in STATE_KEY_PREFIXES:
        for main in sorted((repo_root / kind).glob("*/main.tf")):
            name = main.parent.name
            if name in found:
                raise UserError(f"Component {name!r} exists under both {found[name].kind}/ and "
                                f"{kind}/; component names must be unique.")
            found[name] = Component(name, kind)
    return found


COMPONENTS: dict[str, Component] = discover_components()


def terraform_dirs(repo_root: Path = REPO_ROOT) -> list[str]:
    """Every root and module (repository-relative), for validate and the scanners."""
    parents = (*STATE_KEY_PREFIXES, MODULES_DIR)
    dirs = {p.parent for d in parents for p in (repo_root / d).glob("*/*.tf")}
    return sorted(str(p.relative_to(repo_root)) for p in dirs)


@cache
def provider_aliases(repo_root: Path = REPO_ROOT) -> tuple[str | None, ...]:
    """The aws provider configurations envs/providers.tf declares: None for the default one,
    then each alias (e.g. "dr")."""
    path = repo_root / SHARED_DIR / "providers.tf"
    blocks = tfvars.parse_file(path, repo_root).get("provider", [])
    aliases: list[str | None] = []
    for block in blocks:
        for name, body in block.items():
            if name.strip('"') == "aws":
                aliases.append(tfvars.plain(body.get("alias")))
    if None not in aliases:
        raise UserError(f"{SHARED_DIR}/providers.tf declares no default aws provider.")
    return tuple(sorted(aliases, key=lambda a: (a is not None, a or "")))


def env_names(repo_root: Path = REPO_ROOT) -> list[str]:
    """Environments in promotion order; a tfvars file outside that order is an error."""
    present = {p.stem for p in (repo_root / SHARED_DIR).glob("*.tfvars")}
    strays = sorted(present - set(PROMOTION_ORDER))
    if strays:
        raise UserError(f"{SHARED_DIR}/{strays[0]}.tfvars is not an environment this project "
                        f"promotes through ({', '.join(PROMOTION_ORDER)}); rename or remove it.")
    return [name for name in PROMOTION_ORDER if name in present]


@cache
def load_environment(name: str, repo_root: Path = REPO_ROOT) -> Environment:
    """Read and check envs/<name>.tfvars (syntax, declared variables, types) before anything
    starts; its file name and `environment` value must agree."""
    names = env_names(repo_root)
    if name not in names:
        raise UserError(f"Unknown environment {name!r}; choose one of: {', '.join(names)}.")
    path = repo_root / SHARED_DIR / f"{name}.tfvars"
    values = tfvars.load_tfvars(path, repo_root / SHARED_DIR / "variables.tf", repo_root)
    rel = path.relative_to(repo_root)
    missing = [k for k in _REQUIRED if k not in values]
    if missing:
        raise UserError(f"{rel} lacks {', '.join(missing)}.")
    if values["environment"] != name:
        raise UserError(f"{rel}:{tfvars.line_of(path, 'environment')}: environment = "
                        f"{values['environment']!r}, but the file name says {name!r}.")
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


def one_component(name: str | None, task: str) -> Component:
    """Exactly one component by name, for the tasks that work on one state at a time."""
    chosen = resolve_components(name) if name else []
    if len(chosen) != 1:
        raise UserError(f"{task} works on exactly one --component; nothing was changed.")
    return chosen[0]


def resolve_target(name: str | None) -> str:
    target = name or os.environ.get("BBWS_TARGET") or "sandbox"
    if target not in TARGETS:
        raise UserError(f"Unknown target {target!r}; choose one of: {', '.join(TARGETS)}.")
    return target


# Help texts of the flags every task shares, built from the lists above.
ENV_HELP = (f"Environment: {', '.join(PROMOTION_ORDER)} (values come from "
            f"{SHARED_DIR}/<env>.tfvars).")
COMPONENT_CHOICES = f"Component: {', '.join(COMPONENTS)}; comma-separate several"
COMPONENT_HELP = f"{COMPONENT_CHOICES}; omit for all."
TARGET_HELP = ("Where to run: sandbox (default, the embedded AWS emulator) or aws (real AWS; "
               "also set by BBWS_TARGET).")
CONFIRM_HELP = ("The env's confirmation string: "
                f"{', '.join(apply_confirmation(e) for e in PROMOTION_ORDER)}.")
