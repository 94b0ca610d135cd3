"""Costs moto's server pays again for every request, not paid again in the sandbox.

- To route a request, moto's dispatcher asks whether the Host names one of moto's service
  packages (moto.backends.list_of_moto_modules), and that lists moto's installation directory
  and stats each of its ~200 entries, for every request. The directory does not change while
  the server runs, so the sandbox lists it once, when first asked, and answers from that list;
  the names, their order and the routing are the same.
- To find the operation a request names, moto lists every function of the service's response
  class (inspect.getmembers: every attribute of the class and its bases, 0.1 to 0.25 ms a
  request) and asks whether the operation is among them. The sandbox asks the class for that
  one name instead: a function there is exactly what the listing would have held, looked up
  when the request comes, so it is never out of date.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Iterable

from moto import backends
from moto.core import responses

_original_list = backends.list_of_moto_modules
# the name moto's call_action looks the listing up by, in its own module
_LISTING = "method_names_from_class"
_original_method_names = getattr(responses, _LISTING)


@functools.cache
def _listed() -> tuple[str, ...]:
    return tuple(_original_list())


def list_of_moto_modules() -> Iterable[str]:
    """moto's service packages, as moto lists them (once per process)."""
    return iter(_listed())


class MethodNames:
    """The names of a class's functions, as moto lists them, for `name in ...` only."""

    def __init__(self, clazz: object) -> None:
        self.clazz = clazz

    def __contains__(self, name: object) -> bool:
        # inspect.getmembers lists dir(clazz) with getattr(clazz, name) for each name
        return isinstance(name, str) and inspect.isfunction(getattr(self.clazz, name, None))


def apply() -> None:
    """Pay these costs once from now on (idempotent; this process only)."""
    backends.list_of_moto_modules = list_of_moto_modules
    setattr(responses, _LISTING, MethodNames)


def is_applied() -> bool:
    return (backends.list_of_moto_modules is list_of_moto_modules
            and getattr(responses, _LISTING) is MethodNames)


def remove() -> None:
    backends.list_of_moto_modules = _original_list
    setattr(responses, _LISTING, _original_method_names)
