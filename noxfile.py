"""Sessions CI runs (`nox` with no arguments runs the defaults, exactly as the README says).

`lint` and `tests` run in the environment the README's set-up command created, so they test
that very install; `scan` needs its own because the scanners pin old shared libraries.
"""

import sys

import nox

# The interpreter nox runs in: the README's .venv, whether or not it is activated.
PYTHON = sys.executable

nox.options.sessions = ["lint", "tests", "scan"]
nox.options.error_on_missing_interpreters = True


@nox.session(venv_backend="none")
def lint(session: nox.Session) -> None:
    """ruff and terraform fmt."""
    session.run(PYTHON, "-m", "ruff", "check", ".")
    session.run(PYTHON, "-m", "invoke", "fmt")


@nox.session(venv_backend="none")
def tests(session: nox.Session) -> None:
    """terraform validate, then pytest: unit tests and the end-to-end tests on the sandbox."""
    session.run(PYTHON, "-m", "invoke", "validate")
    session.run(PYTHON, "-m", "pytest", "-q", *session.posargs)


@nox.session
def scan(session: nox.Session) -> None:
    """checkov and Trivy over every root and module; a finding not skipped in code fails."""
    session.install("-e", ".[scan]")
    session.run("python", "-m", "bbws_infra.scan")
