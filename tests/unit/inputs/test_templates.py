"""Email templates: the real tree is clean, and each kind of breakage is reported at its line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bbws_infra.core.findings import Finding
from bbws_infra.core.paths import REPO_ROOT
from bbws_infra.inputs.mustache import Tag, tokenize
from bbws_infra.inputs.template_preview import build_preview
from bbws_infra.inputs.templates import (
    INTERNAL_UNSUBSCRIBE,
    load_contracts,
    parse_errors,
    render,
    validate_all,
)

CONTRACTS = "s3/templates/contracts.json"
RECEIPT = "s3/templates/templates/receipts/receipt.html"
RECEIPT_TXT = "s3/templates/templates/receipts/receipt.txt"
INTERNAL = "s3/templates/templates/receipts/receipt_internal.html"
INTERNAL_TXT = "s3/templates/templates/receipts/receipt_internal.txt"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A copy of the template tree (no Terraform files) to break one file at a time."""
    ignore = shutil.ignore_patterns("*.tf", ".terraform*")
    shutil.copytree(REPO_ROOT / "s3/templates", tmp_path / "s3/templates", ignore=ignore)
    return tmp_path


def edit(repo: Path, rel: str, old: str, new: str) -> int:
    """Replace the first `old` in a file; return the line where the replacement starts."""
    path = repo / rel
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {rel}"
    start = text.index(old)
    path.write_text(text[:start] + new + text[start + len(old) :], encoding="utf-8")
    return text.count("\n", 0, start) + 1


def line_of(repo: Path, rel: str, needle: str) -> int:
    """1-based line of the first occurrence of `needle` in a file."""
    text = (repo / rel).read_text(encoding="utf-8")
    assert needle in text
    return text.count("\n", 0, text.index(needle)) + 1


def contracts_doc(repo: Path) -> dict:
    return json.loads((repo / CONTRACTS).read_text(encoding="utf-8"))


def save_contracts(repo: Path, document: dict) -> None:
    (repo / CONTRACTS).write_text(json.dumps(document, indent=2), encoding="utf-8")


def test_repository_templates_have_no_findings() -> None:
    assert validate_all() == []


def test_twelve_templates_each_with_a_text_part() -> None:
    contracts, findings = load_contracts()
    assert findings == [] and contracts is not None
    assert len(contracts) == 12
    for contract in contracts:
        assert (REPO_ROOT / "s3/templates/templates" / contract["text_key"]).is_file()


def test_copy_is_clean(repo: Path) -> None:
    assert validate_all(repo) == []


def test_undeclared_variable(repo: Path) -> None:
    line = edit(repo, RECEIPT, "Hi {{customerName}},", "Hi {{customerName}} {{loyaltyTier}},")
    assert validate_all(repo) == [Finding(RECEIPT, line, "variable 'loyaltyTier' is not "
                                          f"declared in {CONTRACTS} for receipts/receipt.html")]


def test_undeclared_section_member_is_named_by_its_path(repo: Path) -> None:
    line = edit(repo, RECEIPT, ">{{name}}</td>", ">{{name}} {{sku}}</td>")
    [finding] = validate_all(repo)
    assert (finding.file, finding.where) == (RECEIPT, f"line {line}")
    assert "variable 'items.sku' is not declared" in finding.message


def test_declared_variable_unused_in_html(repo: Path) -> None:
    document = contracts_doc(repo)
    receipt = document["templates"][0]
    receipt["variables"].append("promoBanner")
    receipt["sample_context"]["promoBanner"] = "Free domain for a year"
    save_contracts(repo, document)
    number = len(receipt["variables"]) - 1
    assert validate_all(repo) == [Finding.at_path(CONTRACTS, f"$.templates[0].variables[{number}]",
                                          "'promoBanner' is declared but the HTML part "
                                          "receipts/receipt.html never uses it")]


