"""Where a flow's time went (bench.stages, engine.timings, bench.flows, bench.bench_table):
stage lines written and summed, the union of overlapping stages, provider processes counted
by component, and the text report."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bbws_infra.bench import bench, bench_table, flows, stages
from bbws_infra.engine import timings


def _spans(*items: tuple[str, str, float, float]) -> list[stages.Span]:
    return [stages.Span(stage, component, start, seconds)
            for stage, component, start, seconds in items]


def test_timed_stages_are_written_only_when_asked(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    record = tmp_path / "timings.jsonl"
    monkeypatch.delenv(timings.ENV_VAR, raising=False)
    with timings.timed("plan", "tenants"):
        pass
    assert not record.exists()

    monkeypatch.setenv(timings.ENV_VAR, str(record))
    with timings.timed("plan", "tenants"):
        time.sleep(0.01)
    with pytest.raises(ValueError), timings.timed("apply", "tenants"):
        raise ValueError("a failed stage still counts")
    timings.record("show", 100.0, 0.5, "products")

    spans = stages.read_spans(record)
    assert [(s.stage, s.component) for s in spans] == [
        ("plan", "tenants"), ("apply", "tenants"), ("show", "products")]
    assert spans[0].seconds >= 0.01
    assert spans[2] == stages.Span("show", "products", 100.0, 0.5)
    assert all(json.loads(line)["pid"] for line in record.read_text().splitlines())


def test_a_missing_timings_file_has_no_spans(tmp_path: Path) -> None:
    assert stages.read_spans(tmp_path / "none.jsonl") == []


def test_an_unwritable_timings_file_never_fails_the_stage(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(timings.ENV_VAR, str(tmp_path / "no-such-folder" / "t.jsonl"))
    with timings.timed("plan", "tenants"):
        done = True
    assert done and not (tmp_path / "no-such-folder").exists()


def test_stages_are_summed_in_deploy_order() -> None:
    spans = _spans(("verification plan", "a", 5, 1.0), ("plan", "a", 0, 2.0),
                   ("plan", "b", 0, 3.0), ("a stage of its own", "", 9, 0.5),
                   ("sandbox start", "", 0, 1.25))
    assert list(stages.stage_seconds(spans).items()) == [
        ("sandbox start", 1.25), ("plan", 5.0), ("verification plan", 1.0),
        ("a stage of its own", 0.5)]


def test_covered_seconds_is_the_union_of_overlapping_stages() -> None:
    spans = _spans(("plan", "a", 0, 2), ("plan", "b", 1, 2), ("show", "a", 1.5, 0.5),
                   ("apply", "a", 5, 1))
    assert stages.covered_seconds(spans) == pytest.approx(4.0)  # [0, 3] and [5, 6]
    assert stages.covered_seconds([]) == 0


def test_a_flow_summary_names_what_no_stage_covers_and_the_provider_starts() -> None:
    spans = _spans(("plan", "a", 10, 2), ("plan", "b", 10, 3))
    summary = stages.summary(spans, 4.5, {"b": 3, "a": 4}, {"command": 3.333, "emulator": 1.0})
    assert summary == {"wall_s": 4.5, "stages_s": {"plan": 5.0}, "unaccounted_s": 1.5,
                       "provider_starts": {"a": 4, "b": 3},
                       "provider_starts_per_component": 4, "schema_reads": {},
                       "last_component": "b", "last_component_stages_s": {"plan": 3.0},
                       "cpu_s": {"command": 3.33, "emulator": 1.0}}
    empty = stages.summary([], 1.0, {})
    assert empty["provider_starts_per_component"] == 0
    assert (empty["last_component"], empty["last_component_stages_s"], empty["cpu_s"]) == (
        "", {}, {})


def test_schema_reads_are_counted_per_component_and_are_no_stage(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    record = tmp_path / "timings.jsonl"
    monkeypatch.setenv(timings.ENV_VAR, str(record))
    timings.record("plan", 10.0, 2.0, "a")
    timings.record(timings.SCHEMA_READS, 10.0, 0.0, "a", count=1)
    timings.record(timings.SCHEMA_READS, 12.0, 0.0, "a", count=0)
    timings.record(timings.SCHEMA_READS, 30.0, 0.0, "b", count=2)  # past every stage's end
    spans = stages.read_spans(record)
    summary = stages.summary(spans, 4.0, {"a": 1, "b": 1})
    assert summary["schema_reads"] == {"a": 1, "b": 2}
    # a count has no duration: neither a stage, nor covered time, nor the last component
    assert (summary["stages_s"], summary["unaccounted_s"], summary["last_component"]) == (
        {"plan": 2.0}, 2.0, "a")
    assert "  provider schema reads: a 1, b 2" in bench_table.flow_lines("dev_plan", summary)


def test_the_last_component_is_the_one_whose_stages_ended_last() -> None:
    # alerts starts its apply late and waits on its key: the deploy's critical path
    spans = _spans(("stage", "", 0, 9), ("apply", "tenants", 1, 2), ("verification plan",
                                                                     "tenants", 3, 1),
                   ("apply", "alerts", 1.5, 5), ("verification plan", "alerts", 6.5, 0.5))
    assert stages.last_component(spans) == "alerts"
    assert stages.summary(spans, 9.5, {})["last_component_stages_s"] == {
        "apply": 5.0, "verification plan": 0.5}
    assert stages.last_component(_spans(("stage", "", 0, 1))) == ""


def test_the_cpu_of_a_command_and_of_the_emulator_it_talks_to(tmp_path: Path) -> None:
    burn = [sys.executable, "-c",
            "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass"]
    emulator = subprocess.Popen([sys.executable, "-c",
                                 "import time\nwhile True: time.sleep(0.001)"])
    try:
        (tmp_path / "sandbox").mkdir()
        record = {"pid": emulator.pid, "port": 9, "started_at": time.time()}
        (tmp_path / "sandbox" / "server.json").write_text(json.dumps(record))
        time.sleep(0.2)
        before = stages.process_cpu_s(emulator.pid)
        with stages.CpuWatch(tmp_path) as watch:
            subprocess.run(burn, check=True)
        assert watch.seconds["command"] >= 0.29
        assert 0 <= watch.seconds["emulator"] <= stages.process_cpu_s(emulator.pid) - before
        # an emulator the command started: all of its CPU; none recorded: none
        (tmp_path / "sandbox" / "server.json").unlink()
        with stages.CpuWatch(tmp_path) as watch:
            (tmp_path / "sandbox" / "server.json").write_text(json.dumps(record))
        assert watch.seconds["emulator"] == pytest.approx(
            stages.process_cpu_s(emulator.pid), abs=0.05)
        (tmp_path / "sandbox" / "server.json").unlink()
        with stages.CpuWatch(tmp_path) as watch:
            pass
        assert watch.seconds["emulator"] == 0.0
    finally:
        emulator.kill()
        emulator.wait()
    assert stages.process_cpu_s(emulator.pid) == 0.0


def test_provider_processes_are_counted_by_component_under_the_work_dir(tmp_path: Path
                                                                        ) -> None:
    ours, theirs = tmp_path / "work" / "stage" / "tenants", tmp_path / "elsewhere" / "tenants"
    ours.mkdir(parents=True)
    theirs.mkdir(parents=True)
    # a process whose command line names the provider, as Terraform's plugin processes do
    argv = [sys.executable, "-c", "import time; time.sleep(0.6)", "terraform-provider-aws_v3"]
    with stages.ProviderWatch(tmp_path / "work") as watch:
        started = [subprocess.Popen(argv, cwd=folder) for folder in (ours, ours, theirs)]
        for process in started:
            process.wait()
    assert watch.counts() == {"tenants": 2}


def test_the_median_flow_keeps_its_own_stages() -> None:
    runs = [{"wall_s": 3.0, "stages_s": {"plan": 2.0}}, {"wall_s": 1.0, "stages_s": {"plan": 0.5}},
            {"wall_s": 2.0, "stages_s": {"plan": 1.5}}]
    chosen = flows.median_flow(runs)
    assert chosen["wall_s"] == 2.0 and chosen["stages_s"] == {"plan": 1.5}
    assert chosen["runs_wall_s"] == [3.0, 1.0, 2.0]
    assert flows.median_flow(runs[:2])["stages_s"] == {"plan": 0.5}  # the lower of two


def test_the_first_plan_is_compared_with_bare_terraform_and_the_sandbox_start() -> None:
    result = {"first_plan_s": 6.0, "bare_terraform_first_plan_s": 4.0,
              "flows": {"first_plan": {"stages_s": {"sandbox start": 1.0}}}}
    assert bench.first_plan_over_bare(result) == 1.2
    assert bench.first_plan_over_bare({"first_plan_s": 6.0}) is None


def test_the_text_report_shows_goals_numbers_and_each_flows_stages() -> None:
    flow = stages.summary(_spans(("plan", "a", 0, 2), ("apply", "a", 2, 1)), 3.5, {"a": 4},
                          {"command": 5.25, "emulator": 1.5})
    result = {"dev_deploy_s": 11.0, "promote_sit_s": 13.0, "import_tasks_s": 0.2,
              "goals": {"dev_deploy_s": 12, "promote_sit_s": 12},
              "met": {"dev_deploy_s": True, "promote_sit_s": False},
              "flows": {"dev_plan": flow}}
    text = bench_table.text(result)
    lines = text.splitlines()
    assert lines[1].split() == ["dev_deploy_s", "11.0", "12", "yes"]
    assert lines[2].split() == ["promote_sit_s", "13.0", "12", "NO"]
    assert "import_tasks_s: 0.2" in lines
    assert "dev_plan: 3.5 s wall" in lines
    assert any(line.split() == ["plan", "2.00", "s"] for line in lines)
    assert any(line.split()[-2:] == ["0.50", "s"] and "not in a stage" in line
               for line in lines)
    assert "  provider starts: a 4" in lines
    assert "  last to finish: a (plan 2.00 s, apply 1.00 s)" in lines
    assert "  CPU: 5.25 s in the command's processes, 1.50 s in the emulator" in lines
