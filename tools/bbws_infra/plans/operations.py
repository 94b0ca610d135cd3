"""Terraform operations on one component: init, plan (saved as a bundle for review), apply of a
saved plan, and state commands. Each runs init (when needed) and its commands in one Terraform
process attached to one provider process (engine.provider_process), so a plan and its
`show -json`, or an apply and its verification plan, share one provider start."""

from __future__ import annotations

import contextlib
import dataclasses
import getpass
import json
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from bbws_infra.core.errors import OperationError
from bbws_infra.core.paths import file_lock, files_digest, work_dir
from bbws_infra.core.registry import Component
from bbws_infra.core.untyped import JsonObject
from bbws_infra.engine import interrupts, provider_process, terraform, timings
from bbws_infra.plans import bundle, plan_guard
from bbws_infra.plans.plan_summary import PlanSummary, summarise
from bbws_infra.targets import provider_configurations
from bbws_infra.targets.targets import LOCK_FILE, TargetContext

Report = Callable[[str], None]


def no_report(_: str) -> None:
    pass


@dataclass
class Outcome:
    """What a component run produced, for the summary table."""

    summary: PlanSummary | None = None
    note: str = ""


def _init_fingerprint(ctx: TargetContext, component: Component) -> str:
    """Everything init depends on: backend settings, CLI configuration, engine, the lock file
    and every Terraform file (a new module call or provider requirement needs a new init)."""
    candidates = [*ctx.stage_dir.rglob("*.tf"), ctx.root_dir(component) / LOCK_FILE]
    return files_digest(sorted(p for p in candidates if p.exists()), ctx.stage_dir,
                        ctx.backend_file(component).read_bytes(),
                        terraform.engine_identity(ctx.process_env))


class _InitStep:
    """The init a component needs before its next command, or none when nothing it depends on
    changed since the last successful one (saves about a second per component).

    An init run with the provider attached (provider_process) leaves the provider uninstalled
    in the component's data directory: it serves only batches that attach it too, and a batch
    that cannot (the cached binary is not the lock file's package, the per-command switch)
    initialises again, so Terraform installs and checks the provider itself."""

    def __init__(self, ctx: TargetContext, component: Component, force: bool,
                 attached: bool) -> None:
        data_dir = ctx.data_dir(component)
        data_dir.mkdir(parents=True, exist_ok=True)
        self.stamp = data_dir / "init.fingerprint"
        self.fingerprint = _init_fingerprint(ctx, component)
        self.mode = "attached" if attached else "installed"
        initialised = (data_dir / "terraform.tfstate").exists() and self.stamp.exists()
        fingerprint, _, mode = (self.stamp.read_text() if initialised else "").partition("\n")
        self.needed = force or not initialised or fingerprint != self.fingerprint \
            or (mode == "attached" and not attached)
        if self.needed:
            self.stamp.unlink(missing_ok=True)
        # -reconfigure: state is remote, so a changed endpoint (fresh sandbox) never needs
        # migration. -lockfile=readonly: install exactly the locked provider, checked by hash.
        self.commands = [terraform.Command([
            "init", "-input=false", "-no-color", "-reconfigure", "-lockfile=readonly",
            f"-backend-config={ctx.backend_file(component)}"])] if self.needed else []

    def done(self) -> None:
        if self.needed:
            self.stamp.write_text(f"{self.fingerprint}\n{self.mode}")


