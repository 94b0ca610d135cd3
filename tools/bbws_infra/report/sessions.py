"""Sessions for the page's many small reads: one per env, each handing out one client per
service and region. The ledger and state readers ask their session for a client on every
call, and making a botocore client costs more than the read itself; the envs are read in
parallel threads, so handing out is locked (clients are thread-safe, making them is not)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from bbws_infra.core.registry import Environment
from bbws_infra.core.untyped import Client, Session


class ReusingSession:
    """A session that makes each (service, region) client once."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._clients: dict[tuple[str, str | None], Client] = {}
        self._lock = threading.Lock()

    def client(self, service: str, /, region_name: str | None = None) -> Client:
        with self._lock:
            key = (service, region_name)
            if key not in self._clients:
                self._clients[key] = self._session.client(service, region_name=region_name)
            return self._clients[key]


def reusing(session_for: Callable[[Environment], Session]
            ) -> Callable[[Environment], Session]:
    """session_for, made once per env (a failure is not kept: it is raised each time)."""
    made: dict[str, Session] = {}
    lock = threading.Lock()

    def one(env: Environment) -> Session:
        with lock:
            if env.name not in made:
                made[env.name] = ReusingSession(session_for(env))
            return made[env.name]

    return one
