"""One AWS provider process per Terraform batch, on the sandbox (engine.provider_process): a
plan starts the provider once instead of three times, an apply with its verification once
instead of four, and through the relay (engine.provider_relay) Terraform reads its schema once
per batch; the plans are the same either way; a root using two configurations of the
provider (prod's DR region) gets a process per configuration; and a provider binary that is
not the lock file's package is never attached to: Terraform's own check refuses it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bbws_infra.bench import stages
from bbws_infra.engine import provider_process, timings
from bbws_infra.targets import provider_configurations
from tests.support.leftovers import terraform_processes_under
from tests.support.repo_copies import Copy, make_copy

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def copy(work, tmp_path_factory):
    yield from make_copy("provider", work, tmp_path_factory)


def _started(copy: Copy, *args: str, **env: str) -> dict[str, int]:
    """Run the CLI; the provider processes each component started."""
    return _run(copy, *args, **env)[0]


def _run(copy: Copy, *args: str, **env: str) -> tuple[dict[str, int], dict[str, int]]:
    """Run the CLI; the provider processes each component started, and the provider schema
    answers each component's Terraform read through the relay (engine.provider_relay)."""
    record = copy.work / "timings.jsonl"
    record.unlink(missing_ok=True)
    with stages.ProviderWatch(copy.work) as watch:
        result = copy.invoke(*args, **{timings.ENV_VAR: str(record), **env})
    assert result.returncode == 0, result.stdout + result.stderr
    return watch.counts(), stages.counts(stages.read_spans(record), timings.SCHEMA_READS)


def _changes(copy: Copy, component: str) -> list[dict]:
    plan = json.loads((copy.bundle_dir("dev", component) / "plan.json").read_text())
    return [{k: change[k] for k in ("address", "change")}
            for change in plan["resource_changes"]]


def _plan(component: str) -> tuple[str, ...]:
    return ("plan", "--env", "dev", "--component", component)


def test_a_plan_and_an_apply_start_the_provider_once_each(copy: Copy) -> None:
    # `invoke init` alone installs the provider (into the plugin cache, on first use)
    copy.ok("init", "--env", "dev", "--component", "tenants")
    assert _started(copy, *_plan("tenants")) == {"tenants": 1}  # plan and show

    # init, plan and show with one provider process (init then does not install it), whose
    # schema Terraform read once for the plan and its show (three times without the relay)...
    assert _run(copy, *_plan("campaigns")) == ({"campaigns": 1}, {"campaigns": 1})
    attached = _changes(copy, "campaigns")
    # ...the same plan when Terraform reads the schema from the provider each time...
    assert _run(copy, *_plan("campaigns"), **{provider_process.SWITCH: "direct"}) == (
        {"campaigns": 1}, {})
    assert _changes(copy, "campaigns") == attached
    # ...and a run that does not attach initialises again, and Terraform installs it
    assert _started(copy, *_plan("campaigns"),
                    **{provider_process.SWITCH: "per-command"}) == {"campaigns": 3}
    assert _changes(copy, "campaigns") == attached  # the same plan

    # show before apply, apply, verification plan and show: one process, one schema read
    applied = _run(copy, "apply", "--env", "dev", "--component", "tenants", "--confirm",
                   "deploy-dev")
    assert applied == ({"tenants": 1}, {"tenants": 1})
    (record, *_) = copy.deployments("dev", "--component", "tenants")
    assert (record["result"], record["verification"]) == ("applied", "passed")
    # nothing outlives its batch (its private folder goes with it: tests/unit/engine)
    assert terraform_processes_under(copy.work) == []


def test_a_root_using_the_dr_region_gets_a_provider_process_per_configuration(
        copy: Copy) -> None:
    # prod's table uses two configurations (its region and the DR region's): one process
    # would keep only the last one configured, so each gets its own, as in plain Terraform
    copy.ok("init", "--env", "dev", "--component", "tenants")  # the provider in the cache
    started = _started(copy, "plan", "--env", "prod", "--component", "tenants,alerts")
    assert started["tenants"] > 1 and started["alerts"] == 1
    plan = json.loads((copy.bundle_dir("prod", "tenants") / "plan.json").read_text())
    dr_vault = next(r for r in plan["planned_values"]["root_module"]["child_modules"]
                    for r in r["resources"] if r["address"].endswith("aws_backup_vault.dr[0]"))
    assert dr_vault["provider_name"] == "registry.terraform.io/hashicorp/aws"
    assert provider_configurations.used_by_plan(plan) == {"aws", "aws.dr"}


def test_a_provider_binary_changed_in_the_cache_is_refused_not_attached(
        copy: Copy, tmp_path: Path) -> None:
    # a work directory with a plugin cache of its own, filled by init from the offline mirror
    own = Copy(copy.root, tmp_path / "work")
    try:
        # the first install fills the cache: nothing there to attach yet
        assert _started(own, *_plan("tenants")) == {"tenants": 3}
        assert _started(own, *_plan("tenants")) == {"tenants": 1}
        (binary,) = (own.work / "terraform" / "plugin-cache").rglob("terraform-provider-aws*")
        with binary.open("ab") as handle:
            handle.write(b"\0")
        with stages.ProviderWatch(own.work) as watch:
            refused = own.invoke(*_plan("tenants"))
        assert refused.returncode != 0
        output = " ".join((refused.stdout + refused.stderr).split())
        assert "does not match any of the checksums recorded in the dependency lock file" \
            in output, output
        assert watch.counts() == {}  # neither attached to nor started
    finally:
        own.invoke("sandbox.down")
        own.close()
