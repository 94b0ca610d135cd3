"""Command modules loaded when a task first uses them, not when tasks.py is imported: every
invoke call imports tasks.py, and most run one task, which needs one command module (and
what it imports: boto3, the deploy path, the migrations) of the many."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def lazy_module(name: str) -> ModuleType:
    """The module `name`, whose code runs on its first attribute access (at once when it is
    already imported)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, module)
    return module


def modules(package: str, *names: str) -> tuple[ModuleType, ...]:
    """lazy_module of each package.name, in order."""
    return tuple(lazy_module(f"{package}.{name}") for name in names)
