"""bbws_infra.core.private_folders: 0700 folders named after their process; a killed process's
are removed by the next one made, a live process's never."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from bbws_infra.core import private_folders
from bbws_infra.core.registry import COMPONENTS
from bbws_infra.plans import bundle

PREFIX = "bbws-test-"
TENANTS = COMPONENTS["tenants"]


@pytest.fixture(autouse=True)
def own_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)  # read TMPDIR again
    return tmp_path


def test_a_folder_is_private_named_after_its_process_and_removed_after_use(own_tmp: Path):
    with private_folders.private_folder(PREFIX) as folder:
        (folder / "plan").write_bytes(b"state values")
        assert folder.parent == own_tmp and folder.stat().st_mode & 0o777 == 0o700
        assert folder.name.startswith(f"{PREFIX}{os.getpid()}-")
    assert not folder.exists()


def test_a_killed_process_s_folder_is_removed_by_the_next_one(own_tmp: Path):
    # a real process makes one and is killed before it can remove it
    code = (f"from bbws_infra.core import private_folders; import os, time; "
            f"f = private_folders.make({PREFIX!r}); (f / 'plan').write_text('x'); "
            f"print(f, flush=True); time.sleep(60)")
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "TMPDIR": str(own_tmp)})
    assert child.stdout is not None
    litter = Path(child.stdout.readline().strip())
    alive_other = own_tmp / f"{PREFIX}{os.getppid()}-kept"  # a live process's: kept
    other_prefix = own_tmp / f"bbws-other-{child.pid}-kept"  # another prefix's: not ours
    alive_other.mkdir()
    other_prefix.mkdir()

    private_folders.sweep(PREFIX)
    assert litter.exists(), "a live process's folder was removed"
    child.send_signal(signal.SIGKILL)
    child.wait()
    with private_folders.private_folder(PREFIX):
        assert not litter.exists()
    assert alive_other.exists() and other_prefix.exists()


def test_the_applied_plan_copy_of_a_killed_apply_does_not_stay(own_tmp: Path,
                                                                tmp_path_factory, monkeypatch):
    monkeypatch.setenv("BBWS_WORK_DIR", str(tmp_path_factory.mktemp("work")))
    dead = subprocess.Popen(["true"])
    dead.wait()
    litter = own_tmp / f"{bundle.APPLY_FOLDER_PREFIX}{dead.pid}-abc"
    litter.mkdir()
    (litter / bundle.PLAN_FILE).write_bytes(b"a killed apply's plan")
    directory = bundle.bundle_dir("sandbox", "dev", TENANTS)
    directory.mkdir(parents=True)
    (directory / bundle.PLAN_FILE).write_bytes(b"reviewed plan")
    with bundle.private_copy("sandbox", "dev", TENANTS,
                             bundle.sha256_file(directory / bundle.PLAN_FILE)) as private:
        assert private.parent.name.startswith(bundle.APPLY_FOLDER_PREFIX)
    assert not litter.exists()