def _run(ctx: TargetContext, component: Component, commands: list[terraform.Command],
         report: Report = no_report, force_init: bool = False) -> list[terraform.Result]:
    """Init when needed, then commands, in one Terraform process; the commands' results."""
    # One Terraform run per component at a time in this work directory (the component's
    # Terraform data is shared by every command): a state lock that appears while we hold this
    # can only be our own run's, and whether init is needed is decided by whoever runs next.
    with file_lock(work_dir() / "locks" / ctx.target / ctx.env.name / component.name):
        with timings.timed("provider check", component.name):
            provider = _shared_provider(ctx, component, commands)
            if provider is not None:
                commands = _gates_after_one_configuration(commands)
        with timings.timed("init check", component.name):
            step = _InitStep(ctx, component, force_init, attached=provider is not None)
        batch = step.commands + commands
        if not batch:
            return []
        installing = (terraform.provider_install_lock() if step.needed and provider is None
                      else contextlib.nullcontext())
        with installing:
            started = time.time()
            try:
                results = _batch(ctx, component, batch, report, provider)
            except terraform.TerraformError as error:
                if not _release_own_stale_lock(ctx, component, error, started, provider):
                    raise
                results = _batch(ctx, component, batch, report, provider)
        step.done()
    results = results[len(step.commands):]
    if provider is not None:
        for command, result in zip(commands, results, strict=False):
            _one_configuration(command, result)
    return results


def _shared_provider(ctx: TargetContext, component: Component,
                     commands: list[terraform.Command]) -> JsonObject | None:
    """The one provider process the batch's commands attach to, or None: a root using a second
    configuration of the provider (the DR region's) needs a process for each."""
    root = ctx.root_dir(component)
    if provider_configurations.used(root) != {provider_configurations.DEFAULT}:
        return None
    return provider_process.spec(root, ctx.terraform_env(component), [c.args for c in commands])


def _shows_plan(command: terraform.Command) -> bool:
    return command.args[:2] == ["show", "-json"]


def _one_configuration(command: terraform.Command, result: terraform.Result) -> None:
    """What a plan shown by a batch with a shared provider uses: one configuration, or the
    process answered for two (a second region's requests reached the first's) and the plan
    is refused before anything saves or applies it."""
    if not _shows_plan(command) or result.returncode != 0:
        return
    used = provider_configurations.used_by_plan(json.loads(result.stdout))
    if len(used) > 1:
        raise OperationError(
            f"The plan uses {len(used)} configurations of the AWS provider "
            f"({', '.join(sorted(used))}) but ran with one shared provider process; nothing "
            "was saved or applied. Run it again with BBWS_PROVIDER_PROCESS=per-command and "
            "report the root: it was read as using one.")


def _gates_after_one_configuration(commands: list[terraform.Command]
                                   ) -> list[terraform.Command]:
    """The commands, each gate that follows a shown plan (the apply's) first checking it."""
    checked: list[terraform.Command] = []
    for index, command in enumerate(commands):
        gate, shown = command.gate, commands[index - 1] if index else None
        if gate is not None and shown is not None and _shows_plan(shown):
            def gate_after(results: list[terraform.Result],
                           gate: Callable[[list[terraform.Result]], None] = gate,
                           shown: terraform.Command = shown) -> None:
                _one_configuration(shown, results[-1])
                gate(results)
            command = dataclasses.replace(command, gate=gate_after)
        checked.append(command)
    return checked


def _batch(ctx: TargetContext, component: Component, batch: list[terraform.Command],
           report: Report, provider: JsonObject | None = None) -> list[terraform.Result]:
    return terraform.run_batch(batch, cwd=ctx.root_dir(component),
                               env=ctx.terraform_env(component), log=ctx.log_file(component),
                               on_stage=report, provider=provider)


def _release_own_stale_lock(ctx: TargetContext, component: Component,
                            error: terraform.TerraformError, started: float,
                            provider: JsonObject | None) -> bool:
    """Where the target allows it (the sandbox), release a state lock our own run left when
    its lock request was retried after the emulator had already granted it (Terraform then
    waits on itself until -lock-timeout): created after this run began, by this user and
    host, while no other run of ours could touch this component. Whether it did."""
    from bbws_infra.state import doctor

    if not ctx.recover_own_locks or "Error acquiring the state lock" not in error.details:
        return False
    held = doctor.lock_info(ctx.live_session, ctx.env, component)
    ours = f"{getpass.getuser()}@{socket.gethostname()}"
    if held is None or held.age_s is None or held.who != ours \
            or held.age_s > time.time() - started + 1:
        return False
    _tolerating_half_locks(ctx, component, lambda: _batch(
        ctx, component, [terraform.Command(["force-unlock", "-force", "-no-color", held.id])],
        no_report, provider))
    return True


