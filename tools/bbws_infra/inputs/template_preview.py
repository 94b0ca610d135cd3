"""Render every email template with its sample context into a browsable gallery.

Each card shows the HTML part in a sandboxed iframe and, next to it, the plain-text part as a mail
client shows a text/plain body: rendered unescaped (the .txt parts use {{{var}}}) and laid out as
preformatted text. The text is HTML-escaped exactly once, for this page only, so `&` and `<` in a
value appear as typed and cannot add markup to the gallery.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from bbws_infra.core.paths import REPO_ROOT, work_dir
from bbws_infra.inputs.templates import load_contracts, render, render_subject

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>BBWS email templates: preview</title>
<style>
body {{ margin: 0; padding: 24px; background: #f4f6fa; color: #1f2933;
       font-family: Arial, Helvetica, sans-serif; }}
h1 {{ color: #172b4d; }}
.grid {{ display: grid; gap: 24px; }}
.card {{ background: #fff; border: 1px solid #d8dee9; border-radius: 8px; padding: 16px; }}
.card h2 {{ margin: 0 0 6px; font-size: 16px; }}
.meta {{ margin: 0 0 10px; font-size: 13px; color: #6b7280; }}
.internal {{ color: #b45309; font-weight: bold; }}
.parts {{ display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 16px; }}
.parts h3 {{ margin: 0 0 6px; font-size: 13px; color: #6b7280; font-weight: normal; }}
iframe {{ width: 100%; height: 560px; border: 1px solid #e5e9f0; }}
pre.text {{ box-sizing: border-box; margin: 0; height: 560px; overflow: auto; padding: 12px;
           border: 1px solid #e5e9f0; background: #fbfbfd; font: 13px/1.45 Menlo, Consolas,
           monospace; white-space: pre-wrap; overflow-wrap: anywhere; }}
</style>
</head>
<body>
<h1>BBWS email templates ({count})</h1>
<p>Each template rendered with the sample context from s3/templates/contracts.json: the HTML
part, and the plain-text part as a mail client shows it (unescaped, preformatted).</p>
<div class="grid">
{cards}
</div>
</body>
</html>
"""

# HTML drops the newline right after <pre>: the one after the tag goes, the text's own lines stay
CARD = """<section class="card">
<h2>{subject}</h2>
<p class="meta"><span class="{audience}">{audience}</span> &middot; <code>{key}</code> &middot;
<a href="{key}">HTML</a> &middot; <a href="{text_key}">plain text</a></p>
<div class="parts">
<div><h3>HTML part</h3>
<iframe src="{key}" title="{key}" sandbox="" loading="lazy"></iframe></div>
<div><h3>Plain-text part (text/plain)</h3>
<pre class="text" title="{text_key}">
{text}</pre></div>
</div>
</section>"""


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8", newline="\n")


def build_preview(out_dir: Path | None = None, repo_root: Path = REPO_ROOT) -> Path:
    """Write `<key>` html and txt renders plus index.html to out_dir (work_dir()/preview)."""
    out = Path(out_dir) if out_dir is not None else work_dir() / "preview"
    contracts, findings = load_contracts(repo_root)
    if contracts is None:
        raise ValueError("cannot build the preview: " + "; ".join(map(str, findings)))
    cards = []
    for contract in contracts:
        html_text, plain_text = render(contract["key"], repo_root=repo_root)
        _write(out / contract["key"], html_text)
        _write(out / contract["text_key"], plain_text)  # the .txt link: the body as sent
        cards.append(CARD.format(
            subject=escape(render_subject(contract["key"], repo_root=repo_root)),
            audience=escape(contract["audience"]),
            key=escape(contract["key"]),
            text_key=escape(contract["text_key"]),
            text=escape(plain_text),  # once, for display: the page shows the characters as sent
        ))
    index = out / "index.html"
    _write(index, PAGE.format(count=len(cards), cards="\n".join(cards)))
    return index