def test_unclosed_section(repo: Path) -> None:
    opened = line_of(repo, RECEIPT, "{{#items}}")
    edit(repo, RECEIPT, "{{/items}}\n", "")
    assert validate_all(repo) == [
        Finding(RECEIPT, opened, "Mustache: section 'items' is never closed")
    ]


def test_stray_section_close(repo: Path) -> None:
    line = edit(repo, RECEIPT, "{{/items}}\n", "{{/items}}\n{{/discount}}\n") + 1
    assert validate_all(repo) == [Finding(
        RECEIPT, line, "Mustache: {{/discount}} closes a section that is not open")]


def test_mismatched_section_close_in_text_part(repo: Path) -> None:
    line = edit(repo, RECEIPT_TXT, "{{/items}}", "{{/discount}}")
    opened = line_of(repo, RECEIPT_TXT, "{{#items}}")
    assert validate_all(repo) == [
        Finding(RECEIPT_TXT, opened, "Mustache: section 'items' is never closed"),
        Finding(RECEIPT_TXT, line,
                "Mustache: {{/discount}} closes a section that is not open"),
    ]


def test_missing_plain_text_part(repo: Path) -> None:
    (repo / RECEIPT_TXT).unlink()
    assert validate_all(repo) == [Finding.at_path(CONTRACTS, "$.templates[0].text_key",
                                          f"plain-text alternative {RECEIPT_TXT} does not exist")]


def test_text_part_lacks_a_variable_of_the_html(repo: Path) -> None:
    edit(repo, RECEIPT_TXT, "Payment reference: {{{paymentReference}}}\n", "")
    line = line_of(repo, RECEIPT, "{{paymentReference}}")
    message = "'paymentReference' is used here but not in the plain-text part receipts/receipt.txt"
    assert validate_all(repo) == [Finding(RECEIPT, line, message)]


def test_text_part_uses_a_variable_the_html_does_not(repo: Path) -> None:
    edit(repo, RECEIPT, "{{paymentReference}}", "see portal")
    line = line_of(repo, RECEIPT_TXT, "{{paymentReference}}")
    findings = validate_all(repo)
    assert Finding(RECEIPT_TXT, line, "'paymentReference' is used here but not in the "
                   "HTML part receipts/receipt.html") in findings
    assert [f.where for f in findings if f.file == CONTRACTS] == ["$.templates[0].variables[5]"]


def test_script_tag(repo: Path) -> None:
    line = edit(repo, RECEIPT, "<table role", "<script>alert(1)</script>\n<table role")
    assert validate_all(repo) == [Finding(RECEIPT, line,
                                          "<script> is not allowed: email clients drop JavaScript")]


def test_external_stylesheet_and_import(repo: Path) -> None:
    line = edit(repo, RECEIPT, "</head>", '<link rel="stylesheet" href="https://x.io/a.css">\n'
                "</head>")
    messages = {(f.where, f.message) for f in validate_all(repo)}
    assert (f"line {line}", "<link rel=stylesheet> loads external CSS") in messages


@pytest.mark.parametrize("alt", ["", ' alt=""', ' alt="  "'])
def test_img_without_alt(repo: Path, alt: str) -> None:
    line = edit(repo, RECEIPT, ' alt="BBWS | KimmyAI"', alt)
    assert validate_all(repo) == [Finding(RECEIPT, line,
                                          "<img> needs a non-empty alt text")]


def test_customer_template_without_unsubscribe_link(repo: Path) -> None:
    edit(repo, RECEIPT, '<a href="{{unsubscribeUrl}}"', '<a href="https://kimmyai.io/"')
    end = line_of(repo, RECEIPT, "</body>")
    findings = validate_all(repo)
    assert Finding(RECEIPT, end, "customer template needs a footer unsubscribe link: "
                   '<a href="{{unsubscribeUrl}}">') in findings


def test_internal_template_without_banner(repo: Path) -> None:
    edit(repo, INTERNAL, "<strong>INTERNAL</strong>", "<strong>Note</strong>")
    body = line_of(repo, INTERNAL, "<body")
    assert validate_all(repo) == [Finding(INTERNAL, body,
                                          "internal template needs a visible INTERNAL banner")]


