"""Errors the tasks turn into one sentence and an exit code, never a traceback."""

from __future__ import annotations


class UserError(Exception):
    """Bad input or a refused operation: nothing was started. Exit code 2."""

    exit_code = 2


class OperationError(Exception):
    """Something we started failed (Terraform, the emulator, AWS). Exit code 1."""

    exit_code = 1

    def __init__(self, message: str, details: str = "") -> None:
        super().__init__(message)
        self.details = details
