"""The status page's stylesheet, inline in the page (no external file or font). Ids wrap
anywhere rather than overflow; tones repeat what the badge's word says."""

STYLE = """
:root { color-scheme: light; --ink: #1f2328; --muted: #59636e; --line: #d1d9e0;
  --ok: #1a7f37; --ok-bg: #dafbe1; --bad: #b42318; --bad-bg: #ffebe9;
  --warn: #8a5a00; --warn-bg: #fff5d6; --none: #59636e; --none-bg: #eef1f4; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans",
  sans-serif; color: var(--ink); background: #f6f8fa; }
header { padding: 20px 24px 12px; background: #fff; border-bottom: 1px solid var(--line); }
main { padding: 8px 24px 40px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 0 0 4px; display: flex; gap: 10px; align-items: center; }
h3 { font-size: 16px; margin: 18px 0 6px; }
section.env, section.history { background: #fff; border: 1px solid var(--line);
  border-radius: 8px; padding: 16px 20px; margin: 18px 0; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 4px; background: #fff; }
caption { text-align: left; font-weight: 600; font-size: 16px; padding: 12px 0 6px; }
th, td { text-align: left; vertical-align: top; padding: 6px 8px;
  border-bottom: 1px solid var(--line); }
thead th { font-size: 13px; color: var(--muted); background: #f6f8fa; white-space: nowrap;
  border-bottom: 2px solid var(--line); }
tbody th { font-weight: 600; white-space: nowrap; }
table.overview { margin-top: 14px; border: 1px solid var(--line); }
table.overview caption { font-size: 18px; }
code.id { font: 12.5px/1.35 ui-monospace, "DejaVu Sans Mono", monospace;
  overflow-wrap: anywhere; background: #f6f8fa; padding: 0 3px; border-radius: 3px; }
code.commit { white-space: nowrap; }
.line { margin: 0 0 3px; white-space: nowrap; }
.when { white-space: nowrap; font-variant-numeric: tabular-nums; }
table.components td:nth-child(3) { min-width: 300px; }
table.components td:nth-child(5) { min-width: 260px; }
.badge { display: inline-block; font-size: 12.5px; font-weight: 600; padding: 1px 8px;
  border-radius: 999px; border: 1px solid currentColor; white-space: nowrap; }
.badge.ok { color: var(--ok); background: var(--ok-bg); }
.badge.bad { color: var(--bad); background: var(--bad-bg); }
.badge.warn { color: var(--warn); background: var(--warn-bg); }
.badge.none { color: var(--none); background: var(--none-bg); }
.small { font-size: 12.5px; color: var(--muted); margin-top: 2px; }
.muted { color: var(--muted); }
.num { white-space: nowrap; font-variant-numeric: tabular-nums; }
.total { font-weight: 600; text-align: right; margin: 4px 0 0; }
.problem { color: var(--bad); background: var(--bad-bg); border: 1px solid var(--bad);
  border-radius: 6px; padding: 8px 12px; }
.banner { margin-top: 16px; }
details summary { cursor: pointer; color: var(--muted); margin: 4px 0; }
ol.timeline, ol.timeline ol { list-style: none; margin: 0; padding: 0; }
ol.timeline li.day { margin: 0 0 8px; }
ol.timeline li.day h3 { margin: 8px 0 4px; }
ol.timeline li.event { padding: 4px 0 4px 14px; border-left: 3px solid var(--line);
  margin-left: 6px; }
ol.timeline .when { color: var(--muted); }
.envname { display: inline-block; min-width: 44px; font-weight: 600; text-transform: uppercase;
  font-size: 12px; color: var(--muted); }
"""
