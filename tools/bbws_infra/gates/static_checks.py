"""Static checks of the Terraform tree: `terraform fmt` and `terraform validate` of every root
and module, offline (no backend, no credentials)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from bbws_infra.core.paths import REPO_ROOT, files_digest, work_dir
from bbws_infra.core.registry import MODULES_DIR, SHARED_DIR, TERRAFORM_TREE, provider_aliases
from bbws_infra.core.registry import terraform_dirs as _terraform_dir_names
from bbws_infra.engine import terraform
from bbws_infra.plans import operations, runner
from bbws_infra.targets import targets


def _alias_providers() -> str:
    """`terraform validate` cannot check a module that expects an aliased provider from its
    caller. Such modules are validated in a second staged copy where they get those provider
    configurations themselves (the first copy stays untouched for the roots that call them);
    the region only has to be valid."""
    return "".join(f'provider "aws" {{\n  alias  = "{alias}"\n  region = "eu-west-1"\n}}\n'
                   for alias in provider_aliases() if alias)


def terraform_fmt(fix: bool) -> str:
    """Rewrite (fix) or check formatting; returns the diff of unformatted files, or ""."""
    env = targets.base_env(offline=True)
    args = ["fmt", "-recursive", "-no-color"] + ([] if fix else ["-check", "-diff"])
    problems = []
    for directory in TERRAFORM_TREE:
        result = terraform.run([*args, str(REPO_ROOT / directory)], cwd=REPO_ROOT, env=env,
                               check=False)
        if result.returncode != 0:
            problems.append(result.stdout.strip() or terraform.diagnostics(result))
    return "\n".join(problems)


@dataclass(frozen=True)
class TerraformDir:
    """A root or module that `validate` checks, named by its repository path."""

    name: str


def terraform_dirs() -> list[TerraformDir]:
    return [TerraformDir(name) for name in _terraform_dir_names()]


def _read(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def validate_log(item: TerraformDir) -> Path:
    return work_dir() / "logs" / "validate" / f"{item.name.replace('/', '_')}.log"


def _validate_fingerprint(cwd: Path, env: dict[str, str]) -> str:
    """Everything a directory's validation depends on: its own files, every module and the
    shared files it may reach, the engine and the CLI configuration. A directory whose
    fingerprint matches its last successful validation is not validated again."""
    stage = cwd.parents[1]
    candidates = [*cwd.rglob("*"), *(stage / MODULES_DIR).rglob("*"),
                  *(stage / SHARED_DIR).glob("*.tf")]
    files = sorted(p for p in candidates if p.is_file() and ".terraform" not in p.parts)
    return files_digest(files, stage, terraform.engine_identity(env))


def validate_terraform(console: Console) -> list[runner.Row[TerraformDir]]:
    """init -backend=false and validate every root and module, in parallel; a directory
    whose inputs did not change since its last successful validation is skipped."""
    items = terraform_dirs()
    stage_dir = work_dir() / "stage" / "validate"
    standalone_dir = work_dir() / "stage" / "validate-standalone"
    needs_alias = {item.name for item in items
                   if "configuration_aliases" in _read(REPO_ROOT / item.name / "versions.tf")}
    targets.stage_tree(stage_dir)
    if needs_alias:
        targets.stage_tree(standalone_dir)
        for name in needs_alias:
            (standalone_dir / name / "zz_validate_providers.tf").write_text(_alias_providers())
    offline_env = targets.base_env(offline=True)

    def one(item: TerraformDir, report: Callable[[str], None]) -> operations.Outcome:
        data_dir = work_dir() / "terraform" / "validate" / item.name
        env = {**offline_env, "TF_DATA_DIR": str(data_dir)}
        log = validate_log(item)
        cwd = (standalone_dir if item.name in needs_alias else stage_dir) / item.name
        stamp = data_dir / "validated.fingerprint"
        fingerprint = _validate_fingerprint(cwd, env)
        if stamp.exists() and stamp.read_text() == fingerprint:
            return operations.Outcome(note="valid (unchanged)")
        log.unlink(missing_ok=True)
        stamp.unlink(missing_ok=True)
        # Roots install exactly the locked provider; modules have no lock file of their own.
        lockfile = ["-lockfile=readonly"] if (cwd / targets.LOCK_FILE).exists() else []
        with terraform.provider_install_lock():
            terraform.run_batch([
                terraform.Command(["init", "-backend=false", "-input=false", "-no-color",
                                   *lockfile]),
                terraform.Command(["validate", "-no-color"]),
            ], cwd=cwd, env=env, log=log, on_stage=report)
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.write_text(fingerprint)
        return operations.Outcome(note="valid")

    return runner.run("terraform validate", items, one, console)
