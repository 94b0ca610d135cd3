"""invoke migrate and invoke migrations refuse bad input with one sentence and exit 2 before
anything is read or written (the flows themselves: tests/e2e/test_migrations.py)."""

from __future__ import annotations

import pytest

from bbws_infra.commands import migrations
from bbws_infra.core import git
from bbws_infra.targets import targets


@pytest.fixture(autouse=True)
def no_target(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("bad input must stop the task before it reaches a target")

    monkeypatch.setattr(targets, "prepare", refuse)
    monkeypatch.setattr(targets, "reader_session", refuse)


@pytest.mark.parametrize(("arguments", "message"), [
    ({"confirm": None}, "needs --confirm migrate-dev"),
    ({"confirm": "deploy-dev"}, "needs --confirm migrate-dev"),
    ({"confirm": "migrate-dev", "rate": 0}, "--rate must be at least 1"),
    ({"confirm": "migrate-dev", "segments": 0}, "--segments must be between 1 and 64"),
    ({"confirm": "migrate-dev", "segments": 65}, "--segments must be between 1 and 64"),
    ({"confirm": "migrate-dev", "rate": "fast"}, "--rate takes a whole number, not 'fast'"),
    ({"confirm": "migrate-dev", "segments": "4.5"}, "--segments takes a whole number"),
    ({"confirm": "migrate-dev", "component": "templates"}, "choose a table component"),
    ({"confirm": "migrate-dev", "component": "orders"}, "Unknown component 'orders'"),
    ({"confirm": "migrate-dev", "env": "qa"}, "Unknown environment 'qa'"),
])
def test_migrate_refuses_bad_input(capsys, arguments, message):
    values = {"env": "dev", "component": None, "target": None, **arguments}
    assert migrations.migrate(**values) == 2
    assert message in capsys.readouterr().err.replace("\n", " ")


def test_the_listing_refuses_a_component_without_items(capsys):
    assert migrations.migrations(env="dev", component="templates", target=None) == 2
    assert "choose a table component" in capsys.readouterr().err


@pytest.mark.parametrize("env", ["sit", "prod"])
def test_after_dev_a_dirty_tree_is_refused_before_anything_is_read(monkeypatch, capsys, env):
    monkeypatch.setattr(git, "head_and_dirty", lambda root: ("0" * 40, True))
    assert migrations.migrate(env=env, component="tenants", target=None,
                              confirm=f"migrate-{env}") == 2
    assert (f"Migrations run in {env} from a clean working tree only (commit first); nothing "
            "was changed.") in capsys.readouterr().err.replace("\n", " ")
