"""Errors the tasks turn into one sentence and an exit code, never a traceback."""

from __future__ import annotations

from bbws_infra.core.findings import Finding


class UserError(Exception):
    """Bad input or a refused operation: nothing was started. Exit code 2."""

    exit_code = 2


class OperationError(Exception):
    """Something we started failed (Terraform, the emulator, AWS). Exit code 1."""

    exit_code = 1

    def __init__(self, message: str, details: str = "") -> None:
        super().__init__(message)
        self.details = details


class NothingApplied(OperationError):
    """A run stopped before Terraform changed anything (it lost a race to another apply): it is
    recorded as such and withdraws no earlier verification. Exit code 1."""


class InputFileError(UserError):
    """A file the tasks read (tfvars, schema, contract, template, usage, allowlist) is broken.

    Raised before anything starts; printed as `<file>:<line>: <sentence>`. Exit code 2."""

    def __init__(self, file: str, line: int | None, message: str) -> None:
        self.file = file
        self.line = line
        self.message = message
        super().__init__(self.finding.located())

    @property
    def finding(self) -> Finding:
        """The problem as every checker reports one."""
        return Finding(self.file, self.line, self.message)
