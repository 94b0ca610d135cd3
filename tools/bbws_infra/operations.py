"""Terraform operations on one component: init, plan (saved for review), apply (of that plan)."""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bbws_infra import terraform
from bbws_infra.errors import UserError
from bbws_infra.paths import work_dir
from bbws_infra.plan_summary import PlanSummary, summarise
from bbws_infra.registry import Component
from bbws_infra.targets import TargetContext

Report = Callable[[str], None]


def no_report(_: str) -> None:
    pass


@dataclass
class Outcome:
    """What a component run produced, for the summary table."""

    summary: PlanSummary | None = None
    note: str = ""


def plan_dir(env_name: str, component: Component) -> Path:
    return work_dir() / "plans" / env_name / component.name


def _init_fingerprint(ctx: TargetContext, component: Component) -> str:
    """Everything init depends on: backend settings, CLI configuration, engine, and every
    Terraform file (a new module call or provider requirement needs a new init)."""
    digest = hashlib.sha256()
    digest.update(ctx.backend_file(component).read_bytes())
    digest.update(Path(ctx.process_env["TF_CLI_CONFIG_FILE"]).read_bytes())
    digest.update(" ".join(terraform.engine_command()).encode())
    for path in sorted(ctx.stage_dir.rglob("*.tf")):
        digest.update(str(path.relative_to(ctx.stage_dir)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def init(ctx: TargetContext, component: Component, report: Report = no_report,
         force: bool = False) -> terraform.Result | None:
    """terraform init, skipped (None) when nothing it depends on changed since the last one."""
    data_dir = ctx.data_dir(component)
    data_dir.mkdir(parents=True, exist_ok=True)
    stamp = data_dir / "init.fingerprint"
    fingerprint = _init_fingerprint(ctx, component)
    initialised = (data_dir / "terraform.tfstate").exists() and stamp.exists()
    if not force and initialised and stamp.read_text() == fingerprint:
        return None
    report("init")
    stamp.unlink(missing_ok=True)
    root = ctx.root_dir(component)
    with terraform.provider_install_lock(root):
        # -reconfigure: state is remote, so a changed endpoint (fresh sandbox) never needs
        # migration.
        result = terraform.run(
            ["init", "-input=false", "-no-color", "-reconfigure",
             f"-backend-config={ctx.backend_file(component)}"],
            cwd=root, env=ctx.terraform_env(component), log=ctx.log_file(component))
    stamp.write_text(fingerprint)
    return result


def plan(ctx: TargetContext, component: Component, report: Report = no_report) -> Outcome:
    """Init, plan to a saved file, and write the plan's JSON, summary and metadata beside it."""
    init(ctx, component, report)
    report("plan")
    out = plan_dir(ctx.env.name, component)
    if out.exists():
        shutil.rmtree(out)  # a failed plan must not leave an older plan looking current
    out.mkdir(parents=True)
    binary = out / "tfplan"
    env, cwd, log = ctx.terraform_env(component), ctx.root_dir(component), ctx.log_file(component)
    terraform.run(["plan", "-input=false", "-no-color", "-lock-timeout=60s",
                   "-detailed-exitcode", f"-out={binary}", *ctx.var_args()],
                  cwd=cwd, env=env, log=log, ok_codes=(0, 2))
    report("show")
    shown = terraform.run(["show", "-json", "-no-color", str(binary)], cwd=cwd, env=env)
    (out / "plan.json").write_text(shown.stdout)
    summary = summarise(json.loads(shown.stdout))
    heading = f"{component.name} in {ctx.env.name} ({ctx.target})"
    (out / "summary.txt").write_text(summary.text(heading))
    (out / "meta.json").write_text(json.dumps({
        "target": ctx.target, "env": ctx.env.name, "component": component.name,
        "created_at": time.time(), "add": summary.add, "change": summary.change,
        "destroy": summary.destroy}, indent=2))
    return Outcome(summary=summary)


def saved_plan(env_name: str, target: str, component: Component) -> tuple[Path, PlanSummary]:
    """The plan `invoke plan` saved for this env and component, checked to fit the target."""
    out = plan_dir(env_name, component)
    try:
        meta = json.loads((out / "meta.json").read_text())
        plan_json = json.loads((out / "plan.json").read_text())
    except (FileNotFoundError, ValueError):
        raise UserError(f"No saved plan for {component.name} in {env_name}; run: invoke plan "
                        f"--env {env_name} --component {component.name} "
                        f"--target {target}") from None
    if meta.get("target") != target:
        raise UserError(f"The saved plan for {component.name} in {env_name} was made for "
                        f"--target {meta.get('target')}, not {target}; plan again.")
    return out / "tfplan", summarise(plan_json)


def apply(ctx: TargetContext, component: Component, report: Report = no_report) -> Outcome:
    """Apply exactly the saved plan (Terraform refuses it if the state moved since)."""
    binary, summary = saved_plan(ctx.env.name, ctx.target, component)
    init(ctx, component, report)
    report("apply")
    terraform.run(["apply", "-input=false", "-no-color", "-lock-timeout=60s", str(binary)],
                  cwd=ctx.root_dir(component), env=ctx.terraform_env(component),
                  log=ctx.log_file(component))
    # A plan is single-use: once applied, keeping it around would only invite a stale re-apply.
    shutil.rmtree(binary.parent)
    return Outcome(summary=summary, note="applied")


def _state(ctx: TargetContext, component: Component, *args: str) -> terraform.Result:
    init(ctx, component)
    return terraform.run(["state", *args], cwd=ctx.root_dir(component),
                         env=ctx.terraform_env(component), log=ctx.log_file(component))


def state_list(ctx: TargetContext, component: Component) -> list[str]:
    """Resource addresses in the component's remote state."""
    return _state(ctx, component, "list", "-no-color").stdout.split()


def state_pull(ctx: TargetContext, component: Component) -> dict:
    """The component's current remote state document."""
    return json.loads(_state(ctx, component, "pull").stdout)


def state_push(ctx: TargetContext, component: Component, state_file: Path) -> None:
    """Replace the remote state with state_file (Terraform checks lineage and serial)."""
    _state(ctx, component, "push", "-lock-timeout=60s", str(state_file))


def force_unlock(ctx: TargetContext, component: Component, lock_id: str) -> None:
    """Release a state lock a killed run left behind (Terraform checks the id matches)."""
    init(ctx, component)
    terraform.run(["force-unlock", "-force", "-no-color", lock_id], cwd=ctx.root_dir(component),
                  env=ctx.terraform_env(component), log=ctx.log_file(component))
