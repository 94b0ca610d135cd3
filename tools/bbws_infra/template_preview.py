"""Render every email template with its sample context into a browsable gallery."""

from __future__ import annotations

from html import escape
from pathlib import Path

from bbws_infra.paths import work_dir
from bbws_infra.templates import load_contracts, render, render_subject

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>BBWS email templates: preview</title>
<style>
body {{ margin: 0; padding: 24px; background: #f4f6fa; color: #1f2933;
       font-family: Arial, Helvetica, sans-serif; }}
h1 {{ color: #172b4d; }}
.grid {{ display: grid; grid-template-columns: repeat(auto-fill, minmax(420px, 1fr)); gap: 24px; }}
.card {{ background: #fff; border: 1px solid #d8dee9; border-radius: 8px; padding: 16px; }}
.card h2 {{ margin: 0 0 6px; font-size: 16px; }}
.meta {{ margin: 0 0 10px; font-size: 13px; color: #6b7280; }}
.internal {{ color: #b45309; font-weight: bold; }}
iframe {{ width: 100%; height: 560px; border: 1px solid #e5e9f0; }}
</style>
</head>
<body>
<h1>BBWS email templates ({count})</h1>
<p>Each template rendered with the sample context from s3/templates/contracts.json.</p>
<div class="grid">
{cards}
</div>
</body>
</html>
"""

CARD = """<section class="card">
<h2>{subject}</h2>
<p class="meta"><span class="{audience}">{audience}</span> &middot; <code>{key}</code> &middot;
<a href="{key}">HTML</a> &middot; <a href="{text_key}">plain text</a></p>
<iframe src="{key}" title="{key}" sandbox="" loading="lazy"></iframe>
</section>"""


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8", newline="\n")


def build_preview(out_dir: Path | None = None) -> Path:
    """Write `<key>` html and txt renders plus index.html to out_dir (work_dir()/preview)."""
    out = Path(out_dir) if out_dir is not None else work_dir() / "preview"
    contracts, findings = load_contracts()
    if contracts is None:
        raise ValueError("cannot build the preview: " + "; ".join(map(str, findings)))
    cards = []
    for contract in contracts:
        html_text, plain_text = render(contract["key"])
        _write(out / contract["key"], html_text)
        _write(out / contract["text_key"], plain_text)
        cards.append(CARD.format(
            subject=escape(render_subject(contract["key"])),
            audience=escape(contract["audience"]),
            key=escape(contract["key"]),
            text_key=escape(contract["text_key"]),
        ))
    index = out / "index.html"
    _write(index, PAGE.format(count=len(cards), cards="\n".join(cards)))
    return index
