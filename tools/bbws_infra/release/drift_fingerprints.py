"""Stable names for drift: a fingerprint per drifted address and a signature per component.

The same drift gives the same fingerprint on every run and machine (nothing in it depends on
time, order or paths); any change of the drifted attributes or their values (before or after)
gives a new one. Sensitive values enter only as "(sensitive)", so a fingerprint never carries a
digest of a secret. The signature of a component is what the triage compares between runs: the
fingerprints of its drift nobody accepted, so drift accepted in the allowlist is no change.
"""

from __future__ import annotations

import hashlib
import json

from bbws_infra.release.drift import Drift

FINGERPRINT_LENGTH = 16  # hex digits: 64 bits, plenty for the addresses of one component


def fingerprint(env_name: str, drift: Drift) -> str:
    """The drift of one address in one env, as 16 hex digits."""
    parts = [env_name, drift.component, drift.address, drift.action,
             sorted((change.path, change.values_sha256 or f"{change.before}\0{change.after}")
                    for change in drift.changes)]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:FINGERPRINT_LENGTH]


def signature(env_name: str, found: list[Drift]) -> str:
    """The component's drift that nobody accepted, as one digest ("" when there is none)."""
    prints = sorted(fingerprint(env_name, d) for d in found if d.allowed_by is None)
    if not prints:
        return ""
    return hashlib.sha256(" ".join(prints).encode()).hexdigest()[:FINGERPRINT_LENGTH]
