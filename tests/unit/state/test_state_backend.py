"""state_backend.parse_lock_info: the one reader of a lock item's Info."""

from __future__ import annotations

import json

from bbws_infra.state import state_backend


def test_well_formed_info_reads_every_field() -> None:
    raw = json.dumps({"ID": "abc", "Operation": "OperationTypeApply", "Who": "me@host",
                      "Created": "2026-11-26T09:41:47.346926238Z", "Path": "b/k"})
    held = state_backend.parse_lock_info(raw)
    assert (held.id, held.operation, held.who, held.path) == (
        "abc", "OperationTypeApply", "me@host", "b/k")
    assert held.age_s is not None and held.age_s >= 0
    assert held.unreadable == ""


def test_malformed_info_is_still_a_lock_marked_unreadable() -> None:
    held = state_backend.parse_lock_info("{not json")
    assert held.unreadable.startswith("Info is not JSON")
    assert (held.id, held.who, held.operation, held.created, held.age_s) == ("", "", "", "", None)


def test_info_that_is_not_an_object_is_unreadable() -> None:
    held = state_backend.parse_lock_info("[1, 2]")
    assert held.unreadable == "Info is not a JSON object"
