"""One shape for every problem found in a file (a validator's, a gate's, the docs checker's, a
broken input file's), so tasks print and report them the same way."""

from __future__ import annotations

from dataclasses import dataclass

from bbws_infra.core.untyped import JsonObject


@dataclass(frozen=True)
class Finding:
    """A problem in one file: its line (None when unknown, 0 for the file as a whole) and, for
    a problem at a value inside a JSON or YAML document, that value's JSON path
    ($.x-dynamodb.hashKey). A gate's findings also name the rule that found them, its
    severity, and whether they block (False for advice, e.g. Trivy's LOW and MEDIUM)."""

    file: str
    line: int | None
    message: str
    rule: str = ""
    severity: str = "ERROR"
    blocking: bool = True
    path: str = ""

    @classmethod
    def at_path(cls, file: str, path: str, message: str) -> Finding:
        """A problem at the value a JSON path ($.templates[0].subject) names in file."""
        return cls(file, None, message, path=path)

    @property
    def where(self) -> str:
        """The place as the validators print it: the JSON path, else `line N`."""
        return self.path or f"line {self.line}"

    def __str__(self) -> str:
        if self.rule:
            return f"{self.file}:{self.line}: [{self.rule} {self.severity}] {self.message}"
        return f"{self.file}: {self.where}: {self.message}"

    def located(self) -> str:
        """`<file>:<line>: <sentence>` (`<file>: <sentence>` without a line)."""
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.message}"

    def sort_key(self) -> tuple[str, int, str, str, str]:
        return (self.file, self.line or 0, self.path, self.rule, self.message)

    def __lt__(self, other: Finding) -> bool:
        return self.sort_key() < other.sort_key()

    def as_json(self) -> JsonObject:
        """A gate finding for machines (`invoke check --json`)."""
        return {"file": self.file, "line": self.line or 0, "rule": self.rule,
                "severity": self.severity, "message": self.message, "blocking": self.blocking}
