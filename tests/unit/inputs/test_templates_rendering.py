"""Rendering with hostile values: text parts show them as typed, HTML parts escape them.

Every string in each sample context from contracts.json is replaced by a value with an apostrophe,
an ampersand, angle brackets and a non-ASCII letter, tagged with its data path so that each
variable is checked on its own (a shared value would pass as soon as one variable rendered).
"""

from __future__ import annotations

import json
import shutil
from html import escape
from pathlib import Path
from typing import Any

import chevron
import pytest

from bbws_infra.core.paths import REPO_ROOT
from bbws_infra.inputs.template_preview import build_preview
from bbws_infra.inputs.templates import KEY_ROOT, load_contracts, parse_errors, render_subject

HOSTILE = "Zoë O'Brien & <Sons>"
# what any HTML escaping turns the hostile characters into; none may reach a text/plain body
ESCAPES = ("&amp;", "&lt;", "&gt;", "&quot;", "&#x27;", "&#39;")

CONTRACTS, _ = load_contracts()
assert CONTRACTS is not None, "contracts.json must be valid for these tests"


def hostile(value: Any, path: str = "") -> Any:
    """`value` with every string replaced by HOSTILE tagged with its data path."""
    if isinstance(value, dict):
        return {key: hostile(item, f"{path}.{key}".lstrip(".")) for key, item in value.items()}
    if isinstance(value, list):
        return [hostile(item, path) for item in value]
    return f"{HOSTILE} [{path}]" if isinstance(value, str) else value


def string_leaves(value: Any) -> set[str]:
    """Every string in a (hostile) context."""
    if isinstance(value, dict):
        return {leaf for item in value.values() for leaf in string_leaves(item)}
    if isinstance(value, list):
        return {leaf for item in value for leaf in string_leaves(item)}
    return {value} if isinstance(value, str) else set()


def html_escaped(value: str) -> str:
    """The value as an HTML text or attribute must carry it: &, <, > and " escaped."""
    return (value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


def render_parts(contract: dict[str, Any], context: dict[str, Any]) -> tuple[str, str]:
    """(html, text) rendered with chevron straight from the template files."""
    sources = ((REPO_ROOT / KEY_ROOT / contract[f]).read_text(encoding="utf-8")
               for f in ("key", "text_key"))
    html, text = (chevron.render(source, context) for source in sources)
    return html, text


@pytest.fixture(params=CONTRACTS, ids=[c["key"] for c in CONTRACTS])
def contract(request: pytest.FixtureRequest) -> dict[str, Any]:
    return request.param


def test_every_sample_context_has_strings_to_attack(contract: dict[str, Any]) -> None:
    values = string_leaves(hostile(contract["sample_context"]))
    assert values and all(value.startswith(HOSTILE) for value in values)
    assert any(value.endswith("[companyAddress]") for value in values)


def test_text_part_shows_hostile_values_verbatim(contract: dict[str, Any]) -> None:
    context = hostile(contract["sample_context"])
    _, text = render_parts(contract, context)
    for value in sorted(string_leaves(context)):
        assert value in text, f"{contract['text_key']}: {value!r} missing or escaped"
    for entity in ESCAPES:
        assert entity not in text, f"{contract['text_key']} holds {entity}"


def test_html_part_escapes_hostile_values(contract: dict[str, Any]) -> None:
    context = hostile(contract["sample_context"])
    html, _ = render_parts(contract, context)
    for value in sorted(string_leaves(context)):
        assert html_escaped(value) in html, f"{contract['key']}: {value!r} not escaped"
    assert "<Sons>" not in html
    assert "&lt;Sons&gt;" in html and "O'Brien &amp; " in html and "Zoë" in html
    assert "&amp;amp;" not in html and "&amp;lt;" not in html  # escaped once, not twice


def test_subject_is_plain_text(contract: dict[str, Any]) -> None:
    context = hostile(contract["sample_context"])
    subject = render_subject(contract["key"], context)
    assert HOSTILE in subject
    for entity in ESCAPES:
        assert entity not in subject


@pytest.fixture
def hostile_repo(tmp_path: Path) -> Path:
    """A copy of the template tree whose sample contexts hold hostile values."""
    ignore = shutil.ignore_patterns("*.tf", ".terraform*")
    shutil.copytree(REPO_ROOT / "s3/templates", tmp_path / "s3/templates", ignore=ignore)
    path = tmp_path / "s3/templates/contracts.json"
    document = json.loads(path.read_text(encoding="utf-8"))
    for item in document["templates"]:
        item["sample_context"] = hostile(item["sample_context"])
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False), encoding="utf-8")
    return tmp_path


def test_preview_shows_text_parts_as_a_mail_client_would(hostile_repo: Path) -> None:
    out = hostile_repo / "preview"
    page = build_preview(out, repo_root=hostile_repo).read_text(encoding="utf-8")
    assert CONTRACTS and page.count('<pre class="text"') == len(CONTRACTS)
    name = f"{HOSTILE} [customerName]"
    # the page escapes the text once: the reader sees the characters, no markup is added
    assert "Zoë O&#x27;Brien &amp; &lt;Sons&gt; [customerName]" in page
    assert "<Sons>" not in page and "&amp;amp;" not in page and "&amp;lt;" not in page
    # hostile values leave the gallery page well-formed
    assert parse_errors(page, "preview/index.html") == []
    for contract in CONTRACTS:
        text = (out / contract["text_key"]).read_text(encoding="utf-8")
        assert name in text and not any(entity in text for entity in ESCAPES)
        html = (out / contract["key"]).read_text(encoding="utf-8")
        assert "&lt;Sons&gt;" in html and "<Sons>" not in html


def test_preview_text_part_sits_next_to_its_html_part(tmp_path: Path) -> None:
    page = build_preview(tmp_path).read_text(encoding="utf-8")
    assert CONTRACTS
    for contract in CONTRACTS:
        card_start = page.index(f'<iframe src="{contract["key"]}"')
        card = page[card_start : page.index("</section>", card_start)]
        assert f'<pre class="text" title="{contract["text_key"]}">\n' in card
        text = (tmp_path / contract["text_key"]).read_text(encoding="utf-8")
        first_line = text.splitlines()[0]
        assert escape(first_line) in card
    # the internal receipt writes the e-mail in angle brackets: shown, not parsed as a tag
    assert "Thandi Mokoena &lt;thandi@mokoena-designs.co.za&gt;" in page
    assert "<thandi@" not in page