def test_oversize_file(repo: Path) -> None:
    padding = "<!-- " + "x" * 110_000 + " -->\n"
    line = edit(repo, RECEIPT, "</body>", padding + "</body>")
    [finding] = validate_all(repo)
    assert (finding.file, finding.where) == (RECEIPT, f"line {line}")
    assert "Gmail clips emails from 104448 bytes (102 KB)" in finding.message


def test_orphan_html_without_contract(repo: Path) -> None:
    orphan = "s3/templates/templates/receipts/refund.html"
    shutil.copy(repo / RECEIPT, repo / orphan)
    assert validate_all(repo) == [
        Finding(orphan, 1, f"orphan template: no contract in {CONTRACTS} names it")
    ]


def test_html_parse_error_mismatched_end_tag(repo: Path) -> None:
    line = edit(repo, RECEIPT, "{{billingAddress.country}}</p>", "{{billingAddress.country}}</div>")
    assert validate_all(repo) == [Finding(RECEIPT, line, "HTML parse error: End tag "
                                          "(div) seen too early. Expected other end tag.")]


def test_missing_doctype(repo: Path) -> None:
    edit(repo, RECEIPT, "<!DOCTYPE html>\n", "")
    findings = validate_all(repo)
    assert Finding(RECEIPT, 1, "the file must start with <!DOCTYPE html>") in findings


def test_variable_between_table_rows(repo: Path) -> None:
    line = edit(repo, RECEIPT, "{{/items}}\n", "{{/items}}\n{{subtotal}}\n") + 1
    message = "text directly inside <table> is moved out of the table by browsers; put it in a <td>"
    assert validate_all(repo) == [Finding(RECEIPT, line, message)]


def test_contract_schema_violation(repo: Path) -> None:
    document = contracts_doc(repo)
    document["templates"][1]["audience"] = "staff"
    save_contracts(repo, document)
    [finding] = validate_all(repo)
    assert (finding.file, finding.where) == (CONTRACTS, "$.templates[1].audience")
    assert "'staff' is not one of" in finding.message


def test_tokenizer_lines_are_exact() -> None:
    source = "a\n{{#items}}\n{{! note\nspans lines }}\n{{/item}}\n{{{raw}}}\n{{{open}}\n"
    tags, errors = tokenize(source, RECEIPT)
    assert errors == [
        Finding(RECEIPT, 2, "section 'items' is never closed"),
        Finding(RECEIPT, 5, "{{/item}} closes a section that is not open"),
        Finding(RECEIPT, 7, "triple mustache '{{{' must be closed with '}}}'"),
    ]
    assert Tag("{", "raw", 6) in tags


def test_tokenizer_tells_the_three_variable_forms_apart() -> None:
    tags, errors = tokenize("{{a}} {{{ b }}} {{& c}} {{#s}}{{{.}}}{{/s}} tail }", RECEIPT)
    assert errors == []
    assert [(tag.kind, tag.name, str(tag)) for tag in tags] == [
        ("", "a", "{{a}}"), ("{", "b", "{{{b}}}"), ("&", "c", "{{&c}}"),
        ("#", "s", "{{#s}}"), ("{", ".", "{{{.}}}"), ("/", "s", "{{/s}}"),
    ]


# Escaping: a text part writes {{{var}}}, an HTML part {{var}}.


def test_escaped_variable_in_text_part(repo: Path) -> None:
    line = edit(repo, RECEIPT_TXT, "Hi {{{customerName}}},", "Hi {{customerName}},")
    assert validate_all(repo) == [Finding(
        RECEIPT_TXT, line, "{{customerName}}: use {{{customerName}}} in plain-text "
        "parts so values are not HTML-escaped")]


