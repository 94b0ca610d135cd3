"""bbws_infra.core.process_end: our processes freeze what is alive at exit, so the interpreter's
final collections pass over it, and every exit handler and the output still come out.

Each case runs in a process of its own: an exit handler registered first (so it runs last)
reports whether the objects were frozen by then.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from bbws_infra.core.registry import REPO_ROOT

# Registered before anything else: atexit runs handlers last-in first-out, so this one sees the
# process as the interpreter's final collections will.
_REPORT = ("import atexit, gc, sys\n"
           "atexit.register(lambda: print('frozen at exit:', gc.get_freeze_count() > 0))\n")


def _run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", _REPORT + code], capture_output=True,
                          text=True, cwd=REPO_ROOT, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_without_it_nothing_is_frozen():
    assert _run("pass").splitlines() == ["frozen at exit: False"]


def test_live_objects_are_frozen_after_the_other_exit_handlers_ran():
    out = _run("from bbws_infra.core import process_end\n"
               "process_end.skip_final_collections()\n"
               "atexit.register(lambda: print('a later handler ran'))\n"
               "cycle = []; cycle.append(cycle)\n"
               "sys.stdout.write('unflushed output')\n")
    assert out == "unflushed outputa later handler ran\nfrozen at exit: True\n"


@pytest.mark.parametrize("entry", [
    "import tasks",  # every `invoke` command
    "import runpy; runpy.run_module('bbws_infra.engine.tf_worker', run_name='__main__')",
    "from bbws_infra.targets import sandbox_server\n"
    "sandbox_server.server.main = lambda argv: None\n"  # the extensions, not a server
    "sandbox_server.main([])",
])
def test_every_process_of_ours_skips_them(entry: str):
    code = f"try:\n{textwrap.indent(entry, '    ')}\nexcept SystemExit:\n    pass\n"
    assert _run(code).splitlines()[-1] == "frozen at exit: True"
