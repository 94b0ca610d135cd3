"""One shape for every validator's complaints, so tasks print them the same way."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Finding:
    """A problem in one file. `where` is a JSON path ($.x-dynamodb.hashKey) or a line (line 12)."""

    file: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.where}: {self.message}"
