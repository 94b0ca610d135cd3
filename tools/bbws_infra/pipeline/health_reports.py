"""What the scheduled drift and verify runs tell people, and only when it changed: per env and
component, one GitHub issue kept up to date (health_issues.py) and one Slack message
(notify.send) when a problem appears, changes or goes away. The same drift, or the same failing
checks, on the next morning changes nothing and posts nothing.

A problem is drift nobody accepted, a drift check that could not run, failing verification
checks, or a component verify cannot vouch for (its last apply failed, or nothing was applied).
Drift set aside in the allowlist is no problem: accepting drift closes its issue.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass

from bbws_infra.core import git
from bbws_infra.core.errors import OperationError, UserError
from bbws_infra.core.registry import apply_confirmation
from bbws_infra.pipeline import notify
from bbws_infra.pipeline.health_issues import Issue, IssueTracker, Subject, body_with_markers
from bbws_infra.release import health_results
from bbws_infra.release.drift import Drift
from bbws_infra.release.drift_fingerprints import fingerprint, signature
from bbws_infra.release.verify_checks import Check

# What Slack is told, as notify's result word after the action ("dev: drift appeared (...)").
APPEARED, CHANGED, GONE = "appeared", "changed", "gone"


@dataclass
class Report:
    """One component's result as the triage handles it, drift and verify alike."""

    subject: Subject
    problem: bool  # whether an issue should be open
    signature: str  # what the issue's body describes; a new one is a change
    word: str  # Slack's word when the problem appears: appeared, failing, unknown, error
    title: str
    markdown: str  # the issue's body, without the markers
    gone: str  # the closing comment, when the problem is gone
    commit: str


def run_url() -> str:
    """This workflow run's page, or "" outside GitHub Actions."""
    server = os.environ.get("GITHUB_SERVER_URL", "https://github.com")
    repository, run_id = os.environ.get("GITHUB_REPOSITORY"), os.environ.get("GITHUB_RUN_ID")
    return f"{server}/{repository}/actions/runs/{run_id}" if repository and run_id else ""


def _checked(result: health_results.DriftResult | health_results.VerifyResult) -> str:
    link = run_url()
    return (f"Checked {result.checked_at} at commit `{result.commit or 'none'}`"
            + (f" ([run]({link}))." if link else "."))


# --- drift -------------------------------------------------------------------------------


def drift_report(result: health_results.DriftResult, found: list[Drift] | None,
                 error: str = "", target: str = "aws") -> Report:
    env, name = result.env, result.component
    subject = Subject(health_results.DRIFT, env, name)
    title = f"Drift: {name} in {env}"
    where = f"--env {env} --component {name} --target {target}"
    if found is None:
        return Report(subject, True, "error", "error", title,
                      f"The drift check of **{name}** in **{env}** could not run"
                      f"{': ' + error if error else ''}.\n\n{_checked(result)}\n\n"
                      f"Run `invoke drift {where}` to see why (its "
                      "Terraform log is under the work directory).\n",
                      f"The drift check of {name} in {env} runs again. {_checked(result)}",
                      result.commit)
    open_drift = [d for d in found if d.allowed_by is None]
    rows = "\n".join(f"| `{d.address}` | {d.action} | `{fingerprint(env, d)}` | "
                     + (f"allowlisted: {d.allowed_by.reason}" if d.allowed_by else "**open**")
                     + " |" for d in found)
    details = "\n".join(
        [line for d in open_drift
         for line in [d.address, *(f"    {c.path}: {c.before} -> {c.after}" for c in d.changes)]])
    markdown = (
        f"**{name}** in **{env}** differs from its Terraform state: {len(open_drift)} "
        f"address(es) changed outside Terraform that the allowlist does not accept.\n\n"
        f"{_checked(result)}\n\n| address | action | fingerprint | |\n|---|---|---|---|\n"
        f"{rows}\n\n```\n{details}\n```\n\n"
        "Either put it back or accept it (both are reviewed changes):\n"
        f"- put back: `invoke drift {where} --revert` writes a plan bundle of the commit "
        f"that runs there; review it, then `invoke apply {where} --confirm "
        f"{apply_confirmation(env)}` applies it like any reviewed plan.\n"
        f"- accept: `invoke drift {where} --accept --reason \"...\"` prints the entry to add "
        "to envs/drift-allowlist.yml in a pull request.\n\n"
        "This issue is kept by the drift workflow: edited when the drift changes, closed "
        "when it is gone or allowlisted.\n")
    accepted = found and not open_drift
    gone = (f"The drift of {name} in {env} is "
            + ("all allowlisted now" if accepted else "gone") + f". {_checked(result)}")
    return Report(subject, bool(open_drift), signature(env, found), APPEARED, title, markdown,
                  gone, result.commit)


