"""bbws_infra.targets.moto_requests: moto's service packages listed once, and a request's
operation looked up by its name, with moto's answers."""

from __future__ import annotations

import os

from moto import backends
from moto.core import responses
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


def test_an_operation_is_found_exactly_when_moto_s_listing_holds_it():
    from moto.dynamodb.responses import DynamoHandler
    from moto.iam.responses import IamResponse
    from moto.s3.responses import S3Response

    for clazz in (DynamoHandler, IamResponse, S3Response):
        listed = set(responses.method_names_from_class(clazz))
        looked_up = moto_requests.MethodNames(clazz)
        # every attribute, the operations among them, and names no class has
        for name in [*dir(clazz), "update_item", "no_such_operation", ""]:
            assert (name in looked_up) == (name in listed), (clazz.__name__, name)
        assert len(listed) > 50 and 42 not in looked_up


def test_an_operation_added_later_is_found():
    class Handler:
        def get_item(self) -> None: ...

    names = moto_requests.MethodNames(Handler)
    assert "get_item" in names and "put_item" not in names
    Handler.put_item = lambda self: None  # type: ignore[attr-defined]
    assert "put_item" in names


def test_requests_find_their_operation_through_it():
    from moto import mock_aws

    from tests.support.moto_session import MotoSession

    moto_requests.apply()
    try:
        assert responses.method_names_from_class is moto_requests.MethodNames
        with mock_aws():
            dynamodb = MotoSession().client("dynamodb")
            assert dynamodb.list_tables()["TableNames"] == []
    finally:
        moto_requests.remove()
    assert responses.method_names_from_class is not moto_requests.MethodNames


def test_the_server_applies_it():
    assert moto_requests in sandbox_server.EXTENSIONS
