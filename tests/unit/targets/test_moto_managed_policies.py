"""bbws_infra.targets.moto_managed_policies: IAM backends get AWS's managed policies as moto
builds them, from data read once, at the first read."""

from __future__ import annotations

import copy
import pickle
import threading
from typing import Any

import pytest
from moto.iam.models import IAMBackend, ManagedPolicy

from bbws_infra.targets import moto_managed_policies, sandbox_server


def _described(policy: ManagedPolicy) -> dict[str, Any]:
    """Everything of a policy but its random id (its shape is compared instead)."""
    described = {k: v for k, v in vars(policy).items() if k not in ("id", "versions")}
    described["versions"] = [vars(v) for v in policy.versions]
    described.update(arn=policy.arn, id_shape=(policy.id[:1], len(policy.id), policy.id.isalnum()))
    return described


@pytest.fixture
def managed(monkeypatch):
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    yield
    moto_managed_policies.remove()


def test_backends_get_moto_s_policies(managed):
    expected = IAMBackend("global", "536580886816")
    moto_managed_policies.apply()
    built = IAMBackend("global", "536580886816")
    assert len(built.aws_managed_policies) == len(expected.aws_managed_policies) > 1000
    assert [_described(p) for p in built.aws_managed_policies] == \
        [_described(p) for p in expected.aws_managed_policies]
    assert built.managed_policies.keys() == expected.managed_policies.keys()
    assert "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup" \
        in built.managed_policies


def test_each_backend_has_policies_of_its_own(managed):
    moto_managed_policies.apply()
    china = IAMBackend("cn-north-1", "815856636111")
    other = IAMBackend("global", "093646564004")
    first, second = china.aws_managed_policies[0], other.aws_managed_policies[0]
    assert first is not second and first.versions[0] is not second.versions[0]
    assert first.arn.startswith("arn:aws-cn:") and second.arn.startswith("arn:aws:")
    first.attachment_count += 1
    assert second.attachment_count == 0


def test_a_backend_builds_its_policies_at_the_first_read(managed, monkeypatch):
    moto_managed_policies.apply()
    built: list[str] = []
    original = moto_managed_policies.build_aws_policies
    monkeypatch.setattr(moto_managed_policies, "build_aws_policies",
                        lambda backend: built.append(backend.account_id) or original(backend))
    searched = IAMBackend("global", "536580886816")  # made to look for an access key in it
    assert searched.access_keys == {} and built == []
    # a copy or a pickle of a backend not read yet still builds its own at its first read
    copied = pickle.loads(pickle.dumps(copy.deepcopy(searched)))
    assert len(copied.managed_policies) > 1000 and built == ["536580886816"]
    built.clear()

    by_arn = searched.managed_policies
    assert built == ["536580886816"]
    # the dict and the list hold the same objects, built once
    assert [by_arn[p.arn] for p in searched.aws_managed_policies] == \
        searched.aws_managed_policies
    assert built == ["536580886816"]

    # what moto sets is what it reads back (its own reset makes a new backend)
    searched.managed_policies = {}
    assert searched.managed_policies == {} and len(searched.aws_managed_policies) > 1000
    assert built == ["536580886816"]


def test_first_reads_at_once_share_one_build(managed):
    moto_managed_policies.apply()
    backend = IAMBackend("global", "536580886816")
    read: list[object] = []
    threads = [threading.Thread(target=lambda: read.append(backend.managed_policies))
               for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(read) == 4 and all(r is read[0] for r in read)
    assert all(read[0][p.arn] is p for p in backend.aws_managed_policies)


def test_removed_backends_are_moto_s_again(managed):
    moto_managed_policies.apply()
    moto_managed_policies.remove()
    assert not moto_managed_policies.is_applied()
    backend = IAMBackend("global", "536580886816")
    assert "managed_policies" in vars(backend) and len(backend.managed_policies) > 1000


def test_without_the_switch_there_are_none(monkeypatch):
    monkeypatch.delenv("MOTO_IAM_LOAD_MANAGED_POLICIES", raising=False)
    moto_managed_policies.apply()
    try:
        assert IAMBackend("global", "536580886816").aws_managed_policies == []
    finally:
        moto_managed_policies.remove()


def test_the_server_applies_it():
    assert moto_managed_policies in sandbox_server.EXTENSIONS
