"""The migrations of each table: migrations/<component>/<NNNN>_<name>.py, loaded and checked
before anything reads a table. A broken file is bad input: one sentence naming it, exit 2.

A migration module declares (see migrations/README.md):

    ID = "0001_backfill_active_partition"   # its file name without .py
    DESCRIPTION = "..."                     # one sentence
    NEEDS_INDEX = "TenantActiveIndex"       # optional: runs once the table has it ACTIVE
    NEEDS_ATTRIBUTE = "activePartition"     # optional: the schema must define it
    SCAN_FILTER = ScanFilter(...)           # optional: which items the scan returns
    SELECT = lambda item: ...               # optional: a pure predicate over one item
    def change(item): ...                   # pure: the new item, or None to leave it
"""

from __future__ import annotations

import importlib.util
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from bbws_infra.core.errors import UserError
from bbws_infra.core.paths import REPO_ROOT
from bbws_infra.core.registry import COMPONENTS, Component
from bbws_infra.core.untyped import Json, JsonObject
from bbws_infra.inputs import schemas

MIGRATIONS_DIR = "migrations"
FILE_NAME = re.compile(r"^(?P<number>[0-9]{4})_(?P<name>[a-z0-9_]+)\.py$")

Item = JsonObject  # one table item, as Python values (str, Decimal, bool, dict, list, set)
Change = Callable[[Item], Item | None]
Select = Callable[[Item], bool]


@dataclass(frozen=True)
class ScanFilter:
    """A scan's FilterExpression with its placeholders; values are plain Python values (the
    engine turns them into DynamoDB's typed form)."""

    expression: str
    names: dict[str, str] = field(default_factory=dict)
    values: dict[str, Json] = field(default_factory=dict)


@dataclass(frozen=True)
class Migration:
    component: str
    id: str
    description: str
    change: Change
    path: Path
    needs_index: str | None = None
    needs_attribute: str | None = None
    scan_filter: ScanFilter | None = None
    select: Select | None = None

    @property
    def number(self) -> int:
        return int(self.id[:4])


def migration_dir(component: Component, repo_root: Path = REPO_ROOT) -> Path:
    return repo_root / MIGRATIONS_DIR / component.name


def _load_module(path: Path, repo_root: Path) -> ModuleType:
    relative = path.relative_to(repo_root).as_posix()
    name = "bbws_migration_" + re.sub(r"[^A-Za-z0-9_]", "_", relative.removesuffix(".py"))
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise UserError(f"{relative} cannot be loaded as a Python module.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as error:  # a migration file that does not even load: name it
        sys.modules.pop(name, None)
        raise UserError(f"{relative} does not load: {type(error).__name__}: {error}") from None
    return module


def _optional_str(module: ModuleType, name: str, relative: str) -> str | None:
    value = getattr(module, name, None)
    if value is not None and (not isinstance(value, str) or not value):
        raise UserError(f"{relative}: {name} must be a non-empty string when set.")
    return value


def load(path: Path, component: Component, repo_root: Path = REPO_ROOT) -> Migration:
    """One migration file, checked: its ID is its file name, it has a description and a
    callable change, and what it needs exists in the component's schema."""
    relative = path.relative_to(repo_root).as_posix()
    if not FILE_NAME.match(path.name):
        raise UserError(f"{relative}: a migration file is named <NNNN>_<name>.py (four digits, "
                        "then lower-case letters, digits and underscores).")
    module = _load_module(path, repo_root)
    declared = getattr(module, "ID", None)
    if declared != path.stem:
        raise UserError(f"{relative}: ID is {declared!r}; it must be the file's name without "
                        f".py ({path.stem!r}).")
    description = _optional_str(module, "DESCRIPTION", relative)
    if not description:
        raise UserError(f"{relative}: DESCRIPTION (one sentence) is missing.")
    change = getattr(module, "change", None)
    select = getattr(module, "SELECT", None)
    scan_filter = getattr(module, "SCAN_FILTER", None)
    if not callable(change):
        raise UserError(f"{relative}: change(item) -> item | None is missing.")
    if select is not None and not callable(select):
        raise UserError(f"{relative}: SELECT must be a function of one item returning a bool.")
    if scan_filter is not None and not isinstance(scan_filter, ScanFilter):
        raise UserError(f"{relative}: SCAN_FILTER must be a bbws_infra.migrations.catalog."
                        "ScanFilter.")
    migration = Migration(
        component=component.name, id=path.stem, description=description, change=change,
        path=path, needs_index=_optional_str(module, "NEEDS_INDEX", relative),
        needs_attribute=_optional_str(module, "NEEDS_ATTRIBUTE", relative),
        scan_filter=scan_filter, select=select)
    _check_needs(migration, component, repo_root, relative)
    return migration


def _check_needs(migration: Migration, component: Component, repo_root: Path,
                 relative: str) -> None:
    if migration.needs_index is None and migration.needs_attribute is None:
        return
    definition = schemas.load_table_definition(schemas.schema_file(component, repo_root))
    if migration.needs_index and migration.needs_index not in {g.name for g in definition.gsis}:
        raise UserError(f"{relative}: NEEDS_INDEX {migration.needs_index!r} is no index of "
                        f"{component.name}'s schema ({', '.join(g.name for g in definition.gsis)}"
                        ").")
    if migration.needs_attribute and \
            migration.needs_attribute not in definition.schema.get("properties", {}):
        raise UserError(f"{relative}: NEEDS_ATTRIBUTE {migration.needs_attribute!r} is not "
                        f"defined in {component.name}'s schema.")


def discover(components: list[Component], repo_root: Path = REPO_ROOT
             ) -> dict[str, list[Migration]]:
    """Every migration of each table component, in id order (a component without a folder has
    none). A folder under migrations/ that is no table, or two files with one number, are bad
    input."""
    base = repo_root / MIGRATIONS_DIR
    tables = {name for name, c in COMPONENTS.items() if c.kind == "dynamodb"}
    strays = sorted(p.name for p in base.glob("*/") if p.is_dir()
                    and not p.name.startswith((".", "_")) and p.name not in tables)
    if strays:
        raise UserError(f"{MIGRATIONS_DIR}/{strays[0]}/ is no table component; migrations live "
                        f"under {MIGRATIONS_DIR}/<component>/ for one of: "
                        f"{', '.join(sorted(tables))}.")
    found: dict[str, list[Migration]] = {}
    for component in components:
        if component.kind != "dynamodb":
            continue
        files = sorted(p for p in migration_dir(component, repo_root).glob("*.py")
                       if not p.name.startswith("_"))
        loaded = [load(path, component, repo_root) for path in files]
        numbers: dict[int, str] = {}
        for migration in loaded:
            if migration.number in numbers:
                raise UserError(f"{MIGRATIONS_DIR}/{component.name}: {migration.id} and "
                                f"{numbers[migration.number]} share the number "
                                f"{migration.id[:4]}; renumber one.")
            numbers[migration.number] = migration.id
        found[component.name] = sorted(loaded, key=lambda m: m.id)
    return found
