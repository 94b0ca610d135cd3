"""The pure parts of `invoke bench`: generated components and the goals it reports."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from bbws_infra.bench import bench
from bbws_infra.core.paths import REPO_ROOT
from bbws_infra.core.registry import Component, discover_components
from bbws_infra.inputs import schemas


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """The Terraform tree of the repository (links kept, so they resolve inside the copy)."""
    for name in ("dynamodb", "s3", "modules", "envs"):
        shutil.copytree(REPO_ROOT / name, tmp_path / name, symlinks=True)
    return tmp_path


def test_generated_components_are_valid_copies_with_unique_tables(repo: Path) -> None:
    real = discover_components(repo)
    names = bench.generate_components(repo, 12)

    assert names == [f"bench_t{i:02d}" for i in range(1, 13)]
    found = discover_components(repo)
    assert set(found) == set(real) | set(names)
    assert all(found[name].kind == "dynamodb" for name in names)
    source = repo / "dynamodb" / bench.TEMPLATE_COMPONENT
    tables = set()
    for name in names:
        folder = repo / "dynamodb" / name
        assert sorted(p.name for p in folder.iterdir()) == sorted(
            p.name for p in source.iterdir())
        for item in source.iterdir():
            if item.is_symlink():  # main.tf, outputs.tf, providers.tf, variables, lock file
                assert (folder / item.name).is_symlink()
                assert os.readlink(folder / item.name) == os.readlink(item)
                assert (folder / item.name).resolve() == item.resolve()
        (schema_file,) = folder.glob("*.schema.json")
        schema = json.loads(schema_file.read_text())
        tables.add(schema["x-dynamodb"]["tableName"])
        assert schemas.validate_schema_file(schema_file, repo) == []
    assert len(tables) == len(names)
    assert not tables & {json.loads(p.read_text())["x-dynamodb"]["tableName"]
                         for p in schemas.schema_files(repo)
                         if not p.parent.name.startswith(bench.GENERATED_PREFIX)}


def test_generated_schema_differs_only_in_its_names(repo: Path) -> None:
    (name,) = bench.generate_components(repo, 1)
    (original,) = (repo / "dynamodb" / bench.TEMPLATE_COMPONENT).glob("*.schema.json")
    (copied,) = (repo / "dynamodb" / name).glob("*.schema.json")
    before, after = json.loads(original.read_text()), json.loads(copied.read_text())
    assert after["x-dynamodb"].pop("tableName") == name
    before["x-dynamodb"].pop("tableName")
    assert after.pop("$id") != before.pop("$id")
    assert after == before


def test_generation_never_overwrites_and_removal_restores(repo: Path) -> None:
    before = discover_components(repo)
    bench.generate_components(repo, 2)
    with pytest.raises(FileExistsError):
        bench.generate_components(repo, 1)
    bench.remove_generated(repo)
    assert discover_components(repo) == before


def test_subsets_take_the_real_components_first() -> None:
    real = [Component(n, "dynamodb") for n in ("a", "b", "c")] + [Component("t", "s3")]
    generated = [Component(bench.generated_name(i), "dynamodb") for i in range(1, 13)]
    chosen = bench.subsets(real, generated)
    assert sorted(chosen) == [4, 8, 16]
    assert chosen[4] == real
    assert chosen[8] == real + generated[:4]
    assert chosen[16] == real + generated
    assert sorted(bench.subsets(real, generated[:4])) == [4, 8]


def test_goals_met_and_missing_measurements() -> None:
    result = {"parallel_over_serial": 0.62, "runner_over_bare": 1.06, "warm_init_s": 0.4,
              "components_16_over_4": 4.1, "check_s": None, "dev_deploy_s": 11.9,
              "promote_sit_s": 12.5, "first_plan_over_bare": None}
    assert bench.goals_met(result) == {
        "parallel_over_serial": True, "runner_over_bare": False, "warm_init_s": True,
        "components_16_over_4": False, "check_s": None, "dev_deploy_s": True,
        "promote_sit_s": False, "first_plan_over_bare": None}
    assert set(bench.GOALS) == {"parallel_over_serial", "runner_over_bare", "warm_init_s",
                                "components_16_over_4", "check_s", "dev_deploy_s",
                                "promote_sit_s", "first_plan_over_bare"}


def test_ratio() -> None:
    assert bench.ratio(3.0, 4.0) == 0.75
    assert bench.ratio(None, 4.0) is None
    assert bench.ratio(3.0, None) is None
    assert bench.ratio(3.0, 0.0) is None


def test_the_host_loop_reports_its_fastest_run(monkeypatch: pytest.MonkeyPatch) -> None:
    # the host's speed as a run saw it: the fastest of the repeats (the others met other load)
    ticks = iter([10.0, 10.5, 20.0, 20.2, 30.0, 30.4])
    monkeypatch.setattr(bench, "HOST_LOOP_ITERATIONS", 10)
    assert bench.host_loop_s(clock=lambda: next(ticks)) == 0.2
    monkeypatch.setattr(bench, "HOST_LOOP_ITERATIONS", 100_000)
    assert 0 < bench.host_loop_s(repeats=1) < 5
