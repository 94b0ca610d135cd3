"""Sessions CI runs (`nox` with no arguments runs the defaults, exactly as the README says).

`lint` and `tests` run in the environment the README's set-up command created, so they test
that very install; `scan` needs its own because the scanners pin old shared libraries.
"""

import nox

nox.options.sessions = ["lint", "tests"]
nox.options.error_on_missing_interpreters = True


@nox.session(venv_backend="none")
def lint(session: nox.Session) -> None:
    """ruff and terraform fmt."""
    session.run("ruff", "check", ".")
    session.run("invoke", "fmt")


@nox.session(venv_backend="none")
def tests(session: nox.Session) -> None:
    """terraform validate, then pytest: unit tests and the end-to-end tests on the sandbox."""
    session.run("invoke", "validate")
    session.run("pytest", "-q", *session.posargs)