def _tolerating_half_locks(ctx: TargetContext, component: Component,
                           unlock: Callable[[], object]) -> None:
    """Run a force-unlock. Both locks are configured (the lock object and the lock table's
    item); a run that died between taking the one and the other, or one with other lock
    settings, left only one: Terraform then releases that one and still fails on the missing
    one. The lock counts as released when neither holds it any more."""
    from bbws_infra.state import state_backend

    try:
        unlock()
    except (terraform.TerraformInterrupted, terraform.TerraformKilled):
        raise
    except terraform.TerraformError:
        if ctx.session is None or state_backend.read_lock(
                ctx.session, ctx.env, component.state_key) is not None:
            raise


def init(ctx: TargetContext, component: Component, report: Report = no_report,
         force: bool = False) -> None:
    """terraform init, skipped when nothing it depends on changed since the last one."""
    _run(ctx, component, [], report, force_init=force)


def plan(ctx: TargetContext, component: Component, report: Report = no_report,
         directory: Path | None = None) -> Outcome:
    """Init, plan to a saved file, and write the bundle (plan, JSON, summaries, record), into
    the component's bundle folder or `directory` (a dry run's, which no apply takes)."""
    inputs = bundle.inputs_fingerprint(ctx.env, component, ctx.extra_vars, ctx.source)
    commit, dirty = bundle.git_state(ctx.source)
    with bundle.BundleWriter(ctx.target, ctx.env.name, component, directory) as writer:
        binary = writer.path(bundle.PLAN_FILE)
        _, shown = _run(ctx, component, [
            terraform.Command(["plan", "-input=false", "-no-color", "-lock-timeout=60s",
                               "-detailed-exitcode", f"-out={binary}", *ctx.var_args()],
                              ok_codes=(0, 2)),
            terraform.Command(["show", "-json", "-no-color", str(binary)], log=False),
        ], report)
        with timings.timed("bundle", component.name):
            summary = _write_bundle(ctx, component, writer, shown.stdout, inputs, commit, dirty)
        if interrupts.requested():  # Ctrl-C came while Terraform finished: no new bundle
            raise terraform.TerraformInterrupted("the plan was interrupted.")
        writer.commit()
    return Outcome(summary=summary)


def _write_bundle(ctx: TargetContext, component: Component, writer: bundle.BundleWriter,
                  shown: str, inputs: str, commit: str, dirty: bool) -> PlanSummary:
    """The bundle's files beside its plan file: JSON, summaries and the record; the summary."""
    binary = writer.path(bundle.PLAN_FILE)
    plan_json = json.loads(shown)
    writer.path(bundle.PLAN_JSON).write_text(shown)
    summary = summarise(plan_json)
    protected = plan_guard.protected_removals(ctx.env, summary)
    heading = f"{component.name} in {ctx.env.name} ({ctx.target})"
    writer.path(bundle.SUMMARY_TEXT).write_text(summary.text(heading, protected))
    writer.path(bundle.SUMMARY_MARKDOWN).write_text(summary.markdown(heading, protected))
    lineage, serial = bundle.plan_state_snapshot(binary)
    lock_file = ctx.root_dir(component) / LOCK_FILE
    record = bundle.BundleRecord(
        target=ctx.target, env=ctx.env.name, component=component.name,
        commit=commit, dirty=dirty,
        plan_sha256=bundle.sha256_file(binary),
        plan_json_sha256=bundle.sha256_file(writer.path(bundle.PLAN_JSON)),
        summary_text_sha256=bundle.sha256_file(writer.path(bundle.SUMMARY_TEXT)),
        summary_markdown_sha256=bundle.sha256_file(writer.path(bundle.SUMMARY_MARKDOWN)),
        state_lineage=lineage, state_serial=serial,
        terraform_version=plan_json.get("terraform_version", ""),
        provider_versions=bundle.provider_versions(binary),
        lock_file_sha256=bundle.sha256_file(lock_file) if lock_file.exists() else "",
        inputs_sha256=inputs, who=bundle.who(), created_at=bundle.now_iso(),
        created_epoch=time.time(), add=summary.add, change=summary.change,
        destroy=summary.destroy, protected_removals=protected)
    writer.path(bundle.RECORD).write_text(record.to_json())
    return summary


