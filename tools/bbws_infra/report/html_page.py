"""The status page as one self-contained HTML file: inline CSS, no script, no external URL,
so it opens from a CI artifact or a laptop alike. Tables have real headers and captions; a
status is always a word (the colour only repeats it); commits, ARNs, version ids and addresses
are never shortened: CSS may wrap them, nothing cuts them."""

from __future__ import annotations

from html import escape

from bbws_infra.core.registry import PROMOTION_ORDER
from bbws_infra.report import verdicts
from bbws_infra.report.model import (
    Check,
    ComponentStatus,
    EnvStatus,
    Event,
    Report,
)
from bbws_infra.report.page_style import STYLE
from bbws_infra.report.verdicts import check_verdict, env_verdict, ledger_verdict, money


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def badge(text: str, tone: str) -> str:
    return f'<span class="badge {tone}">{_e(text)}</span>'


def code(text: str) -> str:
    """An id shown whole (commit, ARN, version id, address)."""
    return f'<code class="id">{_e(text)}</code>' if text else '<span class="muted">-</span>'


def _table(caption: str, headers: list[str], rows: list[list[str]], css: str = "") -> str:
    head = "".join(f'<th scope="col">{_e(h)}</th>' for h in headers)
    body = "".join("<tr>" + "".join(
        (f'<th scope="row">{cell}</th>' if i == 0 else f"<td>{cell}</td>")
        for i, cell in enumerate(row)) + "</tr>" for row in rows)
    return (f'<table class="{css}"><caption>{_e(caption)}</caption><thead><tr>{head}</tr>'
            f"</thead><tbody>{body}</tbody></table>")


def when(text: str) -> str:
    """A time, never broken across lines."""
    return f'<span class="when">{_e(text)}</span>' if text else ""


def _check_cell(kind: str, check: Check, label: str = "") -> str:
    text, tone = check_verdict(kind, check)
    parts = [f'<div class="line">{_e(label)}{badge(text, tone)}</div>']
    if check.checked_at:
        parts.append(f'<div class="small">checked {when(check.checked_at)}</div>')
    parts += [f'<div class="small">{_e(problem)}</div>' for problem in check.problems]
    for finding in check.findings:
        allowed = (f'<div class="small">accepted: {_e(finding.allowed_by)}</div>'
                   if finding.allowed_by else "")
        parts.append(f'<div class="small">{code(finding.address)} {_e(finding.action)}'
                     f"{allowed}</div>")
    return "".join(parts)


def _component_row(row: ComponentStatus) -> list[str]:
    deployed = row.deployed
    if deployed is None:
        commit = deployment = '<span class="muted">never deployed</span>'
    else:
        commit = f'<code class="id commit">{_e(deployed.commit)}</code>' + (
            f'<div class="line">{badge("uncommitted changes", verdicts.WARN)}</div>'
            if deployed.dirty else "")
        deployment = (f"{_e(deployed.action)} {when(deployed.finished_at)}"
                      f'<div class="small">by {_e(deployed.who)}</div>')
    if row.state is not None:
        deployment += (f'<div class="small">state serial {row.state.serial}, '
                       f"{row.state.resources} resources, version "
                       f"{code(row.state.version_id)}</div>")
    text, tone = ledger_verdict(row)
    verification = (f'<div class="line">at deploy: {badge(text, tone)}</div>'
                    + _check_cell("verify", row.verify, "last verify: "))
    cost = _e(money(row.monthly_usd)) + (f'<div class="small">{_e(row.cost_note)}</div>'
                                         if row.monthly_usd is None and row.cost_note else "")
    return [_e(row.component), commit, deployment, verification,
            _check_cell("drift", row.drift), f'<span class="num">{cost}</span>']


