"""envs/<env>.tfvars and envs/providers.tf are checked before anything starts: a broken file
gives its path, the line and one readable sentence, never a parser traceback."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

from bbws_infra.commands import common
from bbws_infra.core import registry, tfvars
from bbws_infra.core.errors import InputFileError, UserError
from bbws_infra.core.paths import REPO_ROOT

DEV = (REPO_ROOT / "envs" / "dev.tfvars").read_text()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository root holding a copy of envs/ (the tfvars, variables.tf, providers.tf)."""
    (tmp_path / "envs").mkdir()
    for path in (REPO_ROOT / "envs").iterdir():
        if path.suffix in (".tfvars", ".tf"):
            shutil.copy(path, tmp_path / "envs" / path.name)
    return tmp_path


def _line(text: str, starts: str) -> int:
    """1-based number of the first line of text starting with `starts`."""
    return next(n for n, line in enumerate(text.splitlines(), 1) if line.startswith(starts))


def _load(repo: Path, text: str) -> dict:
    path = repo / "envs" / "dev.tfvars"
    path.write_text(text)
    return tfvars.load_tfvars(path, repo / "envs" / "variables.tf", repo)


def _error(repo: Path, text: str) -> InputFileError:
    with pytest.raises(InputFileError) as caught:
        _load(repo, text)
    return caught.value


def _replace(old: str, new: str) -> str:
    assert DEV.count(old) == 1, old
    return DEV.replace(old, new)


def test_the_committed_tfvars_pass(repo: Path):
    for name in registry.PROMOTION_ORDER:
        path = repo / "envs" / f"{name}.tfvars"
        assert tfvars.load_tfvars(path, repo / "envs" / "variables.tf", repo)["environment"] == name


def test_a_stray_line_names_file_and_line_without_a_traceback(repo: Path):
    """`region = ` with no value: the parser error becomes one sentence at the right line,
    and nothing of the parser's exception chain is shown."""
    text = _replace("deletion_protection = false\n", "deletion_protection = false\nregion = \n")
    error = _error(repo, text)
    line = text.splitlines().index("region = ") + 1
    assert (error.file, error.line) == ("envs/dev.tfvars", line)
    assert str(error) == (f"envs/dev.tfvars:{line}: is not valid HCL near `region =` (column "
                          "10); every line must read `name = value`.")
    assert error.__suppress_context__ and error.__cause__ is None


def test_the_task_wrapper_prints_one_sentence_and_exits_2(repo: Path, capsys):
    """Through the task wrapper: exit code 2, one line on stderr, no traceback."""
    (repo / "envs" / "dev.tfvars").write_text(DEV + "region = \n")
    code = common.guarded(lambda: registry.load_environment("dev", repo_root=repo) and 0)()
    captured = capsys.readouterr()
    assert code == 2
    assert captured.err == (f"error: envs/dev.tfvars:{len(DEV.splitlines()) + 1}: is not valid "
                            "HCL near `region =` (column 10); every line must read "
                            "`name = value`.\n")


def test_an_unknown_variable(repo: Path):
    text = DEV + 'colour = "blue"\n'
    assert str(_error(repo, text)) == (
        f"envs/dev.tfvars:{_line(text, 'colour')}: sets colour, which no root declares in "
        "envs/variables.tf; remove it or declare it.")


@pytest.mark.parametrize(("old", "new", "sentence"), [
    ("backup_retention_days = 7", 'backup_retention_days = "7"',
     "backup_retention_days must be a number."),
    ("backup_retention_days = 7", "backup_retention_days = true",
     "backup_retention_days must be a number."),
    ("backup_copy_to_dr     = false", "backup_copy_to_dr     = 1",
     "backup_copy_to_dr must be a bool."),
    ('Owner      = "Tebogo"', "Owner      = 3",
     'tags must be a map of strings, e.g. { Owner = "Tebogo" }.'),
], ids=["string-for-number", "bool-for-number", "number-for-bool", "number-in-string-map"])
def test_a_wrong_type(repo: Path, old: str, new: str, sentence: str):
    text = _replace(old, new)
    name = new.split()[0] if not new.startswith("Owner") else "tags"
    assert str(_error(repo, text)) == f"envs/dev.tfvars:{_line(text, name)}: {sentence}"


def test_a_value_failing_the_declared_regex(repo: Path):
    """account_id is checked against variables.tf's can(regex(...)) with its own message."""
    text = _replace('"536580886816"', '"53658088681"')
    assert str(_error(repo, text)) == (f"envs/dev.tfvars:{_line(text, 'account_id')}: The "
                                       "account_id must be a 12-digit AWS account id.")


def test_a_value_outside_the_declared_choices(repo: Path):
    """contains([...], var.x) rules are checked too, with the declared message."""
    text = _replace('"daily"', '"weekly"')
    assert str(_error(repo, text)) == (f"envs/dev.tfvars:{_line(text, 'backup_policy')}: The "
                                       "backup_policy must be daily or hourly.")


def test_a_missing_required_variable(repo: Path):
    error = _error(repo, _replace("deletion_protection = false\n", ""))
    assert error.line is None
    assert str(error) == ("envs/dev.tfvars: lacks deletion_protection, which every environment "
                          "must set.")