def test_escaped_section_member_in_text_part(repo: Path) -> None:
    line = edit(repo, RECEIPT_TXT, "- {{{name}}}", "- {{name}}")
    assert validate_all(repo) == [Finding(
        RECEIPT_TXT, line,
        "{{name}}: use {{{name}}} in plain-text parts so values are not HTML-escaped")]


def test_ampersand_variable_in_text_part(repo: Path) -> None:
    line = edit(repo, RECEIPT_TXT, "{{{orderNumber}}}", "{{&orderNumber}}")
    assert validate_all(repo) == [Finding(
        RECEIPT_TXT, line, "{{&orderNumber}}: write unescaped values as "
        "{{{orderNumber}}} in plain-text parts, the one form the contract allows")]


def test_section_tags_in_text_part_stay_double(repo: Path) -> None:
    text = (repo / RECEIPT_TXT).read_text(encoding="utf-8")
    assert "{{#items}}" in text and "{{/items}}" in text and "{{#discount}}" in text
    assert validate_all(repo) == []


@pytest.mark.parametrize("tag", ["{{{customerName}}}", "{{&customerName}}", "{{& customerName}}"])
def test_unescaped_variable_in_html_part(repo: Path, tag: str) -> None:
    line = edit(repo, RECEIPT, "Hi {{customerName}},", f"Hi {tag},")
    written = "{{{customerName}}}" if tag.startswith("{{{") else "{{&customerName}}"
    assert validate_all(repo) == [Finding(
        RECEIPT, line, f"{written} is unescaped in an HTML part, so a value could "
        "inject HTML: use {{customerName}}")]


def test_unescaped_variable_in_html_attribute(repo: Path) -> None:
    line = edit(repo, RECEIPT, 'href="{{unsubscribeUrl}}"', 'href="{{{unsubscribeUrl}}}"')
    findings = validate_all(repo)
    assert [f.where for f in findings] == [f"line {line}"]
    assert findings[0].message.startswith("{{{unsubscribeUrl}}} is unescaped in an HTML part")


def test_unescaped_tag_in_subject(repo: Path) -> None:
    document = contracts_doc(repo)
    document["templates"][0]["subject"] = "Your BBWS receipt {{{receiptNumber}}}"
    save_contracts(repo, document)
    assert validate_all(repo) == [Finding.at_path(CONTRACTS, "$.templates[0].subject",
                                          "{{{receiptNumber}}}: write {{receiptNumber}} in "
                                          "subjects")]


# Legal footer: the company address everywhere; unsubscribe on customer mail only.


def test_html_part_without_address_footer(repo: Path) -> None:
    edit(repo, RECEIPT, '<address style="margin:0;font-style:normal;">KimmyAI &middot; '
         "{{companyAddress}}</address>", '<p style="margin:0;">KimmyAI &middot; '
         "{{companyAddress}}</p>")
    end = line_of(repo, RECEIPT, "</body>")
    assert validate_all(repo) == [Finding(
        RECEIPT, end, "template needs the legal footer: the company address "
        "{{companyAddress}} inside an <address> element")]


def test_address_element_without_the_address_variable(repo: Path) -> None:
    edit(repo, RECEIPT, "KimmyAI &middot; {{companyAddress}}</address>",
         "KimmyAI</address>\n<p>{{companyAddress}}</p>")
    end = line_of(repo, RECEIPT, "</body>")
    assert [(f.file, f.where) for f in validate_all(repo)] == [(RECEIPT, f"line {end}")]


def test_internal_template_without_address_footer(repo: Path) -> None:
    edit(repo, INTERNAL, '<address style="margin:4px 0 0;font-style:normal;">KimmyAI &middot; '
         "{{companyAddress}}</address>\n", "")
    edit(repo, INTERNAL_TXT, "KimmyAI, {{{companyAddress}}}\n", "")
    end = line_of(repo, INTERNAL, "</body>")
    findings = validate_all(repo)
    assert Finding(INTERNAL, end, "template needs the legal footer: the company "
                   "address {{companyAddress}} inside an <address> element") in findings
    separator = line_of(repo, INTERNAL_TXT, "\n--\n") + 1
    assert Finding(INTERNAL_TXT, separator, "the plain-text footer (below '--') needs "
                   "the company address {{{companyAddress}}}") in findings
    # and the contract still declares it, so declared = used reports the unused declaration
    assert any(f.file == CONTRACTS and "'companyAddress' is declared" in f.message
               for f in findings)