def _pending(env: EnvStatus, previous: str | None) -> str:
    if previous is None:
        return ""
    if not env.pending:
        return (f"<h3>Pending promotions from {_e(previous)}</h3>"
                f'<p class="muted">none: {_e(env.env)} runs every commit {_e(previous)} verified '
                "from a clean tree.</p>")
    rows = [[_e(p.component), code(p.commit), _e(p.verified_at),
             code(p.running_here) if p.running_here else '<span class="muted">nothing</span>',
             _e(p.note) or f"<code>invoke promote --to {_e(env.env)}</code>"]
            for p in env.pending]
    return _table(f"Pending promotions: verified in {previous}, not yet in {env.env}",
                  ["component", f"verified in {previous}", "verified at",
                   f"runs in {env.env} now", "next step"], rows)


def _backups(env: EnvStatus) -> str:
    if not env.backups:
        return '<h3>Backups</h3><p class="muted">no table deployed here, so no backups.</p>'
    rows = []
    for b in env.backups:
        available = verdicts.OK if b.backup_status == "AVAILABLE" else verdicts.WARN
        on_demand = ('<span class="muted">none</span>' if not b.last_backup else
                     f"{_e(b.last_backup)} {badge(b.backup_status, available)}"
                     f'<div class="small">{_e(b.backup_name)}</div>'
                     f'<div class="small">{code(b.backup_arn)}</div>')
        tone = (verdicts.BAD if b.job_failed else verdicts.OK if b.job_state == "COMPLETED"
                else verdicts.NONE)
        job = (badge(b.job_state, tone) + (f" {_e(b.job_created)}" if b.job_created else "")
               + (f'<div class="small">{_e(b.job_message)}</div>' if b.job_message else ""))
        rows.append([_e(b.component), _e(b.table), on_demand, job])
    return _table("Backups", ["component", "table", "newest on-demand backup",
                              "last AWS Backup job"], rows)


def _alarms(env: EnvStatus) -> str:
    title = "<h3>Alarms</h3>"
    if not env.alarms:
        return title + (f'<p class="muted">no alarms in {_e(env.env)}: its tfvars switch them '
                        "off, or monitoring/alerts is not deployed there.</p>")
    firing = env.firing
    states: dict[str, int] = {}
    for alarm in env.alarms:
        states[alarm.state] = states.get(alarm.state, 0) + 1
    counts = ", ".join(f"{n} {s}" for s, n in sorted(states.items()))
    summary = (badge(f"{len(firing)} firing", verdicts.BAD) if firing
               else badge("none firing", verdicts.OK))
    rows = [[_e(a.name), badge(a.state, verdicts.BAD if a.firing else verdicts.OK
                               if a.state == "OK" else verdicts.NONE),
             _e(a.since), _e(a.reason)] for a in env.alarms]
    table = _table("firing first", ["alarm", "state", "since", "reason"], rows, "alarms")
    listing = table if firing else (f"<details><summary>all {len(env.alarms)} alarms"
                                    f"</summary>{table}</details>")
    return f"{title}<p>{summary} {len(env.alarms)} alarms: {_e(counts)}</p>{listing}"


def _env_section(env: EnvStatus, previous: str | None) -> str:
    text, tone = env_verdict(env)
    head = (f'<section class="env" id="env-{_e(env.env)}"><h2>{_e(env.env)} '
            f"{badge(text, tone)}</h2>"
            f'<p class="small">account {code(env.account_id)}, region {_e(env.region)}</p>')
    if env.unreachable:
        return head + (f'<p class="problem">{_e(env.env)} could not be read: '
                       f"{_e(env.unreachable)}</p></section>")
    problems = "".join(f'<p class="problem">could not read {_e(p)}</p>' for p in env.problems)
    if not any(c.deployed for c in env.components):
        return (head + problems + f'<p class="muted">nothing deployed in {_e(env.env)} yet.</p>'
                + _pending(env, previous) + "</section>")
    components = _table(
        f"What runs in {env.env}",
        ["component", "commit", "deployed, state", "verification", "drift", "per month"],
        [_component_row(c) for c in env.components], "components")
    total = f'<p class="total">monthly cost of what runs: {_e(money(env.monthly_usd))}</p>'
    return (head + problems + components + total + _pending(env, previous) + _backups(env)
            + _alarms(env) + "</section>")


