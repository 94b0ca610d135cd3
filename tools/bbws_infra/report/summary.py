"""The status page in short, as Markdown for a GitHub job summary: one row per env and
component, the same words as the page (built from the same model)."""

from __future__ import annotations

from bbws_infra.report.model import Report
from bbws_infra.report.verdicts import check_verdict, env_verdict, ledger_verdict, money


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(report: Report, page: str = "") -> str:
    """Per env its verdict, then per component the commit, ledger, verify, drift and cost;
    pending promotions and firing alarms below."""
    lines = [f"## What runs where ({report.target})", "",
             f"Generated {report.generated_at}" + (f"; the full page: {page}" if page else "")
             + ".", "",
             "| env | component | commit | deployed | ledger | verify | drift | per month |",
             "|---|---|---|---|---|---|---|---|"]
    notes = []
    for env in report.envs:
        verdict, _ = env_verdict(env)
        if env.unreachable:
            lines.append(f"| {env.env} | (all) | | | {_cell(verdict)} | | | |")
            continue
        for row in env.components:
            deployed = row.deployed
            lines.append("| " + " | ".join(_cell(c) for c in [
                env.env, row.component, f"`{deployed.commit}`" if deployed else "-",
                f"{deployed.finished_at} by {deployed.who}" if deployed else "never deployed",
                ledger_verdict(row)[0], check_verdict("verify", row.verify)[0],
                check_verdict("drift", row.drift)[0], money(row.monthly_usd)]) + " |")
        notes += [f"- {env.env}: {p.component} at `{p.commit}` verified in {p.verified_in}, "
                  "not yet here" for p in env.pending]
        notes += [f"- {env.env}: alarm {a.name} firing since {a.since}" for a in env.firing]
        notes += [f"- {env.env}: could not read {p}" for p in env.problems]
    return "\n".join([*lines, *(["", *notes] if notes else [])]) + "\n"
