"""Parsers: each tool's output (and the input validators' findings) as Findings with file
and line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from bbws_infra.core.findings import Finding
from bbws_infra.core.paths import relative_name
from bbws_infra.core.untyped import JsonObject, JsonPath

if TYPE_CHECKING:
    pass
from bbws_infra.gates.scanners import BLOCKING_SEVERITIES

# ---- parsers: tool output -> findings ----------------------------------------------------

# json.decoder.scanstring (there since Python 2.6) is missing from typeshed's stub of the module
_scanstring: Callable[[str, int], tuple[str, int]]
_scanstring = json.decoder.scanstring  # type: ignore[attr-defined]

_DIAGNOSTIC_START = re.compile(r"^(Error|Warning): (.*)$")
_DIAGNOSTIC_AT = re.compile(r"^\s*on (\S+) line (\d+)")


def parse_fmt_diff(text: str) -> list[Finding]:
    """`terraform fmt -check -diff` output: one finding per file, at its first changed line."""
    findings = []
    file = None
    old_line = 0
    reported = set()
    for line in text.splitlines():
        if line.startswith("--- old/"):
            file = line[len("--- old/"):]
        elif line.startswith("+++ "):
            continue
        elif line.startswith("@@"):
            match = re.match(r"@@ -(\d+)", line)
            old_line = int(match.group(1)) if match else 1
        elif file and file not in reported and line.startswith(("-", "+")):
            findings.append(Finding(file, old_line,
                                    "not in canonical format; run: invoke fmt --fix",
                                    rule="terraform-fmt"))
            reported.add(file)
        elif file and line.startswith(" "):
            old_line += 1
    return findings


def parse_terraform_diagnostics(text: str, directory: str, rule: str) -> list[Finding]:
    """Terraform's human-readable diagnostics (the boxed `Error: ...` blocks), with the
    `on <file> line <n>` of each; files are relative to directory."""
    blocks: list[list[str]] = []
    for raw in text.splitlines():
        line = raw.lstrip("│╷╵ ").rstrip() if raw[:1] in "│╷╵" else raw.rstrip()
        if _DIAGNOSTIC_START.match(line):
            blocks.append([line])
        elif blocks:
            blocks[-1].append(line)
    findings = []
    for block in blocks:
        start = _DIAGNOSTIC_START.match(block[0])
        if start is None:  # never: each block begins at a line that matched
            continue
        kind, summary = start.groups()
        file, line_no = directory, 0
        detail = []
        for text_line in block[1:]:
            at = _DIAGNOSTIC_AT.match(text_line)
            if at:
                file, line_no = f"{directory}/{at.group(1)}", int(at.group(2))
            elif text_line.strip() and not re.match(r"^\s*\d+:", text_line):
                detail.append(text_line.strip())
        message = summary + (f": {' '.join(detail)}" if detail else "")
        findings.append(Finding(file, line_no, message, rule=rule, severity=kind.upper(),
                                blocking=kind == "Error"))
    return findings


def parse_trivy(report: JsonObject) -> list[Finding]:
    """`trivy config --format json`; blocking on HIGH and CRITICAL, the rest is advice."""
    findings = []
    for result in report.get("Results") or []:
        for item in result.get("Misconfigurations") or []:
            if item.get("Status", "FAIL") != "FAIL":
                continue
            cause = item.get("CauseMetadata") or {}
            severity = str(item.get("Severity", "UNKNOWN")).upper()
            resource = cause.get("Resource")
            message = item.get("Message") or item.get("Title") or ""
            findings.append(Finding(result.get("Target", "."), int(cause.get("StartLine") or 0),
                                    f"{message} ({resource})" if resource else message,
                                    rule=item.get("AVDID") or item.get("ID", "trivy"),
                                    severity=severity, blocking=severity in BLOCKING_SEVERITIES))
    return findings


def parse_tfsec(report: JsonObject) -> list[Finding]:
    """`tfsec --format json`; same severity rule as Trivy (which took over tfsec's checks)."""
    findings = []
    for item in report.get("results") or []:
        if item.get("status", 0) != 0:  # 0 failed, 1 passed, 2 ignored
            continue
        location = item.get("location") or {}
        severity = str(item.get("severity", "UNKNOWN")).upper()
        resource = item.get("resource")
        message = item.get("description") or item.get("rule_description") or ""
        findings.append(Finding(location.get("filename", "."), int(location.get("start_line") or 0),
                                f"{message} ({resource})" if resource else message,
                                rule=item.get("rule_id") or item.get("long_id", "tfsec"),
                                severity=severity, blocking=severity in BLOCKING_SEVERITIES))
    return findings


def parse_checkov(report: JsonObject | list[JsonObject]) -> tuple[list[Finding], int]:
    """`checkov -o json`: every failed check blocks, and so does a file checkov could not
    parse (it was not scanned). Returns (findings, checks skipped in code)."""
    findings, skipped = [], 0
    for part in report if isinstance(report, list) else [report]:
        results = part.get("results") or {}
        summary = part.get("summary") or {}
        skipped += int(summary.get("skipped", 0))
        unparsed = results.get("parsing_errors") or []
        findings += [Finding(str(path), 0,
                             "checkov could not parse this file, so it was not scanned",
                             rule="checkov:parse")
                     for path in unparsed]
        if int(summary.get("parsing_errors", 0)) > len(unparsed):
            findings.append(Finding(".", 0, f"{summary['parsing_errors']} file(s) did not parse",
                                    rule="checkov:parse"))
        for item in results.get("failed_checks") or []:
            lines = item.get("file_line_range") or [0]
            severity = str(item.get("severity") or "ERROR").upper()
            # file_path is relative to the scanned dir with a leading "/"; the absolute one
            # is unambiguous when a module lies outside it.
            file = item.get("file_abs_path") or str(item.get("file_path", ".")).lstrip("/")
            findings.append(Finding(file, int(lines[0]),
                                    f"{item.get('check_name', '')} ({item.get('resource', '')})",
                                    rule=item.get("check_id", "checkov"), severity=severity))
    return findings, skipped


def parse_actionlint(report: list[JsonObject]) -> list[Finding]:
    """actionlint -format '{{json .}}'."""
    return [Finding(item.get("filepath", "."), int(item.get("line") or 0), item.get("message", ""),
                    rule=f"actionlint:{item.get('kind', 'error')}")
            for item in report]


def parse_zizmor(report: list[JsonObject]) -> list[Finding]:
    """zizmor --format json: each finding at its primary location (rows count from 0)."""
    findings = []
    for item in report:
        if item.get("ignored"):
            continue
        locations = item.get("locations") or []
        primary = next((loc for loc in locations
                        if (loc.get("symbolic") or {}).get("kind") == "Primary"),
                       locations[0] if locations else {})
        symbolic = primary.get("symbolic") or {}
        key = symbolic.get("key") or {}
        file = (key.get("Local") or {}).get("verbatim_path") or str(key or ".")
        point = ((primary.get("concrete") or {}).get("location") or {}).get("start_point") or {}
        annotation = symbolic.get("annotation")
        desc = item.get("desc", "")
        severity = str((item.get("determinations") or {}).get("severity", "Unknown")).upper()
        findings.append(Finding(file, int(point.get("row", -1)) + 1,
                                f"{desc}: {annotation}" if annotation else desc,
                                rule=f"zizmor:{item.get('ident', 'finding')}", severity=severity))
    return findings


def parse_ruff(report: list[JsonObject], root: Path) -> list[Finding]:
    """ruff check --output-format json."""
    return [Finding(relative_name(Path(item.get("filename", ".")), root),
                    int((item.get("location") or {}).get("row") or 0), item.get("message", ""),
                    rule=item.get("code") or "syntax")
            for item in report]


def parse_mypy(text: str) -> list[Finding]:
    """mypy --output json: one JSON object per line; errors block (notes only explain them)."""
    findings = []
    for raw in text.splitlines():
        if not raw.startswith("{"):
            continue
        item = json.loads(raw)
        if item.get("severity") != "error":
            continue
        hint = item.get("hint")
        message = str(item.get("message", "")) + (f" ({hint})" if hint else "")
        findings.append(Finding(str(item.get("file", ".")), int(item.get("line") or 0), message,
                                rule=f"mypy:{item.get('code') or 'error'}"))
    return findings


def json_path_line(text: str, where: str) -> int:
    """The line of a JSON path such as $.templates[3].subject in a JSON document, or of its
    nearest ancestor found; 0 when the document does not parse."""
    wanted = tuple(int(i) if i else k or q for k, i, q in
                   re.findall(r"\.([^.\[\]]+)|\[(\d+)\]|\['([^']*)'\]", where))
    lines: dict[JsonPath, int] = {}
    try:
        _index_json(text, _skip(text, 0), (), lines)
    except (ValueError, IndexError):
        return 0
    for size in range(len(wanted), -1, -1):
        if wanted[:size] in lines:
            return lines[wanted[:size]]
    return 0


def _skip(text: str, at: int) -> int:
    while at < len(text) and text[at] in " \t\r\n":
        at += 1
    return at


def _index_json(text: str, at: int, path: JsonPath, lines: dict[JsonPath, int]) -> int:
    """Record the line where each value starts; returns the offset after the value."""
    lines[path] = text.count("\n", 0, at) + 1
    char = text[at]
    if char in "{[":
        closing, index = ("}" if char == "{" else "]"), 0
        at = _skip(text, at + 1)
        while text[at] != closing:
            if char == "{":
                key, at = _scanstring(text, at + 1)
                at = _skip(text, at)
                if text[at] != ":":
                    raise ValueError("expected ':'")
                at = _index_json(text, _skip(text, at + 1), (*path, key), lines)
            else:
                at = _index_json(text, at, (*path, index), lines)
                index += 1
            at = _skip(text, at)
            if text[at] == ",":
                at = _skip(text, at + 1)
        return at + 1
    if char == '"':
        return _scanstring(text, at + 1)[1]
    match = re.compile(r"[^,\]\}\s]+").match(text, at)
    if not match:
        raise ValueError("unexpected character")
    return match.end()


def from_validator(finding: Finding, root: Path, rule: str) -> Finding:
    """A schema or template validator's finding as a gate's: at its line, or, for a value at a
    JSON path, at the line of that path in the JSON file (0 when not found), the path leading
    the message."""
    if not finding.path:
        return replace(finding, line=finding.line or 0, rule=rule, severity="ERROR")
    line = 0
    path = root / finding.file
    if path.suffix == ".json" and path.is_file():
        line = json_path_line(path.read_text(encoding="utf-8", errors="replace"), finding.path)
    return Finding(finding.file, line, f"{finding.path}: {finding.message}", rule=rule)
