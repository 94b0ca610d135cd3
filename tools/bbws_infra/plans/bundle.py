"""The plan bundle: what a reviewer approves, bound to what gets applied.

`invoke plan` writes, per target, environment and component, under
build/plans/<target>/<env>/<component>/: the binary plan (`tfplan`), its JSON (`plan.json`), a
text and a Markdown summary, and `bundle.json`, which records the commit, whether the tree was
dirty, hashes of the plan and its JSON, the state lineage and serial the plan was made against
(read from the plan file's own state snapshot), Terraform and provider versions, the lock file's
hash, a fingerprint of every input, who and when. A bundle is complete only once bundle.json
exists: it is written last, and removed first when a new plan starts.

Applied bundles move to applied/<timestamp>/ beside it; they are never deleted.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import json
import re
import shutil
import time
import zipfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bbws_infra.core import git, private_folders
from bbws_infra.core.errors import NothingApplied, UserError
from bbws_infra.core.paths import REPO_ROOT, file_lock, files_digest, work_dir
from bbws_infra.core.registry import (
    COMPONENTS,
    EXTRA_INPUT_DIRS,
    MODULES_DIR,
    PROMOTION_ORDER,
    SHARED_DIR,
    TERRAFORM_TREE,
    Component,
    Environment,
)
from bbws_infra.core.untyped import JsonObject

FORMAT = 2  # 2: the summaries are hashed too
PLAN_FILE = "tfplan"
PLAN_JSON = "plan.json"
SUMMARY_TEXT = "summary.txt"
SUMMARY_MARKDOWN = "summary.md"
RECORD = "bundle.json"
APPLIED_DIR = "applied"
DRY_RUN_DIR = "dry-run"
_INCOMING = ".incoming"
APPLY_FOLDER_PREFIX = "bbws-apply-"  # the private copies of plans being applied
# Files of a bundle in the order they are moved into place: the record comes last.
BUNDLE_FILES = (PLAN_FILE, PLAN_JSON, SUMMARY_TEXT, SUMMARY_MARKDOWN, RECORD)


@dataclass
class BundleRecord:
    target: str
    env: str
    component: str
    commit: str
    dirty: bool
    plan_sha256: str
    plan_json_sha256: str
    summary_text_sha256: str
    summary_markdown_sha256: str
    state_lineage: str
    state_serial: int
    terraform_version: str
    provider_versions: dict[str, str]
    lock_file_sha256: str
    inputs_sha256: str
    who: str
    created_at: str  # ISO 8601, UTC
    created_epoch: float
    add: int = 0
    change: int = 0
    destroy: int = 0
    protected_removals: list[str] = field(default_factory=list)
    format: int = FORMAT

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> BundleRecord:
        data = json.loads(text)
        if data.get("format") != FORMAT:
            raise ValueError(f"bundle format {data.get('format')!r}, expected {FORMAT}")
        return cls(**data)

    @property
    def age_s(self) -> float:
        return time.time() - self.created_epoch

    def hashed_files(self) -> dict[str, str]:
        """Each file of the bundle a reviewer reads or Terraform applies -> its sha256."""
        return {PLAN_FILE: self.plan_sha256, PLAN_JSON: self.plan_json_sha256,
                SUMMARY_TEXT: self.summary_text_sha256,
                SUMMARY_MARKDOWN: self.summary_markdown_sha256}


def bundle_dir(target: str, env_name: str, component: Component) -> Path:
    return work_dir() / "plans" / target / env_name / component.name


def dry_run_dir(target: str, env_name: str, component: Component) -> Path:
    """Where a dry run (of a rollback) writes its plan: beside the bundle, never over it, so a
    bundle waiting for review or approval is left as it was."""
    return bundle_dir(target, env_name, component) / DRY_RUN_DIR


def _lock(target: str, env_name: str, component: Component
          ) -> contextlib.AbstractContextManager[None]:
    """Held while a bundle is written, copied for an apply or archived: a plan never replaces
    the files an apply is reading, and an apply archives only the bundle it applied."""
    return file_lock(work_dir() / "locks" / "bundles" / target / env_name / component.name)


class BundleTaken(NothingApplied):
    """The bundle to apply is gone or was replaced since it was checked: nothing was applied."""


@contextlib.contextmanager
def private_copy(target: str, env_name: str, component: Component, plan_sha256: str
                 ) -> Iterator[Path]:
    """The checked plan file, copied into a folder only this user can read (0700, outside the
    work directory) and verified against its hash there: the file Terraform shows and applies
    can no longer be swapped by anyone editing the bundle under the work directory. A killed
    run's copy (it holds the state's values) is removed by the next apply."""
    source = bundle_dir(target, env_name, component) / PLAN_FILE
    with private_folders.private_folder(APPLY_FOLDER_PREFIX) as folder:
        private = folder / PLAN_FILE
        with _lock(target, env_name, component):
            try:
                shutil.copyfile(source, private)
            except FileNotFoundError:
                private.unlink(missing_ok=True)
        if not private.exists() or sha256_file(private) != plan_sha256:
            raise BundleTaken(
                f"The bundle of {component.name} in {env_name} was taken by another apply or "
                f"replaced by a new plan since it was checked; this run applied nothing; see "
                f"invoke history --env {env_name} --component {component.name}.")
        yield private


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --- what the bundle binds to --------------------------------------------------------------


def git_state(repo_root: Path = REPO_ROOT) -> tuple[str, bool]:
    """(HEAD commit, whether the working tree has uncommitted changes); ("", True) outside a
    git checkout, which no sit or prod apply accepts."""
    return git.head_and_dirty(repo_root)


def who() -> str:
    """The GitHub actor in a workflow, otherwise the git identity, otherwise the OS user."""
    return git.who()


def input_files(env: Environment, component: Component, repo_root: Path = REPO_ROOT
                ) -> list[Path]:
    """Every file a component's plan depends on, as git vouches for it (source_files.py): its
    root (Terraform, schema or templates, lock file), the files outside it that it depends on
    (Component.extra_inputs: schemas a root reads, a table's migrations), the modules, the
    shared Terraform files and the env's tfvars."""
    from bbws_infra.targets import source_files

    listed = source_files.files(repo_root, (*TERRAFORM_TREE, *EXTRA_INPUT_DIRS),
                                with_untracked=env.name == PROMOTION_ORDER[0])
    # the shared Terraform (providers, variables, lock file); not the other envs' tfvars, the
    # usage files or the drift allowlist, which no plan reads
    wanted = {name for name in listed
              if name.startswith(f"{SHARED_DIR}/") and name.endswith((".tf", ".hcl"))}
    wanted.add(f"{SHARED_DIR}/{env.name}.tfvars")
    wanted.update(name for name in listed
                  if any(fnmatch.fnmatchcase(name, pattern) for pattern in component.extra_inputs))
    prefixes = (f"{component.root}/", f"{MODULES_DIR}/")
    return sorted(repo_root / name for name in listed
                  if name in wanted or name.startswith(prefixes))


def inputs_fingerprint(env: Environment, component: Component, extra: list[str],
                       repo_root: Path = REPO_ROOT) -> str:
    """sha256 over the input files (path and bytes, symlinks followed) and the target's extra
    variables. Generated files (emulator endpoints) are left out: a new sandbox port must not
    invalidate a reviewed plan."""
    return files_digest(input_files(env, component, repo_root), repo_root,
                        "\0".join(extra).encode())


def plan_state_snapshot(plan_file: Path) -> tuple[str, int]:
    """Lineage and serial of the state the plan was made against, from the plan file itself
    (Terraform stores that snapshot in it; an empty lineage means no state existed yet)."""
    with zipfile.ZipFile(plan_file) as archive:
        state = json.loads(archive.read("tfstate"))
    return state.get("lineage", ""), int(state.get("serial", 0))


def provider_versions(plan_file: Path) -> dict[str, str]:
    """Provider versions from the dependency lock file the plan file carries."""
    with zipfile.ZipFile(plan_file) as archive:
        try:
            text = archive.read(".terraform.lock.hcl").decode()
        except KeyError:
            return {}
    pattern = re.compile(r'provider\s+"([^"]+)"\s*\{[^}]*?version\s*=\s*"([^"]+)"', re.S)
    return dict(pattern.findall(text))


# --- writing and reading -------------------------------------------------------------------


class BundleWriter:
    """Builds a bundle in a hidden folder and moves it into place only when complete; an
    interrupted or failed plan leaves no bundle behind, and never half of one."""

    def __init__(self, target: str, env_name: str, component: Component,
                 directory: Path | None = None) -> None:
        self.final = directory or bundle_dir(target, env_name, component)
        self.incoming = self.final / _INCOMING
        self.lock = _lock(target, env_name, component) if directory is None \
            else contextlib.nullcontext()

    def __enter__(self) -> BundleWriter:
        self.lock.__enter__()
        self.final.mkdir(parents=True, exist_ok=True)
        for name in reversed(BUNDLE_FILES):  # the record first: the old bundle is no more
            (self.final / name).unlink(missing_ok=True)
        shutil.rmtree(self.incoming, ignore_errors=True)
        self.incoming.mkdir()
        return self

    def path(self, name: str) -> Path:
        return self.incoming / name

    def commit(self) -> None:
        for name in BUNDLE_FILES:
            self.path(name).replace(self.final / name)

    def __exit__(self, *exc: object) -> None:
        try:
            shutil.rmtree(self.incoming, ignore_errors=True)
        finally:
            self.lock.__exit__(None, None, None)


def load(target: str, env_name: str, component: Component) -> BundleRecord:
    """The complete bundle saved for this target, env and component, or a UserError naming
    the plan command to run."""
    directory = bundle_dir(target, env_name, component)
    hint = f"invoke plan --env {env_name} --component {component.name} --target {target}"
    try:
        record = BundleRecord.from_json((directory / RECORD).read_text())
    except FileNotFoundError:
        raise UserError(f"No saved plan for {component.name} in {env_name} ({target}); run: "
                        f"{hint}") from None
    except (ValueError, TypeError) as error:
        raise UserError(f"The saved plan record {directory / RECORD} is unreadable ({error}); "
                        f"run: {hint}") from None
    if (record.target, record.env, record.component) != (target, env_name, component.name):
        raise UserError(f"The bundle in {directory} was made for {record.component} in "
                        f"{record.env} ({record.target}), not {component.name} in {env_name} "
                        f"({target}); run: {hint}")
    return record


def saved_components(target: str, env_name: str) -> list[Component]:
    """Every component with a complete bundle (its record) for this target and env."""
    return [c for c in COMPONENTS.values() if (bundle_dir(target, env_name, c) / RECORD).exists()]


def saved_plan_jsons(target: str, env_name: str) -> dict[str, JsonObject]:
    """Component name -> plan JSON of every complete bundle for this target and env."""
    return {c.name: json.loads((bundle_dir(target, env_name, c) / PLAN_JSON).read_text())
            for c in saved_components(target, env_name)}


def archive(target: str, env_name: str, component: Component, plan_sha256: str) -> Path | None:
    """Move the applied bundle to applied/<timestamp>/ so the record of what was applied
    survives and the same plan cannot be applied twice; None, moving nothing, when the bundle
    there now is another one (a new plan written meanwhile stays for its own review)."""
    directory = bundle_dir(target, env_name, component)
    with _lock(target, env_name, component):
        try:
            current = json.loads((directory / RECORD).read_text()).get("plan_sha256")
        except (OSError, ValueError):
            current = None
        if current != plan_sha256:
            return None
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        dest = directory / APPLIED_DIR / stamp
        dest.mkdir(parents=True)
        # The record first: the bundle stops being applicable at once.
        for name in (RECORD, *BUNDLE_FILES[:-1]):
            if (directory / name).exists():
                (directory / name).replace(dest / name)
    return dest


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