def test_text_part_address_above_the_footer(repo: Path) -> None:
    edit(repo, RECEIPT_TXT, "KimmyAI, {{{companyAddress}}}\n", "")
    edit(repo, RECEIPT_TXT, "BILLED TO\n", "BILLED TO\nKimmyAI, {{{companyAddress}}}\n")
    separator = line_of(repo, RECEIPT_TXT, "\n--\n") + 1
    assert validate_all(repo) == [Finding(
        RECEIPT_TXT, separator,
        "the plain-text footer (below '--') needs the company address {{{companyAddress}}}")]


def test_text_part_without_footer_separator(repo: Path) -> None:
    edit(repo, RECEIPT_TXT, "\n--\n", "\n")
    last = len((repo / RECEIPT_TXT).read_text(encoding="utf-8").splitlines())
    assert validate_all(repo) == [Finding(
        RECEIPT_TXT, last, "plain-text part needs the legal footer: a '--' line "
        "followed by the company address {{{companyAddress}}}")]


def test_customer_text_part_without_unsubscribe_in_footer(repo: Path) -> None:
    edit(repo, RECEIPT_TXT, "Unsubscribe or manage email preferences: {{{unsubscribeUrl}}}\n", "")
    edit(repo, RECEIPT_TXT, "BILLED TO\n", "Preferences: {{{unsubscribeUrl}}}\nBILLED TO\n")
    separator = line_of(repo, RECEIPT_TXT, "\n--\n") + 1
    assert validate_all(repo) == [Finding(
        RECEIPT_TXT, separator, "customer plain-text footer (below '--') needs the "
        "unsubscribe link {{{unsubscribeUrl}}}")]


def test_internal_template_with_unsubscribe_link(repo: Path) -> None:
    line = edit(repo, INTERNAL, "<address", '<a href="https://portal.kimmyai.io/email-preferences">'
                "Manage emails</a>\n<address")
    assert validate_all(repo) == [Finding(INTERNAL, line, INTERNAL_UNSUBSCRIBE)]


def test_internal_template_with_unsubscribe_link_text(repo: Path) -> None:
    line = edit(repo, INTERNAL, "<address", '<a href="https://kimmyai.io/">Unsubscribe</a>\n'
                "<address")
    assert validate_all(repo) == [Finding(INTERNAL, line, INTERNAL_UNSUBSCRIBE)]


def test_internal_template_with_unsubscribe_variable(repo: Path) -> None:
    html_line = edit(repo, INTERNAL, "<address", '<a href="{{unsubscribeUrl}}">Stop these '
                     "alerts</a>\n<address")
    text_line = edit(repo, INTERNAL_TXT, "KimmyAI,", "Unsubscribe: {{{unsubscribeUrl}}}\nKimmyAI,")
    findings = validate_all(repo)
    assert Finding(INTERNAL, html_line, INTERNAL_UNSUBSCRIBE) in findings
    assert Finding(INTERNAL_TXT, text_line, INTERNAL_UNSUBSCRIBE) in findings
    assert [f for f in findings if f.message == INTERNAL_UNSUBSCRIBE and f.file == INTERNAL] == [
        Finding(INTERNAL, html_line, INTERNAL_UNSUBSCRIBE)]  # reported once per line


def test_internal_text_part_with_unsubscribe_url(repo: Path) -> None:
    line = edit(repo, INTERNAL_TXT, "KimmyAI,", "Unsubscribe: https://portal.kimmyai.io/"
                "email-preferences\nKimmyAI,")
    assert validate_all(repo) == [Finding(INTERNAL_TXT, line, INTERNAL_UNSUBSCRIBE)]


