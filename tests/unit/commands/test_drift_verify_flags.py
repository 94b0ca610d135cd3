"""`invoke drift` and `invoke verify` refuse flags that make no sense, and --triage without the
GitHub token or repository, with one sentence and exit 2 before anything starts (no sandbox, no
result file)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bbws_infra.commands import release
from tests.support.work_dirs import using_work_dir


@pytest.mark.parametrize(("flags", "said"), [
    ({"accept": True, "revert": True, "reason": "x", "component": "tenants"},
     "--accept and --revert are two answers to the same drift; choose one."),
    ({"reason": "x"}, "--reason and --address go with --accept."),
    ({"address": ["a.b"]}, "--reason and --address go with --accept."),
    ({"accept": True, "component": "tenants"}, "--accept needs --reason"),
    ({"accept": True, "reason": "harmless"}, "--accept needs --component"),
    ({"revert": True, "triage": True}, "--triage is for the scheduled run"),
    ({"triage": True}, "--triage keeps GitHub issues and needs GITHUB_TOKEN"),
])
def test_drift_refuses_before_anything_starts(flags: dict, said: str, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    options = {"component": None, **flags}
    with using_work_dir(tmp_path):
        code = release.drift(env="dev", target="sandbox", **options)
    assert code == 2
    assert said in " ".join(capsys.readouterr().err.split())
    assert list(tmp_path.iterdir()) == []  # no sandbox, no result


def test_verify_triage_needs_the_token(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("GITHUB_TOKEN", "t")
    monkeypatch.delenv("GITHUB_REPOSITORY", raising=False)
    with using_work_dir(tmp_path):
        code = release.verify(env="dev", component=None, target="sandbox", triage=True)
    assert code == 2
    assert "needs GITHUB_REPOSITORY" in " ".join(capsys.readouterr().err.split())
    assert list(tmp_path.iterdir()) == []