@pytest.mark.parametrize(("old", "new", "name"), [
    ('region      = "af-south-1"', "region      = af-south-1", "region"),
    ('backup_policy         = "daily"', "backup_policy         = daily", "backup_policy"),
    ('region      = "af-south-1"', "region      = var.dr_region", "region"),
    ('Owner      = "Tebogo"', "Owner      = Tebogo", "tags"),
], ids=["dashed-word", "bare-word", "expression", "bare-word-in-map"])
def test_an_unquoted_value(repo: Path, old: str, new: str, name: str):
    """python-hcl2 reads a bare word as a string; Terraform would refuse it minutes later."""
    text = _replace(old, new)
    assert str(_error(repo, text)) == (
        f"envs/dev.tfvars:{_line(text, name)}: {name} must be a literal value (strings in "
        "double quotes), not an expression.")


def test_a_variable_set_twice(repo: Path):
    """python-hcl2 keeps the last value; Terraform refuses the file, so the check does too. A
    map key of the same name is not a second assignment."""
    nested = _replace('Owner      = "Tebogo"', 'Owner      = "Tebogo"\n  region     = "x"')
    assert _load(repo, nested)["tags"]["region"] == "x"
    text = DEV + 'region = "eu-west-1"\n'
    assert str(_error(repo, text)) == (
        f"envs/dev.tfvars:{len(text.splitlines())}: sets region again; line "
        f"{_line(text, 'region')} already sets it. Keep one of them.")


def test_load_environment_reads_a_copied_repository(repo: Path):
    """load_environment(name, repo_root=...) reads that tree's tfvars, not the repository's."""
    path = repo / "envs" / "sit.tfvars"
    path.write_text(path.read_text().replace("backup_retention_days = 14",
                                             "backup_retention_days = 21"))
    sit = registry.load_environment("sit", repo_root=repo)
    assert (sit.name, sit.account_id, sit.tfvars) == ("sit", "815856636111", path)
    assert sit.values["backup_retention_days"] == 21
    assert registry.load_environment("sit").values["backup_retention_days"] == 14


def test_load_environment_refuses_a_file_for_another_environment(repo: Path):
    path = repo / "envs" / "dev.tfvars"
    path.write_text(DEV.replace('environment = "dev"', 'environment = "sit"'))
    with pytest.raises(UserError) as caught:
        registry.load_environment("dev", repo_root=repo)
    assert str(caught.value) == (f"envs/dev.tfvars:{_line(DEV, 'environment')}: environment = "
                                 "'sit', but the file name says 'dev'.")


def test_a_broken_providers_tf(repo: Path):
    """providers.tf is read for the provider aliases; a syntax error names its line."""
    path = repo / "envs" / "providers.tf"
    text = path.read_text().replace('alias               = "dr"', "alias =")
    path.write_text(text)
    with pytest.raises(InputFileError) as caught:
        registry.provider_aliases(repo)
    assert str(caught.value) == (f"envs/providers.tf:{_line(text, '  alias =')}: is not valid "
                                 "HCL near `alias =` (column 10).")


def test_providers_tf_without_a_default_provider(repo: Path):
    path = repo / "envs" / "providers.tf"
    path.write_text('provider "aws" {\n  alias  = "dr"\n  region = var.dr_region\n}\n')
    with pytest.raises(UserError) as caught:
        registry.provider_aliases(repo)
    assert str(caught.value) == "envs/providers.tf declares no default aws provider."


def test_parsing_from_several_threads_at_once_gives_every_thread_the_document(
        tmp_path: Path) -> None:
    # python-hcl2 shares its parser: unguarded, most of these came back mangled (each text
    # ends with a comment of its own, so each is really parsed, not read from the memo)
    source = (REPO_ROOT / "s3" / "templates" / "main.tf").read_text()
    expected = tfvars.parse_file(REPO_ROOT / "s3" / "templates" / "main.tf", REPO_ROOT)
    results: list[object] = []

    def parse(thread: int) -> None:
        for index in range(10):
            path = tmp_path / f"main-{thread}-{index}.tf"
            path.write_text(f"{source}\n# {thread}-{index}\n")
            parsed = tfvars.parse_file(path, tmp_path)
            assert parsed["__comments__"].pop() == {"value": f"{thread}-{index}"}
            results.append(parsed)

    threads = [threading.Thread(target=parse, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 40 and all(result == expected for result in results)


def test_a_text_is_parsed_once_and_each_caller_gets_a_document_of_its_own(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parses: list[str] = []
    loads = tfvars.hcl2.loads
    monkeypatch.setattr(tfvars.hcl2, "loads", lambda text: parses.append(text) or loads(text))
    path = tmp_path / "main.tf"
    path.write_text('locals {\n  name = "first-for-this-test"\n}\n')
    first = tfvars.parse_file(path, tmp_path)
    first["locals"].clear()  # a caller changing its document changes no one else's
    second = tfvars.parse_file(path, tmp_path)
    assert len(parses) == 1 and second["locals"][0]["name"] == '"first-for-this-test"'
    path.write_text('locals {\n  name = "edited-for-this-test"\n}\n')
    assert tfvars.parse_file(path, tmp_path)["locals"][0]["name"] == '"edited-for-this-test"'
    assert len(parses) == 2