def test_internal_text_may_mention_unsubscribing_without_a_link(repo: Path) -> None:
    edit(repo, INTERNAL_TXT, "KimmyAI,", "Customers can unsubscribe in the portal.\nKimmyAI,")
    assert validate_all(repo) == []


def test_internal_contract_cannot_declare_unsubscribe(repo: Path) -> None:
    document = contracts_doc(repo)
    internal = document["templates"][1]
    assert internal["audience"] == "internal"
    internal["variables"].append("unsubscribeUrl")
    internal["sample_context"]["unsubscribeUrl"] = "https://portal.kimmyai.io/email-preferences"
    save_contracts(repo, document)
    [finding] = validate_all(repo)
    assert (finding.file, finding.where) == (CONTRACTS, "$.templates[1].variables")
    assert finding.message.startswith("schema: ") and "should not be valid" in finding.message


def test_every_contract_must_declare_the_company_address(repo: Path) -> None:
    document = contracts_doc(repo)
    internal = document["templates"][1]
    internal["variables"].remove("companyAddress")
    del internal["sample_context"]["companyAddress"]
    save_contracts(repo, document)
    [finding] = validate_all(repo)
    assert (finding.file, finding.where) == (CONTRACTS, "$.templates[1].variables")
    assert "does not contain" in finding.message


def test_every_template_renders_its_legal_footer() -> None:
    contracts, _ = load_contracts()
    assert contracts
    for contract in contracts:
        context = contract["sample_context"]
        html, text = render(contract["key"])
        footer = text.rsplit("\n--\n", 1)[1]
        assert context["companyAddress"] in footer, contract["text_key"]
        assert f"{context['companyAddress']}</address>" in html, contract["key"]
        if contract["audience"] == "customer":
            assert context["unsubscribeUrl"] in footer, contract["text_key"]
            assert f'<a href="{context["unsubscribeUrl"]}"' in html, contract["key"]
        else:
            assert "unsubscribeUrl" not in contract["variables"]
            assert "unsubscribe" not in (html + text).lower(), contract["key"]


def test_render_fills_every_tag() -> None:
    contracts, _ = load_contracts()
    assert contracts
    for contract in contracts:
        html, text = render(contract["key"])
        for output in (html, text):
            assert "{{" not in output and "}}" not in output, contract["key"]
        # the rendered email is valid HTML too
        assert parse_errors(html, contract["key"]) == [], contract["key"]
        assert len(html.encode()) < 102 * 1024
    html, text = render("receipts/receipt.html")
    assert "R 2,732.40" in html and "Spring Launch 10%" in text and "Extra mailbox" in html


def test_render_with_custom_context_and_escaping() -> None:
    html, text = render("receipts/receipt.html", {"customerName": "<b>Eve</b>", "items": []})
    assert "&lt;b&gt;Eve&lt;/b&gt;" in html and "<b>Eve" not in html
    assert "Hi <b>Eve</b>," in text and "&lt;" not in text  # text/plain: shown as typed
    assert "Spring Launch" not in text  # discount section absent from this context


def test_build_preview_writes_gallery(tmp_path: Path) -> None:
    index = build_preview(tmp_path)
    assert index == tmp_path / "index.html"
    page = index.read_text(encoding="utf-8")
    contracts, _ = load_contracts()
    assert contracts and len(contracts) == 12
    for contract in contracts:
        assert f'<iframe src="{contract["key"]}"' in page
        assert f'href="{contract["text_key"]}"' in page
        assert (tmp_path / contract["key"]).is_file()
        assert (tmp_path / contract["text_key"]).is_file()
    assert page.count("<iframe") == 12
    assert "Your BBWS receipt RCT-2025-000087 for order ORD-2025-000142" in page
    first = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    build_preview(tmp_path)
    assert first == {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
