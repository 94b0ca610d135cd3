"""The unit tests share their processes: a sandbox extension a test applies to moto in-process
must be undone by that test, or every later test in the process runs against it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bbws_infra.targets import moto_monitoring, moto_s3_rules, moto_validation


@pytest.fixture(autouse=True)
def no_sandbox_rules_left_applied() -> Iterator[None]:
    yield
    left = []
    if moto_validation.is_applied():
        left.append("moto_validation (use moto_validation.applied())")
        moto_validation.remove()
    if moto_s3_rules.is_applied():
        left.append("moto_s3_rules (call moto_s3_rules.restore())")
        moto_s3_rules.restore()
    if moto_monitoring.is_applied():
        left.append("moto_monitoring (use moto_monitoring.applied())")
        moto_monitoring.restore()
    assert not left, f"this test left {', '.join(left)} applied for the tests after it"
