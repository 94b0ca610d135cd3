"""The Mustache tags of a template: each tag with its exact line (Tag, tokenize) and which
declared variable paths they use (resolve), with Mustache's context stack for sections."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bbws_infra.core.findings import Finding

NAME = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*|\.")
FORBIDDEN_TAGS = {
    ">": "partial {{>...}} is not allowed: S3 consumers render each file alone",
    "=": "delimiter change {{=...=}} is not allowed",
}


@dataclass(frozen=True)
class Tag:
    """One Mustache tag; line is 1-based.

    kind is '#', '^' or '/' for sections, '' for an escaped variable {{var}}, '{' or '&' for an
    unescaped one ({{{var}}}, {{&var}}).
    """

    kind: str
    name: str
    line: int

    def __str__(self) -> str:
        """The tag as written in a template, e.g. {{#items}} or {{{name}}}."""
        if self.kind == "{":
            return "{{{" + self.name + "}}}"
        return "{{" + self.kind + self.name + "}}"


def tokenize(source: str, file: str) -> tuple[list[Tag], list[Finding]]:
    """Mustache tags of `source` (the text of `file`) and its syntax errors, with exact lines."""
    tags: list[Tag] = []
    errors: list[Finding] = []
    open_sections: list[Tag] = []
    pos = 0
    while (start := source.find("{{", pos)) != -1:
        line = source.count("\n", 0, start) + 1
        end = source.find("}}", start + 2)
        if end == -1:
            errors.append(Finding(file, line, "unclosed tag: '{{' without '}}'"))
            break
        body, pos = source[start + 2 : end], end + 2
        kind = body[:1] if body[:1] in {"#", "^", "/", "!", "{", "&", *FORBIDDEN_TAGS} else ""
        name = body[len(kind) :].strip()
        if kind == "!":
            continue
        if kind == "{" and not source.startswith("}", pos):
            errors.append(Finding(file, line, "triple mustache '{{{' must be closed with '}}}'"))
        elif kind in FORBIDDEN_TAGS:
            errors.append(Finding(file, line, FORBIDDEN_TAGS[kind]))
        elif not NAME.fullmatch(name):
            errors.append(Finding(file, line, f"invalid tag name {name!r}"))
        elif kind in {"#", "^"}:
            open_sections.append(Tag(kind, name, line))
            tags.append(open_sections[-1])
        elif kind == "/":
            names = [tag.name for tag in open_sections]
            if name not in names:
                errors.append(Finding(file, line,
                                      f"{{{{/{name}}}}} closes a section that is not open"))
                continue
            if names[-1] != name:
                top = open_sections[-1]
                errors.append(Finding(file, line, f"{{{{/{name}}}}} closes '{name}' while "
                                      f"section '{top.name}' (line {top.line}) is still open"))
            while open_sections.pop().name != name:
                pass
            tags.append(Tag(kind, name, line))
        else:
            pos += kind == "{"  # the third closing brace
            tags.append(Tag(kind, name, line))
    errors += [Finding(file, tag.line, f"section '{tag.name}' is never closed")
               for tag in open_sections]
    return tags, sorted(errors)


def resolve(tags: list[Tag], declared: set[str]) -> tuple[dict[str, int], list[tuple[int, str]]]:
    """Declared paths used (path -> first line) and undeclared uses (line, path); tags balanced."""
    used: dict[str, int] = {}
    unknown: list[tuple[int, str]] = []
    scopes: list[str | None] = []  # an inverted section opens no context, hence None
    for tag in tags:
        if tag.kind == "/":
            scopes.pop()
            continue
        inner = [scope for scope in reversed(scopes) if scope]
        if tag.name == ".":
            path = inner[0] if inner else "."
        else:
            candidates = [f"{scope}.{tag.name}" for scope in inner] + [tag.name]
            path = next((c for c in candidates if c in declared), candidates[0])
        if path in declared:
            used.setdefault(path, tag.line)
        else:
            unknown.append((tag.line, path))
        if tag.kind in {"#", "^"}:
            scopes.append(path if tag.kind == "#" else None)
    return used, unknown
