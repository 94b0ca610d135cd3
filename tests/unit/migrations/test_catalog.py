"""Loading migrations/<component>/: what a migration file must declare, and each mistake
refused with one sentence naming the file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bbws_infra.core.errors import UserError
from bbws_infra.core.paths import REPO_ROOT
from bbws_infra.core.registry import COMPONENTS
from bbws_infra.migrations import catalog

GOOD = '''
ID = "{id}"
DESCRIPTION = "Lower-case every email."
NEEDS_INDEX = "EmailIndex"
NEEDS_ATTRIBUTE = "email"
SELECT = lambda item: "email" in item


def change(item):
    return {{**item, "email": item["email"].lower()}}
'''


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    shutil.copytree(REPO_ROOT / "dynamodb" / "tenants", tmp_path / "dynamodb" / "tenants",
                    symlinks=True)
    (tmp_path / "migrations" / "tenants").mkdir(parents=True)
    return tmp_path


def _write(repo: Path, name: str, text: str, component: str = "tenants") -> Path:
    path = repo / "migrations" / component / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_migrations_load_in_id_order(repo):
    _write(repo, "0002_second.py", GOOD.format(id="0002_second"))
    _write(repo, "0001_first.py", GOOD.format(id="0001_first"))
    _write(repo, "_shared.py", "X = 1\n")  # helpers beside them are no migrations
    found = catalog.discover([COMPONENTS["tenants"], COMPONENTS["templates"]], repo)
    assert [m.id for m in found["tenants"]] == ["0001_first", "0002_second"]
    first = found["tenants"][0]
    assert first.number == 1 and first.needs_index == "EmailIndex"
    assert first.select is not None and first.select({"email": "A"})
    assert first.change({"email": "A@B"}) == {"email": "a@b"}
    assert "templates" not in found


@pytest.mark.parametrize(("name", "text", "message"), [
    ("1_short.py", GOOD.format(id="1_short"), "is named <NNNN>_<name>.py"),
    ("0001_a.py", GOOD.format(id="0001_b"), "ID is '0001_b'; it must be"),
    ("0001_a.py", 'ID = "0001_a"\nDESCRIPTION = "x"\n', "change(item) -> item | None is missing"),
    ("0001_a.py", 'ID = "0001_a"\ndef change(i): return i\n', "DESCRIPTION"),
    ("0001_a.py", GOOD.format(id="0001_a").replace('"EmailIndex"', '"NoIndex"'),
     "NEEDS_INDEX 'NoIndex' is no index"),
    ("0001_a.py", GOOD.format(id="0001_a").replace('= "email"', '= "emailDomain"'),
     "NEEDS_ATTRIBUTE 'emailDomain' is not defined"),
    ("0001_a.py", GOOD.format(id="0001_a") + "SCAN_FILTER = 'a = b'\n",
     "SCAN_FILTER must be"),
    ("0001_a.py", "import nothing_here\n", "does not load: ModuleNotFoundError"),
])
def test_a_broken_migration_file_is_named(repo, name, text, message):
    _write(repo, name, text)
    with pytest.raises(UserError, match=message) as raised:
        catalog.discover([COMPONENTS["tenants"]], repo)
    assert f"migrations/tenants/{name}" in str(raised.value)


def test_two_files_with_one_number_are_refused(repo):
    _write(repo, "0001_a.py", GOOD.format(id="0001_a"))
    _write(repo, "0001_b.py", GOOD.format(id="0001_b"))
    with pytest.raises(UserError, match="share the number 0001"):
        catalog.discover([COMPONENTS["tenants"]], repo)


def test_a_folder_that_is_no_table_is_refused(repo):
    _write(repo, "0001_a.py", GOOD.format(id="0001_a"), component="templates")
    with pytest.raises(UserError, match="migrations/templates/ is no table component"):
        catalog.discover([COMPONENTS["tenants"]], repo)