# --- verify ------------------------------------------------------------------------------


def verify_report(result: health_results.VerifyResult, checks: list[Check],
                  target: str = "aws") -> Report:
    env, name = result.env, result.component
    where = f"--env {env} --component {name} --target {target}"
    subject = Subject(health_results.VERIFY, env, name)
    failed = [c for c in checks if not c.ok]
    if result.status == health_results.UNKNOWN:
        headline = f"**{name}** in **{env}** is **unknown**: {result.reason}."
    else:
        headline = (f"**{name}** in **{env}** is **failing** verification: {len(failed)} of "
                    f"{len(checks)} check(s) failed.")
    rows = "\n".join(f"| {c.name} | {c.expected} | {c.found} |" for c in failed)
    table = f"\n\n| check | expected | found |\n|---|---|---|\n{rows}" if rows else ""
    markdown = (f"{headline}\n\n{_checked(result)}{table}\n\n"
                f"See `invoke verify {where}` and `invoke history {where}`; the runbook "
                "docs/runbooks/scheduled-verify.md says what to do.\n\n"
                "This issue is kept by the verify workflow: edited when the result changes, "
                "closed when the component verifies healthy.\n")
    problem_signature = hashlib.sha256("\0".join([result.status, result.reason or "", *sorted(
        c.name for c in failed)]).encode()).hexdigest()[:16]
    return Report(subject, result.status != health_results.HEALTHY, problem_signature,
                  result.status, f"Verify: {name} in {env} is {result.status}", markdown,
                  f"{name} in {env} verifies healthy again. {_checked(result)}", result.commit)


# --- keeping the issue and telling Slack -------------------------------------------------


Send = Callable[[notify.Event], str]


def triage(reports: list[Report], tracker: IssueTracker, send: Send = notify.send
           ) -> list[str]:
    """Bring each component's issue in line with its report; tell Slack what changed. One
    line per component saying what was done. A Slack failure is raised once every issue is
    up to date (the issues are the record; the message is lost, not repeated)."""
    done: list[str] = []
    failures: list[str] = []
    for report in reports:
        line, word, issue = _sync(report, tracker)
        done.append(line)
        if word is None or issue is None:
            continue
        event = notify.Event(
            env=report.subject.env, components=[f"{report.subject.component} "
                                                f"(issue #{issue.number})"],
            commit=report.commit, action=report.subject.kind, result=word, who=git.who(),
            run_url=run_url())
        try:
            done.append(f"  {send(event)}")
        except (OperationError, UserError) as error:  # an unreachable or broken webhook
            failures.append(str(error))
    if failures:
        raise OperationError("The issues are up to date, but Slack was not told: "
                             + " ".join(failures), details="\n".join(done))
    return done


def _sync(report: Report, tracker: IssueTracker) -> tuple[str, str | None, Issue | None]:
    """(what was done, Slack's word or None for no message, the issue)."""
    subject = report.subject
    what = f"{subject.kind} {subject.component} in {subject.env}"
    issue = tracker.find_open(subject)
    body = body_with_markers(subject, report.signature, report.markdown)
    if not report.problem:
        if issue is None:
            return f"{what}: no problem, no issue", None, None
        tracker.close(issue, report.gone)
        return f"{what}: closed issue #{issue.number}", GONE, issue
    if issue is None:
        issue = tracker.open(subject, report.title, body)
        return f"{what}: opened issue #{issue.number}", report.word, issue
    if issue.signature == report.signature:
        return f"{what}: unchanged, issue #{issue.number} left as it is", None, issue
    tracker.update(issue, report.title, body,
                   f"This changed: {report.title.split(': ', 1)[-1]}. The description above "
                   f"is the new state. {_first_line(report.markdown)}")
    return f"{what}: updated issue #{issue.number}", CHANGED, issue


def _first_line(markdown: str) -> str:
    return markdown.strip().splitlines()[0] if markdown.strip() else ""