def _speculative(ctx: TargetContext, binary: Path, refresh_only: bool
                 ) -> list[terraform.Command]:
    mode = ["-refresh-only"] if refresh_only else []
    label = "refresh-only plan" if refresh_only else "verification plan"
    return [terraform.Command(["plan", *mode, "-input=false", "-no-color", "-lock=false",
                               "-detailed-exitcode", f"-out={binary}", *ctx.var_args()],
                              ok_codes=(0, 2), label=label),
            terraform.Command(["show", "-json", "-no-color", str(binary)], log=False,
                              label=f"{label} show")]


@contextlib.contextmanager
def _scratch_plan_file() -> Iterator[Path]:
    scratch = work_dir() / "tmp"
    scratch.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=scratch) as folder:
        yield Path(folder) / "check.tfplan"


def speculative_plan(ctx: TargetContext, component: Component, refresh_only: bool = False,
                     report: Report = no_report) -> JsonObject:
    """A plan that changes nothing and is never a bundle (verification and drift): no state
    lock, no saved plan left behind; the plan JSON."""
    with _scratch_plan_file() as binary:
        _, shown = _run(ctx, component, _speculative(ctx, binary, refresh_only), report)
        return cast(JsonObject, json.loads(shown.stdout))


def apply_saved_plan(ctx: TargetContext, component: Component, plan_file: Path,
                     check: Callable[[JsonObject], None], report: Report = no_report,
                     then_plan: bool = False) -> JsonObject | None:
    """Apply exactly this saved plan (Terraform also refuses it if the state moved), after
    check(plan JSON) passed on the JSON of this very file, shown by the Terraform process that
    then applies it: what the guards read is what is applied, whatever the bundle says. With
    then_plan, a speculative plan follows in the same process (one start fewer for the
    verification); its JSON is returned."""

    def gate(results: list[terraform.Result]) -> None:
        with timings.timed("apply guard", component.name):
            check(json.loads(results[-1].stdout))

    commands = [terraform.Command(["show", "-json", "-no-color", str(plan_file)], log=False,
                                  label="show before apply"),
                terraform.Command(["apply", "-input=false", "-no-color", "-lock-timeout=60s",
                                   str(plan_file)], gate=gate)]
    if not then_plan:
        _run(ctx, component, commands, report)
        return None
    with _scratch_plan_file() as binary:
        *_, shown = _run(ctx, component, [*commands, *_speculative(ctx, binary, False)],
                         report)
        return cast(JsonObject, json.loads(shown.stdout))


def _state(ctx: TargetContext, component: Component, *args: str) -> terraform.Result:
    (result,) = _run(ctx, component, [terraform.Command(["state", *args])])
    return result


def state_list(ctx: TargetContext, component: Component) -> list[str]:
    """Resource addresses in the component's remote state."""
    return _state(ctx, component, "list", "-no-color").stdout.split()


def state_pull(ctx: TargetContext, component: Component) -> JsonObject:
    """The component's current remote state document."""
    return cast(JsonObject, json.loads(_state(ctx, component, "pull").stdout))


def state_push(ctx: TargetContext, component: Component, state_file: Path) -> None:
    """Replace the remote state with state_file (Terraform checks lineage and serial)."""
    _state(ctx, component, "push", "-lock-timeout=60s", str(state_file))


def force_unlock(ctx: TargetContext, component: Component, lock_id: str) -> None:
    """Release a state lock a killed run left behind (Terraform checks the id matches)."""
    _tolerating_half_locks(ctx, component, lambda: _run(
        ctx, component, [terraform.Command(["force-unlock", "-force", "-no-color", lock_id])]))
