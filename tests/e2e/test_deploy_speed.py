"""Where a deploy's time goes, on the sandbox: with BBWS_TIMINGS set, `invoke plan`, `apply`
and `promote` record each stage (the numbers `invoke bench` sums); a promotion prepares its
target and stages the commit's worktree once for its plans and its apply, and still applies
through every guard and verifies; the runs' seconds order the next run's start, and the apply
that took longest last time reaches its apply before the others start."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from bbws_infra.bench import stages
from bbws_infra.engine import timings
from tests.support.repo_copies import Copy, make_copy

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def copy(work, tmp_path_factory):
    yield from make_copy("speed", work, tmp_path_factory)


def _timed(copy: Copy, record: Path, *args: str) -> Counter[str]:
    result = copy.invoke(*args, **{timings.ENV_VAR: str(record)})
    assert result.returncode == 0, result.stdout + result.stderr
    return Counter(span.stage for span in stages.read_spans(record))


def test_plan_apply_and_promote_record_their_stages(copy: Copy, tmp_path: Path) -> None:
    planned = _timed(copy, tmp_path / "plan.jsonl", "plan", "--env", "dev", "--component",
                     "tenants")
    assert {"sandbox start", "target set-up", "stage", "init check",
            "terraform process start", "init", "plan", "show", "bundle"} <= set(planned)
    assert planned["plan"] == 1 and planned["sandbox start"] == 1

    applied = _timed(copy, tmp_path / "apply.jsonl", "apply", "--env", "dev", "--component",
                     "tenants", "--confirm", "deploy-dev")
    assert {"deploy checks offline", "target set-up", "stage", "deploy checks on target",
            "pre-deploy backups", "show before apply", "apply guard", "apply", "state read",
            "verification plan", "verification plan show", "boto3 checks", "data checks",
            "migrations"} <= set(applied)
    assert applied["ledger"] == 2  # the intent, then the record
    assert "sandbox start" not in applied  # the sandbox of the plan still runs

    promoted = _timed(copy, tmp_path / "promote.jsonl", "promote", "--to", "sit",
                      "--component", "tenants", "--confirm", "promote-sit")
    # one target set-up and one staged worktree serve the plan and the apply
    assert promoted["target set-up"] == 1 and promoted["stage"] == 1
    assert promoted["plan"] == 1 and promoted["apply"] == 1
    assert promoted["deploy checks offline"] == 1 and promoted["deploy checks on target"] == 1
    assert promoted["apply guard"] == 1 and promoted["verification plan"] == 1
    (record, *_) = copy.deployments("sit", "--component", "tenants")
    assert (record["action"], record["result"], record["verification"]) == (
        "promote", "applied", "passed")

    durations = json.loads((copy.work / "terraform" / "durations.json").read_text())
    assert set(durations) == {"plan", "deploy"}
    assert set(durations["plan"]) == set(durations["deploy"]) == {"tenants"}


def test_the_longest_apply_reaches_its_apply_before_the_others_start(copy: Copy,
                                                                     tmp_path: Path) -> None:
    copy.ok("plan", "--env", "dev", "--component", "tenants,templates")
    # the last deploy here took templates longest: it starts alone (the runs of this work
    # directory set these seconds; written here so the test does not depend on the emulator's
    # own timing)
    durations_file = copy.work / "terraform" / "durations.json"
    durations = json.loads(durations_file.read_text())
    durations["deploy"] = {"templates": 9.0, "tenants": 1.0}
    durations_file.write_text(json.dumps(durations))
    record = tmp_path / "apply.jsonl"
    _timed(copy, record, "apply", "--env", "dev", "--component", "tenants,templates",
           "--confirm", "deploy-dev")
    spans = stages.read_spans(record)
    (head_apply,) = [s.start for s in spans if (s.component, s.stage) == ("templates", "apply")]
    tenants_first = min(s.start for s in spans if s.component == "tenants")
    assert head_apply <= tenants_first < head_apply + 1.0
    # both applied, verified and recorded as usual
    for component in ("tenants", "templates"):
        (latest, *_) = copy.deployments("dev", "--component", component)
        assert (latest["result"], latest["verification"]) == ("applied", "passed")
