"""Sessions CI runs (`nox` with no arguments runs the defaults, exactly as the README says).

Both run in the environment the README's set-up command created, so they check that very
install, and each is one command a person can also type:

- check: `invoke check`, every static gate (fmt, validate, tfsec, checkov, lint-workflows,
  ruff, mypy, docs, diagrams), failing too when the gates changed the repository's files;
  the scanners install themselves into their own environment under the work directory on
  first use, because they pin old versions of libraries the task runner shares.
- tests: pytest, unit and end-to-end tests, one worker per core (pass pytest arguments after
  `--`).
"""

import sys

import nox

# The interpreter nox runs in: the README's .venv, whether or not it is activated.
PYTHON = sys.executable

nox.options.sessions = ["check", "tests"]
nox.options.error_on_missing_interpreters = True


@nox.session(venv_backend="none")
def check(session: nox.Session) -> None:
    """Every static gate, one summary table; fails when a blocking gate fails."""
    session.run(PYTHON, "-m", "invoke", "check")


@nox.session(venv_backend="none")
def tests(session: nox.Session) -> None:
    """pytest: unit tests and the end-to-end tests on the sandbox."""
    # One worker per core, each test module on one worker (module fixtures share a sandbox);
    # the ten slowest tests are listed at the end. tests/conftest.py hands out the files
    # longest first by their measured seconds (tests/support/file_seconds.json), so the
    # workers finish together.
    session.run(PYTHON, "-m", "pytest", "-q", "-n", "auto", "--dist", "loadfile",
                "--durations=10", *session.posargs)