def _overview(report: Report) -> str:
    rows = []
    for env in report.envs:
        text, tone = env_verdict(env)
        running = [c for c in env.components if c.deployed is not None]
        verified = sum(1 for c in running if c.deployed and c.deployed.verified)
        drifted = sum(1 for c in env.components if c.drift.status in ("drifted", "error"))
        checked = sum(1 for c in env.components if c.drift.status != "not checked")
        newest_backup = max((b.last_backup for b in env.backups if b.last_backup), default="")
        rows.append([
            f'<a href="#env-{_e(env.env)}">{_e(env.env)}</a>', badge(text, tone),
            "-" if env.unreachable else f"{len(running)} of {len(env.components)}",
            "-" if env.unreachable else f"{verified} of {len(running)}",
            "-" if env.unreachable else (f"{drifted} drifted of {checked} checked"
                                         if checked else "not checked"),
            "-" if env.unreachable else str(len(env.pending)),
            "-" if env.unreachable else (f"{len(env.firing)} firing of {len(env.alarms)}"
                                         if env.alarms else "none"),
            _e(newest_backup) or '<span class="muted">none</span>',
            f'<span class="num">{_e(money(env.monthly_usd if running else None))}</span>'])
    return _table("Every environment at a glance",
                  ["env", "status", "deployed", "verified", "drift", "pending promotions",
                   "alarms", "newest on-demand backup", "per month"], rows, "overview")


def _timeline(events: list[Event]) -> str:
    if not events:
        return '<p class="muted">no deployments recorded yet.</p>'
    days: dict[str, list[Event]] = {}
    for event in events:
        days.setdefault(event.finished_at[:10], []).append(event)
    parts = ['<ol class="timeline">']
    for day, found in days.items():
        parts.append(f'<li class="day"><h3>{_e(day)}</h3><ol>')
        for e in found:
            ok = e.result == "applied"
            result = badge(e.result, verdicts.OK if ok else verdicts.BAD)
            if ok and not e.action.startswith("migrate"):
                result += " " + badge(e.verification, verdicts.OK if e.verification == "passed"
                                      else verdicts.WARN)
            parts.append(
                f'<li class="event"><span class="when">{_e(e.finished_at[11:])}</span> '
                f'<span class="envname">{_e(e.env)}</span> <b>{_e(e.component)}</b> '
                f"{_e(e.action)} {code(e.commit)} {result} "
                f'<span class="small">by {_e(e.who)}</span></li>')
        parts.append("</ol></li>")
    return "".join(parts) + "</ol>"


def render(report: Report) -> str:
    """The whole page."""
    names = [env.env for env in report.envs]

    def previous(name: str) -> str | None:
        index = PROMOTION_ORDER.index(name)
        return PROMOTION_ORDER[index - 1] if index else None

    partial = ('<p class="problem banner">Partial: some of what this page shows could not be '
               "read (see the environments below).</p>" if report.partial else "")
    sections = "".join(_env_section(env, previous(env.env)) for env in report.envs)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>BBWS data stores: what runs where ({_e(report.target)})</title>"
        f"<style>{STYLE}</style></head><body><header>"
        "<h1>BBWS data stores: what runs where</h1>"
        f'<p class="small">target {_e(report.target)}; generated {_e(report.generated_at)} '
        f"in {report.seconds:.1f} s from repository commit "
        f"{code(report.repository_commit)}; environments {_e(', '.join(names))}</p>"
        f"</header><main>{partial}{_overview(report)}{sections}"
        f'<section class="history"><h2>History</h2>{_timeline(report.timeline)}</section>'
        "</main></body></html>\n")
