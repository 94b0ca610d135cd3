"""A state lock our own run left (its lock request retried after the emulator granted it) is
released once on the sandbox; any other lock never is."""

from __future__ import annotations

import getpass
import socket
import time
from types import SimpleNamespace

import pytest

from bbws_infra.core.registry import COMPONENTS, load_environment
from bbws_infra.engine import terraform
from bbws_infra.plans import operations
from bbws_infra.state import doctor

OURS = f"{getpass.getuser()}@{socket.gethostname()}"
LOCK_ERROR = terraform.TerraformError("terraform plan failed (exit 1).",
                                      details="Error: Error acquiring the state lock\n...")


def _held(who: str, age_s: float | None) -> doctor.LockInfo:
    return doctor.LockInfo(id="lock-1", operation="OperationTypePlan", who=who,
                           created="2026-11-26 10:13:42 +0000 UTC", age_s=age_s, path="p")


@pytest.mark.parametrize(("recover", "error", "held", "released"), [
    (True, LOCK_ERROR, _held(OURS, 2.0), True),
    (False, LOCK_ERROR, _held(OURS, 2.0), False),  # real AWS: never
    (True, terraform.TerraformError("x", details="Error: something else"), _held(OURS, 2.0),
     False),
    (True, LOCK_ERROR, _held("someone@elsewhere", 2.0), False),
    (True, LOCK_ERROR, _held(OURS, 3600.0), False),  # older than this run
    (True, LOCK_ERROR, _held(OURS, None), False),
    (True, LOCK_ERROR, None, False),
])
def test_only_a_fresh_lock_of_our_own_is_released(monkeypatch, recover, error, held, released):
    ctx = SimpleNamespace(recover_own_locks=recover, live_session=None,
                          env=load_environment("dev"))
    monkeypatch.setattr(doctor, "lock_info", lambda *_: held)
    ran: list[tuple[list[str], object]] = []
    monkeypatch.setattr(operations, "_batch", lambda ctx, component, batch, report, provider:
                        ran.append((batch[0].args, provider)))
    started = time.time() - 10
    # the force-unlock attaches the run's provider process too (an init that attached it
    # left it uninstalled)
    provider = {"binary": "terraform-provider-aws", "address": "registry.terraform.io/x"}
    assert operations._release_own_stale_lock(ctx, COMPONENTS["tenants"], error,
                                              started, provider) is released
    assert ran == ([(["force-unlock", "-force", "-no-color", "lock-1"], provider)]
                   if released else [])
