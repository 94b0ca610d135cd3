"""The repository's Markdown as the docs checks read it: which files, their fenced blocks, their
links and the anchors their headings make (GitHub's rules)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# Run-time data, installed tools and test fixtures (which hold deliberately broken docs).
_SKIPPED_DIRS = frozenset({".git", ".venv", ".nox", "build", "node_modules", "tests",
                           ".terraform", ".pytest_cache", ".ruff_cache"})
_FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([\w+-]*)")
_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)|!\[[^\]]*\]\(([^)\s]+)\)")
_INLINE_CODE = re.compile(r"(`+)(.+?)\1")


@dataclass(frozen=True)
class Block:
    """A fenced block: its language, the line of its opening fence and its lines."""

    language: str
    line: int
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def files(root: Path) -> list[Path]:
    """Every Markdown file of the tree: README.md, docs/ and the READMEs beside the code."""
    found = []
    for directory, subdirs, names in os.walk(root):
        subdirs[:] = [d for d in subdirs if d not in _SKIPPED_DIRS]
        found += [Path(directory) / n for n in names if n.endswith(".md")]
    return sorted(found)


def _closes(line: str, fence: str) -> bool:
    """A closing fence: the same character, at least as many, nothing else on the line."""
    stripped = line.strip()
    return len(stripped) >= len(fence) and set(stripped) == {fence[0]}


def split(text: str) -> tuple[list[Block], list[tuple[int, str]]]:
    """One pass over the document: its fenced blocks (an unclosed fence runs to the end, as
    GitHub shows it) and its prose lines, each with its line number."""
    found: list[Block] = []
    prose: list[tuple[int, str]] = []
    current: list[str] = []
    fence, language, start = "", "", 0
    for number, line in enumerate(text.splitlines(), start=1):
        match = _FENCE.match(line)
        if not fence and match:
            fence, language, start, current = match.group(2), match.group(3).lower(), number, []
        elif fence and _closes(line, fence):
            found.append(Block(language, start, tuple(current)))
            fence = ""
        elif fence:
            current.append(line)
        else:
            prose.append((number, line))
    if fence:
        found.append(Block(language, start, tuple(current)))
    return found, prose


def blocks(text: str) -> list[Block]:
    """The fenced blocks of a document."""
    return split(text)[0]


def prose_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) of every line outside fenced blocks."""
    return split(text)[1]


def inline_code(line: str) -> list[str]:
    """The code spans of one line of prose."""
    return [match.group(2).strip() for match in _INLINE_CODE.finditer(line)]


def links(text: str) -> Iterator[tuple[int, str]]:
    """(line, target) of every Markdown link and image outside code."""
    for number, line in prose_lines(text):
        bare = _INLINE_CODE.sub("", line)
        for match in _LINK.finditer(bare):
            yield number, match.group(1) or match.group(2)


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`|\*\*|__", "", heading.strip().lower())
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every anchor the document's headings make (repeats get -1, -2, ... as on GitHub)."""
    seen: dict[str, int] = {}
    result = set()
    for _, line in prose_lines(text):
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not match:
            continue
        base = slug(match.group(1))
        count = seen.get(base, 0)
        result.add(base if count == 0 else f"{base}-{count}")
        seen[base] = count + 1
    for match in re.finditer(r'<a\s+(?:name|id)="([^"]+)"', text):
        result.add(match.group(1))
    return result
