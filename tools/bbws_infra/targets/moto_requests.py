"""A cost moto's server pays again for every request, paid once in the sandbox.

To route a request, moto's dispatcher asks whether the Host names one of moto's service packages
(moto.backends.list_of_moto_modules), and that lists moto's installation directory and stats
each of its ~200 entries, for every request. The directory does not change while the server
runs, so the sandbox lists it once, when first asked, and answers from that list; the names,
their order and the routing are the same.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

from moto import backends

_original_list = backends.list_of_moto_modules


@functools.cache
def _listed() -> tuple[str, ...]:
    return tuple(_original_list())


def list_of_moto_modules() -> Iterable[str]:
    """moto's service packages, as moto lists them (once per process)."""
    return iter(_listed())


def apply() -> None:
    """List moto's packages once from now on (idempotent; this process only)."""
    backends.list_of_moto_modules = list_of_moto_modules


def is_applied() -> bool:
    return backends.list_of_moto_modules is list_of_moto_modules


def remove() -> None:
    backends.list_of_moto_modules = _original_list
