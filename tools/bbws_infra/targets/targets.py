"""Where Terraform runs: the sandbox emulator or real AWS, and everything that differs between
them (credentials, backend settings, provider endpoints). Both run the same module settings.

Component roots stay target-neutral: they are staged into the work directory, and only the
staged copy gets the sandbox's provider override. Each command stages into a folder of its own
(never shared, never rewritten while in use), holding only files git vouches for
(source_files.py): no command can change the files another one is planning or applying.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from bbws_infra.core import tfvars
from bbws_infra.core.errors import UserError
from bbws_infra.core.paths import REPO_ROOT, work_dir
from bbws_infra.core.registry import (
    PROMOTION_ORDER,
    TERRAFORM_TREE,
    Component,
    Environment,
    Named,
    provider_aliases,
)
from bbws_infra.core.untyped import Json, JsonObject, Session
from bbws_infra.engine import provider_process, timings
from bbws_infra.engine.terraform import cli_config, plugin_cache_dir
from bbws_infra.targets import sandbox, source_files

OVERRIDE_FILE = "zz_target_override.tf"
DR_OVERRIDE_FILE = "zz_dr_provider_override.tf"
LOCK_FILE = ".terraform.lock.hcl"
GENERATED_FILES = frozenset({OVERRIDE_FILE, DR_OVERRIDE_FILE})


@dataclass
class TargetContext:
    """Everything a Terraform run needs for one (target, environment)."""

    target: str
    env: Environment
    process_env: dict[str, str]
    backend: JsonObject
    provider_override: str | None = None
    extra_vars: list[str] = field(default_factory=list)
    session: Session | None = None
    notes: list[str] = field(default_factory=list)
    # Whether the target still answers (the sandbox emulator can die mid-run).
    alive: Callable[[], bool] = lambda: True
    # The tree whose files are planned: the working tree, or a commit's worktree (promotion).
    source: Path = REPO_ROOT
    # Whether a run may release a state lock it provably left itself (see operations._run);
    # only where nothing outside this work directory can hold a lock: the sandbox.
    recover_own_locks: bool = False
    # This command's own staged copy of the source (set by stage()).
    staged: Path | None = None

    @property
    def live_session(self) -> Session:
        """The session of a context that reaches its target (every target's context has one;
        only a context built by hand, for static checks, has none)."""
        if self.session is None:
            raise RuntimeError("this context reaches no target: it has no AWS session")
        return self.session

    @property
    def stage_dir(self) -> Path:
        if self.staged is None:
            raise RuntimeError("the source was not staged for this command; call stage() first")
        return self.staged

    def root_dir(self, component: Component) -> Path:
        return self.stage_dir / component.root

    def data_dir(self, component: Component) -> Path:
        return work_dir() / "terraform" / "data" / self.target / self.env.name / component.name

    def log_file(self, component: Named) -> Path:
        return work_dir() / "logs" / self.target / self.env.name / f"{component.name}.log"

    def backend_file(self, component: Component) -> Path:
        return self.data_dir(component) / "backend.hcl"

    def terraform_env(self, component: Component) -> dict[str, str]:
        return {**self.process_env, "TF_DATA_DIR": str(self.data_dir(component))}

    def var_args(self) -> list[str]:
        tfvars = self.stage_dir / "envs" / f"{self.env.name}.tfvars"
        return [f"-var-file={tfvars}", *(f"-var={v}" for v in self.extra_vars)]


# Terraform and the AWS provider are short-lived Go processes whose heaps are mostly the
# provider's schema; letting the heap grow to five times the live data between collections
# (Go's default: twice) cut their CPU by about a sixth, for about 100 MB more per process
# (docs/decisions/deploy-speed.md). GOGC set in the caller's environment wins.
GO_GC_PERCENT = "400"


def base_env(offline: bool) -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SSL_CERT_FILE", "HTTPS_PROXY",
            "HTTP_PROXY", "NO_PROXY", "PYTHONPATH", "GOGC")
    env = {"GOGC": GO_GC_PERCENT, **{k: v for k, v in os.environ.items() if k in keep}}
    env.update({
        "CHECKPOINT_DISABLE": "1",
        "TF_IN_AUTOMATION": "1",
        "TF_INPUT": "0",
        "TF_CLI_CONFIG_FILE": str(cli_config(offline=offline)),
        "TF_PLUGIN_CACHE_DIR": str(plugin_cache_dir()),
    })
    return env


def hcl_value(value: Json) -> str:
    """Render a Python value as an HCL literal (strings, bools, numbers, lists, maps)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(hcl_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {hcl_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no HCL literal for {value!r}")


def backend_settings(env: Environment, component: Component) -> JsonObject:
    """The S3 backend settings common to both targets: the environment's state bucket and lock
    table, the component's state key, and encryption on. Both locks (docs/decisions/
    state-locking.md): the lock object `<key>.tflock` beside the state (S3 conditional writes)
    and the lock table's item, so runs with either setting still exclude each other."""
    return {
        "bucket": env.state_bucket,
        "key": component.state_key,
        "region": env.region,
        "dynamodb_table": env.lock_table,
        "use_lockfile": True,
        "encrypt": True,
    }


def sandbox_provider_override(endpoint: str) -> str:
    """Provider settings that point hashicorp/aws 3.39 at the emulator, for every provider
    configuration envs/providers.tf declares."""
    endpoints = "\n".join(f"    {service} = {json.dumps(endpoint)}" for service in sandbox.SERVICES)
    blocks = []
    for alias in provider_aliases():
        alias_line = f'  alias = "{alias}"\n' if alias else ""
        blocks.append(
            f'provider "aws" {{\n{alias_line}'
            "  skip_credentials_validation = true\n"
            "  skip_metadata_api_check     = true\n"
            # Without this each plan spends 20-40 s retrying an EC2 endpoint.
            "  skip_get_ec2_platforms      = true\n"
            "  s3_force_path_style         = true\n"
            f"  endpoints {{\n{endpoints}\n  }}\n}}\n")
    return "# Generated for --target sandbox; never committed.\n" + "\n".join(blocks)


# Reader sessions of this process, by the emulator (pid, port) they were made for and env.
_readers: dict[tuple[tuple[int, int] | None, str], Session] = {}


class SandboxTarget:
    """The embedded emulator: started on demand, one IAM key per environment's account."""

    name = "sandbox"
    # None: the emulator runs every module setting AWS gets (bbws_infra.targets.moto_backup adds the
    # AWS Backup operations moto lacks).
    extra_vars: tuple[str, ...] = ()

    def prepare(self, env: Environment) -> TargetContext:
        server, session, created = sandbox.session_for(env)
        process_env = base_env(offline=True)
        process_env.update({
            "AWS_ACCESS_KEY_ID": session.access_key,
            "AWS_SECRET_ACCESS_KEY": session.secret_key,
            "AWS_REGION": env.region,
            "AWS_EC2_METADATA_DISABLED": "true",
            # A user's ~/.aws must not leak real profiles into sandbox runs.
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        })
        backend_extra = {
            "endpoints": {"s3": server.endpoint, "dynamodb": server.endpoint,
                          "iam": server.endpoint, "sts": server.endpoint},
            "use_path_style": True,
            "skip_credentials_validation": True,
            "skip_metadata_api_check": True,
            "skip_requesting_account_id": True,
        }
        return TargetContext(
            target=self.name, env=env, process_env=process_env, backend=backend_extra,
            provider_override=sandbox_provider_override(server.endpoint),
            extra_vars=list(self.extra_vars), session=session,
            notes=[f"sandbox: created {c}" for c in created],
            alive=lambda: sandbox.is_alive(server), recover_own_locks=True)

    def reader_session(self, env: Environment) -> Session:
        """A session that reads another environment's ledger: its own sandbox account. Made
        once per process and emulator (a promotion asks for one per component and check;
        each new one would check the emulator and the state backend again)."""
        key = (sandbox.recorded_server(), env.name)
        found = _readers.get(key)
        if found is None or key[0] is None:
            _, found, _ = sandbox.session_for(env)
            _readers[(sandbox.recorded_server(), env.name)] = found
        return found


class AwsTarget:
    """Real AWS through the standard credential chain, proven to be the env's account."""

    name = "aws"
    extra_vars: tuple[str, ...] = ()

    def prepare(self, env: Environment) -> TargetContext:
        from botocore.exceptions import ClientError

        session = aws_session(env)
        try:
            session.client("s3").head_bucket(Bucket=env.state_bucket)
        except ClientError:
            raise UserError(f"State bucket {env.state_bucket} does not exist or is not yours; "
                            f"run: invoke bootstrap --env {env.name} --target aws") from None
        process_env = base_env(offline=False)
        process_env.update({k: v for k, v in os.environ.items() if k.startswith("AWS_")})
        return TargetContext(target=self.name, env=env, process_env=process_env,
                             backend={"allowed_account_ids": [env.account_id]}, session=session)

    def reader_session(self, env: Environment) -> Session:
        """A session that reads another environment's ledger: the same credentials, which
        that state bucket's policy lets read ledger/ (docs/release.md)."""
        import boto3

        session: Session = boto3.Session(region_name=env.region)
        return session


TARGET_IMPLEMENTATIONS = {t.name: t for t in (SandboxTarget(), AwsTarget())}


def prepare(target: str, env: Environment, source: Path = REPO_ROOT) -> TargetContext:
    """Resolve credentials and make sure the state backend exists; refuse on a wrong account.
    `source` is the tree to plan (a commit's worktree when promoting)."""
    # Terraform runs next for every caller but `invoke migrate` (which then hashes for nothing,
    # on the other core): the shared provider's package is checked against the lock files by
    # its hash, taken meanwhile (engine.provider_process)
    provider_process.prehash_meanwhile(plugin_cache_dir())
    with timings.timed("target set-up"):
        ctx = TARGET_IMPLEMENTATIONS[target].prepare(env)
    ctx.source = source
    return ctx


def reader_session(target: str, env: Environment) -> Session:
    """A read-only way into another environment's state bucket (its ledger)."""
    return TARGET_IMPLEMENTATIONS[target].reader_session(env)


def aws_session(env: Environment) -> Session:
    """A boto3 session from the standard chain, proven to belong to the env's account."""
    import boto3
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        NoCredentialsError,
        ProfileNotFound,
    )

    try:
        session: Session = boto3.Session(region_name=env.region)
        identity = session.client("sts").get_caller_identity()
    except NoCredentialsError:
        raise UserError("--target aws needs AWS credentials (a profile, SSO login or the "
                        "GitHub OIDC role) and none were found; nothing was run.") from None
    except ProfileNotFound as error:
        raise UserError(f"--target aws: {error}; nothing was run.") from None
    except (ClientError, BotoCoreError) as error:
        raise UserError(f"--target aws could not confirm who you are ({error}); "
                        "nothing was run.") from None
    if identity["Account"] != env.account_id:
        raise UserError(f"Your AWS credentials belong to account {identity['Account']}, but "
                        f"{env.name} is account {env.account_id}; nothing was run.")
    return session


def sync_tree(source: Path, dest: Path) -> None:
    """Mirror source into dest (symlinks followed), rewriting only changed files."""
    dest.mkdir(parents=True, exist_ok=True)
    wanted = set()
    for item in source.iterdir():
        if (item.name.startswith(".") and item.name != LOCK_FILE) or item.name == "__pycache__":
            continue
        wanted.add(item.name)
        target = dest / item.name
        if item.is_dir():
            if target.is_file():
                target.unlink()
            sync_tree(item, target)
        else:
            data = item.read_bytes()
            if target.is_dir():
                shutil.rmtree(target)
            if not target.exists() or target.read_bytes() != data:
                target.write_bytes(data)
    for extra in dest.iterdir():
        if extra.name not in wanted and extra.name not in GENERATED_FILES:
            if extra.is_dir() and extra.name != ".terraform":
                shutil.rmtree(extra)
            elif extra.is_file():
                extra.unlink()


def stage_tree(dest: Path, repo_root: Path = REPO_ROOT) -> None:
    """Mirror the repository's Terraform tree (roots, modules, envs) into dest."""
    for name in TERRAFORM_TREE:
        sync_tree(repo_root / name, dest / name)


def dr_provider_override(root: Path) -> str | None:
    """Where the environment uses no DR region, hand the primary provider to every module
    that asks for the DR one, so Terraform starts one provider process instead of two (the
    DR resources are all disabled there, so nothing is planned in either region)."""
    blocks = []
    for path in sorted(root.glob("*.tf")):
        if path.name in GENERATED_FILES:
            continue
        for module in tfvars.parse_file(path, root).get("module", []):
            for name, body in module.items():
                providers = body.get("providers") or {}
                if any("aws." in str(key) for key in providers):
                    mapping = ", ".join(
                        f"{str(k).strip('${}')} = aws" for k in providers)
                    blocks.append(f"module {name} {{\n  providers = {{ {mapping} }}\n}}\n")
    if not blocks:
        return None
    return "# Generated: this environment uses no DR region.\n" + "\n".join(blocks)


def _state_uses_dr(ctx: TargetContext, component: Component) -> bool:
    """Whether the component's current state holds resources of a DR provider (DR was on until
    now): then the DR provider must really start, so that switching DR off destroys them in
    the DR region instead of losing them from the state. An unreadable state counts as yes."""
    from bbws_infra.state import state_versions

    if ctx.session is None:  # staged for static checks only: no state to read
        return False
    current = state_versions.current_object(ctx.session, ctx.env, component)
    if current is None:
        return False
    try:
        resources = json.loads(current[0] or b"{}").get("resources", [])
    except (ValueError, AttributeError):
        return True
    aliases = [a for a in provider_aliases(ctx.source) if a]
    return any(str(r.get("provider", "")).endswith(tuple(f".{a}" for a in aliases))
               for r in resources)


# Open lock files of the stage folders this process uses: a shared flock on each, released
# when the process ends, tells every other command the folder is in use.
_stage_locks: list[IO[str]] = []


def _new_stage_folder(ctx: TargetContext) -> Path:
    """A fresh folder for this command under <work>/stage/<target>/<env>/, marked in use, after
    removing the folders no running command uses any more."""
    parent = work_dir() / "stage" / ctx.target / ctx.env.name
    parent.mkdir(parents=True, exist_ok=True)
    _prune_stage_folders(parent)
    while True:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        folder = parent / f"{stamp}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        lock = parent / f"{folder.name}.lock"
        handle = lock.open("w")
        fcntl.flock(handle, fcntl.LOCK_SH)
        # A pruner that took the new lock file before us has removed it: start over.
        if lock.exists() and os.stat(lock).st_ino == os.fstat(handle.fileno()).st_ino:
            break
        handle.close()
    _stage_locks.append(handle)
    folder.mkdir()
    return folder


def _prune_stage_folders(parent: Path) -> None:
    for lock in parent.glob("*.lock"):
        with lock.open("a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a running command stages there
            shutil.rmtree(parent / lock.stem, ignore_errors=True)
            lock.unlink(missing_ok=True)
    for folder in parent.iterdir():  # a folder whose lock was removed by a crash
        if folder.is_dir() and not (parent / f"{folder.name}.lock").exists():
            with contextlib.suppress(OSError):
                shutil.rmtree(folder)


def deployable_files(ctx: TargetContext) -> dict[str, Path]:
    """The source's Terraform tree as git vouches for it (untracked files only in the first
    environment, where a dirty tree may be planned)."""
    return source_files.files(ctx.source, TERRAFORM_TREE,
                              with_untracked=ctx.env.name == PROMOTION_ORDER[0])


def stage(ctx: TargetContext, components: list[Component]) -> None:
    """Copy the source's tracked Terraform tree into a folder of this command's own and add the
    per-target files."""
    with timings.timed("stage"):
        _stage(ctx, components)


def _stage(ctx: TargetContext, components: list[Component]) -> None:
    files = deployable_files(ctx)
    for component in components:
        if f"{component.root}/main.tf" not in files:
            raise UserError(
                f"{component.root}/main.tf is not committed; {ctx.env.name} is planned from "
                "committed files only: commit it; nothing was started."
                if ctx.env.name != PROMOTION_ORDER[0] else
                f"{component.root}/main.tf is ignored by git; only files git tracks or sees "
                f"reach {ctx.env.name}: unignore it; nothing was started.")
    folder = _new_stage_folder(ctx)
    for name, path in files.items():
        dest = folder / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(path.read_bytes())
    ctx.staged = folder
    for component in components:
        root = ctx.root_dir(component)
        _write_or_remove(root / OVERRIDE_FILE, ctx.provider_override)
        dr_off = not ctx.env.uses_dr and not _state_uses_dr(ctx, component)
        _write_or_remove(root / DR_OVERRIDE_FILE, dr_provider_override(root) if dr_off else None)
        settings = {**backend_settings(ctx.env, component), **ctx.backend}
        backend = ctx.backend_file(component)
        backend.parent.mkdir(parents=True, exist_ok=True)
        _write_or_remove(backend, "".join(f"{k} = {hcl_value(v)}\n"
                                          for k, v in settings.items()))


def _write_or_remove(path: Path, text: str | None) -> None:
    """Write only a change, and atomically: another command may be reading the same file (the
    backend settings live beside the component's Terraform data, shared by commands)."""
    if text is None:
        path.unlink(missing_ok=True)
    elif not path.exists() or path.read_text() != text:
        incoming = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
        incoming.write_text(text)
        incoming.replace(path)
