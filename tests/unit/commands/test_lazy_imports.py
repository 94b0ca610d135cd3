"""The CLI's start-up: importing tasks.py loads no command module and none of what they import
(boto3, the deploy path, the migrations); a task's module loads on its first use."""

from __future__ import annotations

import subprocess
import sys
import types

from bbws_infra.commands import lazy
from bbws_infra.core.paths import REPO_ROOT

HEAVY = ("boto3", "bbws_infra.release.deploy", "bbws_infra.migrations.runner",
         "bbws_infra.commands.common", "bbws_infra.commands.terraform")


def _loaded_after(code: str) -> set[str]:
    """The HEAVY modules loaded after running code in a fresh interpreter (a lazy module not
    used yet is in sys.modules, but its code has not run)."""
    probe = (f"{code}\nimport sys\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules "
             "and type(sys.modules[m]).__name__ != '_LazyModule'))")
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True,
                          text=True, check=True)
    return set(done.stdout.split())


def test_importing_tasks_loads_no_command_module() -> None:
    assert _loaded_after("import tasks") == set()


def test_a_task_loads_its_command_module_on_first_use() -> None:
    loaded = _loaded_after("import tasks\ntasks.terraform.plan")
    assert {"bbws_infra.commands.common", "bbws_infra.commands.terraform"} <= loaded
    # the plan task needs neither the deploy path nor the migrations
    assert "bbws_infra.release.deploy" not in loaded
    assert "bbws_infra.migrations.runner" not in loaded


def test_an_already_imported_module_is_returned_as_it_is() -> None:
    assert lazy.lazy_module("json") is sys.modules["json"]
    (found,) = lazy.modules("bbws_infra.commands", "lazy")
    assert found is lazy and isinstance(found, types.ModuleType)
