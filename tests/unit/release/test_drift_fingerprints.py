"""Fingerprints of drift: the same drift gives the same one whatever the order of the plan's
keys, any change of attributes or values (even past the 60 characters the report shows) gives
a new one, no secret enters one, and a component's signature ignores allowlisted drift. The
results written for drift (health_results) carry them."""

from __future__ import annotations

import json
from dataclasses import replace

from bbws_infra.release import drift
from bbws_infra.release.drift import AllowEntry
from bbws_infra.release.drift_fingerprints import fingerprint, signature
from tests.unit.release.test_drift import TABLE, TABLE_AFTER, TABLE_BEFORE, _drift, _plan


def _found(before: dict, after: dict, **masks: object) -> drift.Drift:
    (found,) = drift.drifts("tenants", _plan(_drift(TABLE, ["update"], before, after,
                                                    **masks)))
    return found


def _reordered(value: dict) -> dict:
    return json.loads(json.dumps(dict(reversed(list(value.items())))))


def test_the_same_drift_has_the_same_fingerprint_on_every_run():
    first = _found(TABLE_BEFORE, TABLE_AFTER)
    again = _found(_reordered(TABLE_BEFORE), _reordered(TABLE_AFTER))
    assert fingerprint("dev", first) == fingerprint("dev", again)
    assert len(fingerprint("dev", first)) == 16
    # a known value: nothing in it depends on the machine, the time or the process
    assert fingerprint("dev", first) == fingerprint("dev", _found(TABLE_BEFORE, TABLE_AFTER))


def test_another_value_attribute_or_env_is_another_fingerprint():
    base = fingerprint("dev", _found(TABLE_BEFORE, TABLE_AFTER))
    tagged = {**TABLE_AFTER, "tags": {**TABLE_AFTER["tags"], "Owner": "ops"}}
    assert fingerprint("dev", _found(TABLE_BEFORE, tagged)) != base
    assert fingerprint("sit", _found(TABLE_BEFORE, TABLE_AFTER)) != base
    # values that differ only after the 60 characters the report shows
    long_before = {**TABLE_BEFORE, "stream_view_type": "x" * 70 + "a"}
    one = _found(long_before, {**long_before, "stream_view_type": "x" * 70 + "b"})
    other = _found(long_before, {**long_before, "stream_view_type": "x" * 70 + "c"})
    assert one.changes[0].after == other.changes[0].after  # the same text is shown
    assert fingerprint("dev", one) != fingerprint("dev", other)


def test_no_digest_of_a_secret_enters_a_fingerprint():
    masks = {"before_sensitive": {"password": True}, "after_sensitive": {"password": True}}
    one = _found({**TABLE_BEFORE, "password": "a"}, {**TABLE_BEFORE, "password": "b"}, **masks)
    other = _found({**TABLE_BEFORE, "password": "a"}, {**TABLE_BEFORE, "password": "c"},
                   **masks)
    assert (one.changes[0].before, one.changes[0].after) == ("(sensitive)", "(sensitive)")
    assert fingerprint("dev", one) == fingerprint("dev", other)


def test_the_signature_is_the_drift_nobody_accepted():
    found = _found(TABLE_BEFORE, TABLE_AFTER)
    entry = AllowEntry("*", "tenants", TABLE, (), "a test", 1)
    assert signature("dev", [replace(found, allowed_by=entry)]) == ""
    assert signature("dev", []) == ""
    mine = signature("dev", [found])
    assert mine and signature("dev", [found, replace(found, address="x.y", allowed_by=entry)]
                              ) == mine
