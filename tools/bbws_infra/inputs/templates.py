"""Check and render the email templates of the bbws-templates-<env> bucket.

`s3/templates/contracts.json` is the single source of template variables. Every entry of a
contract's `variables` is a data path into the render context, segments joined by dots: a top-level
value is its bare name (`orderNumber`), a section its name (`items`), a value read inside a section
`section.member` (`items.name`), a dotted tag as written (`billingAddress.city`). A tag inside
sections resolves like Mustache's context stack: innermost section first, then outwards.

Escaping follows the part: an HTML part writes every value `{{var}}` (HTML-escaped) and a
plain-text part `{{{var}}}` (unescaped), because a standard Mustache renderer HTML-escapes `{{var}}`
and a text email would show `&amp;` and `&lt;` literally. Every template ends in a legal footer with
the company address; customer templates also carry an unsubscribe link, internal ones must not.

Every finding names the file relative to the repository and either `line N` of that file (lines are
counted in the source, never in a rewritten copy) or a JSON path into contracts.json.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import chevron
import html5lib
import jsonschema
from html5lib.constants import E as HTML5LIB_MESSAGES

from bbws_infra.core.findings import Finding
from bbws_infra.core.paths import REPO_ROOT
from bbws_infra.core.untyped import Json, JsonObject
from bbws_infra.inputs.mustache import Tag, resolve, tokenize

TEMPLATE_ROOT = Path("s3/templates")
CONTRACTS = TEMPLATE_ROOT / "contracts.json"
SCHEMA = TEMPLATE_ROOT / "contracts.schema.json"
KEY_ROOT = TEMPLATE_ROOT / "templates"  # the layout below this folder is the S3 key
MAX_BYTES = 102 * 1024  # Gmail clips messages from 102 KB
MAX_WIDTH = 600
UNSUBSCRIBE = re.compile(r"\{\{\s*unsubscribeUrl\s*\}\}")
# any spelling of the address tag, so a wrongly escaped one is reported once (as escaping)
COMPANY_ADDRESS = re.compile(r"\{\{[{&]?\s*companyAddress\s*\}?\}\}")
# an unsubscribe link that does not use the variable: a hard-coded preferences URL or link text
UNSUBSCRIBE_WORDS = re.compile(r"unsubscribe|email-preferences|opt-out", re.I)
TEXT_LINK = re.compile(r"https?://|\{\{")
SIGNATURE = re.compile(r"-- ?")  # the plain-text footer starts below this line (RFC 3676)
MUSTACHE = re.compile(r"\{\{(\{.*?\}|.*?)\}\}", re.S)
PIXELS = re.compile(r"(?:^|[;\s])width\s*:\s*(\d+)px", re.I)
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
TABLE_CONTEXT = {"table", "thead", "tbody", "tfoot", "tr"}
VARIABLE_KINDS = {"", "{", "&"}  # {{var}}, {{{var}}}, {{&var}}
INTERNAL_UNSUBSCRIBE = ("internal template must not have an unsubscribe link: staff cannot opt "
                        "out of operational mail")

Contract = JsonObject


def neutralise(source: str) -> str:
    """`source` with Mustache tags masked for an HTML parser, every character kept in place.

    Section, inverted, closing and comment tags render no text, but between <tr>s they are text
    in table context, which HTML parses as an error (and browsers move out of the table): they
    become spaces, which are allowed there. Variable tags do render text, so they become letters:
    a variable between rows is still reported, one in an attribute stays a value. Newlines stay,
    so lines and columns of parser errors are those of the source.
    """

    def mask(match: re.Match[str]) -> str:
        fill = " " if match.group(1)[:1] in {"#", "^", "/", "!"} else "x"
        return re.sub(r"[^\n]", fill, match.group(0))

    return MUSTACHE.sub(mask, source)


def parse_errors(source: str, file: str) -> list[Finding]:
    """html5lib parse errors of the neutralised source (the text of `file`); also the doctype."""
    masked = neutralise(source)
    errors = []
    if not masked.lstrip().lower().startswith("<!doctype html>"):
        errors.append(Finding(file, masked[: len(masked) - len(masked.lstrip())].count("\n") + 1,
                              "the file must start with <!DOCTYPE html>"))
    parser = html5lib.HTMLParser(strict=False)  # strict=True stops at the first error
    parser.parse(masked)
    for (line, _column), code, data in parser.errors:
        message = HTML5LIB_MESSAGES.get(code, code) % (data or {})
        errors.append(Finding(file, line, f"HTML parse error: {message}"))
    return errors


class _Scan(HTMLParser):
    """Element-level checks on the raw source: email-unsafe markup, images, footer, banner."""

    def __init__(self, context: JsonObject, file: str) -> None:
        super().__init__(convert_charrefs=True)
        self.context = context
        self.file = file
        self.problems: list[Finding] = []
        self.open: list[str] = []
        self.lines: dict[str, int] = {}
        self.unsubscribe = False
        self.address = ""
        self.body_text = ""
        self.links: list[tuple[int, str, list[str]]] = []  # (line, href, text chunks)

    def report(self, line: int, message: str) -> None:
        self.problems.append(Finding(self.file, line, message))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        line, values = self.getpos()[0], {name: value or "" for name, value in attrs}
        if tag == "body":
            self.lines["body"] = line
        if tag == "script":
            self.report(line, "<script> is not allowed: email clients drop JavaScript")
        if tag == "style":
            self.report(line, "<style> block: use inline style attributes only")
        if tag == "link" and "stylesheet" in values.get("rel", "").lower():
            self.report(line, "<link rel=stylesheet> loads external CSS")
        for name, value in values.items():
            if name.startswith("on") or value.strip().lower().startswith("javascript:"):
                self.report(line, f"JavaScript in attribute {name} of <{tag}>")
        widths = [values.get("width", ""), *PIXELS.findall(values.get("style", ""))]
        if any(w.isdigit() and int(w) > MAX_WIDTH for w in widths):
            self.report(line, f"<{tag}> is wider than {MAX_WIDTH}px")
        if tag == "img":
            if not values.get("alt", "").strip():
                self.report(line, "<img> needs a non-empty alt text")
            if not chevron.render(values.get("src", ""), self.context).startswith("https://"):
                self.report(line, "<img> src must be an absolute https:// URL")
        if tag == "a":
            self.unsubscribe |= bool(UNSUBSCRIBE.search(values.get("href", "")))
            self.links.append((line, values.get("href", ""), []))
        if tag not in VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "body":
            self.lines["/body"] = self.getpos()[0]
        if tag in self.open:
            while self.open.pop() != tag:
                pass

    def handle_data(self, data: str) -> None:
        if "body" in self.open:
            self.body_text += data
        if "address" in self.open:
            self.address += data
        if "a" in self.open and self.links:
            self.links[-1][2].append(data)
        text = neutralise(data)
        if self.open and self.open[-1] in TABLE_CONTEXT and text.strip():
            line = self.getpos()[0] + text[: len(text) - len(text.lstrip())].count("\n")
            self.report(line, f"text directly inside <{self.open[-1]}> is moved out "
                        "of the table by browsers; put it in a <td>")


def markup_problems(source: str, contract: Contract, file: str) -> list[Finding]:
    """Email-safety, image, width, footer and banner problems of an HTML part (`file`).

    Legal footer: every template names the sender's postal address in an <address> element;
    customer mail must offer an unsubscribe link, internal mail must not (staff cannot opt out
    of operational notifications).
    """
    scan = _Scan(contract["sample_context"], file)
    scan.feed(source)
    scan.close()
    for number, text in enumerate(source.splitlines(), 1):
        if "@import" in text:
            scan.report(number, "@import loads external CSS")
    end = scan.lines.get("/body", source.count("\n") + 1)
    if not COMPANY_ADDRESS.search(scan.address):
        scan.report(end, "template needs the legal footer: the company address "
                         "{{companyAddress}} inside an <address> element")
    if contract["audience"] == "customer":
        if not scan.unsubscribe:
            scan.report(end, "customer template needs a footer unsubscribe "
                             'link: <a href="{{unsubscribeUrl}}">')
    else:
        if "INTERNAL" not in scan.body_text:
            scan.report(scan.lines.get("body", 1), "internal template needs a visible "
                                                   "INTERNAL banner")
        for line, href, chunks in scan.links:
            if UNSUBSCRIBE.search(href) or UNSUBSCRIBE_WORDS.search(href + "".join(chunks)):
                scan.report(line, INTERNAL_UNSUBSCRIBE)
    return sorted(set(scan.problems))


def escaping_problems(tags: list[Tag], text_part: bool, file: str) -> list[Finding]:
    """Variables written in the wrong form for their part (`file`).

    chevron, like every Mustache renderer, HTML-escapes {{var}}: right for HTML, wrong for a
    text/plain part, where `&amp;` would reach the reader. Unescaped tags in HTML would let a
    value (a customer's name, say) inject markup.
    """
    problems = []
    for tag in tags:
        if text_part and tag.kind == "":
            message = (f"{tag}: use {{{{{{{tag.name}}}}}}} in plain-text parts "
                       "so values are not HTML-escaped")
        elif text_part and tag.kind == "&":
            message = (f"{tag}: write unescaped values as {{{{{{{tag.name}}}}}}} "
                       "in plain-text parts, the one form the contract allows")
        elif not text_part and tag.kind in {"{", "&"}:
            message = (f"{tag} is unescaped in an HTML part, so a value could "
                       f"inject HTML: use {{{{{tag.name}}}}}")
        else:
            continue
        problems.append(Finding(file, tag.line, message))
    return problems


def text_footer_problems(
    source: str, tags: list[Tag], contract: Contract, file: str
) -> list[Finding]:
    """Legal-footer problems of a plain-text part (`file`).

    The footer is what follows the last `--` line, as mail clients treat a signature. It must
    hold {{{companyAddress}}}; a customer footer also {{{unsubscribeUrl}}}. An internal part
    must not offer an unsubscribe link anywhere (a URL on a line that mentions unsubscribing).
    """
    lines = source.splitlines()
    separators = [number for number, text in enumerate(lines, 1) if SIGNATURE.fullmatch(text)]
    footer_start = separators[-1] if separators else len(lines) + 1
    footer = {tag.name for tag in tags if tag.kind in VARIABLE_KINDS and tag.line > footer_start}
    problems = []
    if not separators:
        problems.append(Finding(file, max(len(lines), 1), "plain-text part needs the legal "
                                "footer: a '--' line followed by the company address "
                                "{{{companyAddress}}}"))
    elif "companyAddress" not in footer:
        problems.append(Finding(file, footer_start, "the plain-text footer (below '--') needs "
                                "the company address {{{companyAddress}}}"))
    if contract["audience"] == "customer":
        if separators and "unsubscribeUrl" not in footer:
            problems.append(Finding(file, footer_start, "customer plain-text footer (below '--') "
                                    "needs the unsubscribe link {{{unsubscribeUrl}}}"))
    else:
        problems += [Finding(file, number, INTERNAL_UNSUBSCRIBE)
                     for number, text in enumerate(lines, 1)
                     if UNSUBSCRIBE_WORDS.search(text) and TEXT_LINK.search(text)]
    return sorted(set(problems))


def _rel(path: Path, repo_root: Path) -> str:
    return path.relative_to(repo_root).as_posix()


def _json_path(parts: Json) -> str:
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts)


def load_contracts(repo_root: Path = REPO_ROOT) -> tuple[list[Contract] | None, list[Finding]]:
    """The contracts if contracts.json is valid against its schema, else None and the findings."""
    rel = CONTRACTS.as_posix()
    try:
        document = json.loads((repo_root / CONTRACTS).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, [Finding(rel, 1, "the template contracts manifest is missing")]
    except json.JSONDecodeError as error:
        return None, [Finding(rel, error.lineno, f"invalid JSON: {error.msg}")]
    schema = json.loads((repo_root / SCHEMA).read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    findings = [
        Finding.at_path(rel, _json_path(error.absolute_path), f"schema: {error.message}")
        for error in sorted(validator.iter_errors(document), key=lambda e: str(e.absolute_path))
    ]
    return (None if findings else document["templates"]), findings


def _sample_values(context: Json, path: str) -> list[Json] | None:
    """Every value at `path` (lists are transparent), or None when an element lacks it."""
    values = [context]
    for segment in path.split("."):
        found = []
        for value in values:
            for item in value if isinstance(value, list) else [value]:
                if not isinstance(item, dict) or segment not in item:
                    return None
                found.append(item[segment])
        values = found
    return values


def _sample_leaves(value: Json, path: str, where: str) -> list[tuple[str, str]]:
    """(data path, JSON path) of every scalar in a sample context."""
    if isinstance(value, dict):
        return [leaf for key, item in value.items()
                for leaf in _sample_leaves(item, f"{path}.{key}".lstrip("."), f"{where}.{key}")]
    if isinstance(value, list):
        return [leaf for index, item in enumerate(value)
                for leaf in _sample_leaves(item, path, f"{where}[{index}]")]
    return [(path, where)]


def check_contract_data(index: int, contract: Contract) -> list[Finding]:
    """Key pairing, subject and sample context of one contract (findings on contracts.json)."""
    rel, at = CONTRACTS.as_posix(), f"$.templates[{index}]"
    declared = set(contract["variables"])
    findings = []
    if contract["text_key"] != contract["key"].removesuffix(".html") + ".txt":
        findings.append(Finding.at_path(rel, f"{at}.text_key",
                                        "text_key must be the key with .txt"))
    tags, errors = tokenize(contract["subject"], rel)
    unknown = [] if errors else resolve(tags, declared)[1]
    # the subject is a value inside contracts.json: its place is a JSON path, not a line
    findings += [Finding.at_path(rel, f"{at}.subject", error.message) for error in errors]
    # subjects stay {{var}}: render_subject unescapes the whole rendered line, so one form is exact
    findings += [Finding.at_path(rel, f"{at}.subject",
                                 f"{tag}: write {{{{{tag.name}}}}} in subjects")
                 for tag in tags if tag.kind in {"{", "&"}]
    findings += [Finding.at_path(rel, f"{at}.subject", f"'{path}' is not declared")
                 for _, path in unknown]
    for number, path in enumerate(contract["variables"]):
        values = _sample_values(contract["sample_context"], path)
        if values is None:
            problem = "is missing from sample_context"
        elif any(v is None or v is False or v in ("", [], {}) for v in values):
            problem = "is empty in sample_context, so the preview would not show it"
        else:
            continue
        findings.append(Finding.at_path(rel, f"{at}.variables[{number}]", f"'{path}' {problem}"))
    seen = set()
    for path, where in _sample_leaves(contract["sample_context"], "", f"{at}.sample_context"):
        if path not in declared and path not in seen:
            seen.add(path)
            findings.append(Finding.at_path(rel, where,
                                            f"sample_context holds undeclared '{path}'"))
    return findings


def check_sizes(path: Path, repo_root: Path) -> list[Finding]:
    """A finding when the file reaches 102 KB, at the line where the limit is crossed."""
    data = path.read_bytes()
    if len(data) < MAX_BYTES:
        return []
    line = data[:MAX_BYTES].count(b"\n") + 1
    return [Finding(_rel(path, repo_root), line, f"file is {len(data)} bytes; Gmail "
                    f"clips emails from {MAX_BYTES} bytes (102 KB), crossed on this line")]


def check_template(index: int, contract: Contract, repo_root: Path) -> list[Finding]:
    """All checks of one template: both parts against the contract and the HTML rules."""
    at, contracts_rel = f"$.templates[{index}]", CONTRACTS.as_posix()
    declared = set(contract["variables"])
    parts: dict[str, dict[str, int] | None] = {}
    findings = check_contract_data(index, contract)
    for field in ("key", "text_key"):
        path = repo_root / KEY_ROOT / contract[field]
        rel = _rel(path, repo_root)
        if not path.is_file():
            part = "HTML part" if field == "key" else "plain-text alternative"
            findings.append(Finding.at_path(contracts_rel, f"{at}.{field}",
                                            f"{part} {rel} does not exist"))
            continue
        source = path.read_text(encoding="utf-8")
        findings += check_sizes(path, repo_root)
        tags, errors = tokenize(source, rel)
        html_part = field == "key"
        rules = markup_problems(source, contract, rel) if html_part else []
        if not errors:  # tag-based rules need a well-formed tag list
            rules += escaping_problems(tags, not html_part, rel)
            rules += [] if html_part else text_footer_problems(source, tags, contract, rel)
            if contract["audience"] == "internal":
                rules += [Finding(rel, tag.line, INTERNAL_UNSUBSCRIBE) for tag in tags
                          if tag.kind in VARIABLE_KINDS and tag.name == "unsubscribeUrl"]
        findings += (parse_errors(source, rel) if html_part else []) + sorted(set(rules))
        findings += [replace(error, message=f"Mustache: {error.message}") for error in errors]
        if errors:
            continue
        used, unknown = resolve(tags, declared)
        parts[field] = used
        findings += [Finding(rel, line, f"variable '{name}' is not declared in "
                             f"{contracts_rel} for {contract['key']}") for line, name in unknown]
    html_used, text_used = parts.get("key"), parts.get("text_key")
    if html_used is not None:
        findings += [
            Finding.at_path(
                contracts_rel, f"{at}.variables[{number}]",
                f"'{name}' is declared but the HTML part {contract['key']} never uses it")
            for number, name in enumerate(contract["variables"]) if name not in html_used
        ]
    if html_used is not None and text_used is not None:
        html_rel, text_rel = (_rel(repo_root / KEY_ROOT / contract[f], repo_root)
                              for f in ("key", "text_key"))
        findings += [Finding(text_rel, line, f"'{name}' is used here but not in the "
                             f"HTML part {contract['key']}")
                     for name, line in text_used.items() if name not in html_used]
        findings += [Finding(html_rel, line, f"'{name}' is used here but not in the "
                             f"plain-text part {contract['text_key']}")
                     for name, line in html_used.items() if name not in text_used]
    return findings


def check_inventory(contracts: list[Contract], repo_root: Path) -> list[Finding]:
    """Duplicate contracts, and files under templates/ that no contract names (orphans)."""
    rel, keys = CONTRACTS.as_posix(), [c["key"] for c in contracts]
    findings = [Finding.at_path(rel, f"$.templates[{i}].key", f"{key} has more than one contract")
                for i, key in enumerate(keys) if key in keys[:i]]
    known = set(keys) | {c["text_key"] for c in contracts}
    root = repo_root / KEY_ROOT
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if path.relative_to(root).as_posix() not in known:
            what = "template" if path.suffix in {".html", ".txt"} else "file"
            findings.append(Finding(_rel(path, repo_root), 1,
                                    f"orphan {what}: no contract in {rel} names it"))
    return findings


def validate_all(repo_root: Path = REPO_ROOT) -> list[Finding]:
    """Every finding about the manifest and the templates; an empty list means all is well."""
    contracts, findings = load_contracts(repo_root)
    if contracts is None:
        return findings
    findings += check_inventory(contracts, repo_root)
    for index, contract in enumerate(contracts):
        findings += check_template(index, contract, repo_root)
    return findings


def contract_for(template_key: str, repo_root: Path = REPO_ROOT) -> Contract:
    """The contract of an S3 key such as receipts/receipt.html (KeyError when there is none)."""
    contracts, findings = load_contracts(repo_root)
    if contracts is None:
        raise ValueError("; ".join(map(str, findings)))
    for contract in contracts:
        if template_key in (contract["key"], contract["text_key"]):
            return contract
    raise KeyError(f"no template contract for {template_key}")


def render(
    template_key: str, context: JsonObject | None = None, repo_root: Path = REPO_ROOT
) -> tuple[str, str]:
    """(html, text) of a template rendered by chevron; the contract's sample context by default."""
    contract = contract_for(template_key, repo_root)
    data = contract["sample_context"] if context is None else context
    html_source, text_source = ((repo_root / KEY_ROOT / contract[f]).read_text(encoding="utf-8")
                                for f in ("key", "text_key"))
    return chevron.render(html_source, data), chevron.render(text_source, data)


def render_subject(
    template_key: str, context: JsonObject | None = None, repo_root: Path = REPO_ROOT
) -> str:
    """The subject line as plain text (chevron HTML-escapes values; a subject is not HTML)."""
    contract = contract_for(template_key, repo_root)
    data = contract["sample_context"] if context is None else context
    return html.unescape(chevron.render(contract["subject"], data))
