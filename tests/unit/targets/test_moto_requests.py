"""bbws_infra.targets.moto_requests: moto's service packages listed once, with moto's answer."""

from __future__ import annotations

import os

from moto import backends
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

from bbws_infra.targets import moto_requests, sandbox_server


def test_the_list_is_moto_s_and_read_once(monkeypatch):
    expected = list(backends.list_of_moto_modules())
    assert "dynamodb" in expected and "s3" in expected
    moto_requests.apply()
    try:
        assert list(backends.list_of_moto_modules()) == expected
        listed: list[str] = []
        monkeypatch.setattr(os, "listdir", lambda path: listed.append(path) or [])
        assert list(backends.list_of_moto_modules()) == expected
        assert listed == []  # answered from the first listing
    finally:
        moto_requests.remove()
    assert not moto_requests.is_applied()


def test_requests_are_routed_as_before():
    dispatcher = DomainDispatcherApplication(create_backend_app)
    hosts = ["dynamodb", "s3", "moto_api", "dynamodb.af-south-1.amazonaws.com", "unknown-host"]
    before = [dispatcher.get_backend_for_host(host) for host in hosts]
    moto_requests.apply()
    try:
        assert [dispatcher.get_backend_for_host(host) for host in hosts] == before
    finally:
        moto_requests.remove()
    assert before[:2] == ["dynamodb", "s3"]


def test_the_server_applies_it():
    assert moto_requests in sandbox_server.EXTENSIONS
