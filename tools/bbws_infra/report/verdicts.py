"""The words each status is shown with, and its tone (ok, bad, warn, none): the page colours
by tone but always says the word, so nothing depends on telling colours apart. The HTML page
and the job summary share them."""

from __future__ import annotations

from bbws_infra.report.model import NOT_CHECKED, Check, ComponentStatus, EnvStatus

OK, BAD, WARN, NONE = "ok", "bad", "warn", "none"

_VERIFY_TONES = {"healthy": OK, "failing": BAD, "unknown": WARN}
_DRIFT_TONES = {"clean": OK, "allowlisted": OK, "drifted": BAD, "error": BAD}


def check_verdict(kind: str, check: Check) -> tuple[str, str]:
    """(text, tone) of a verify or drift result."""
    if check.status == NOT_CHECKED:
        return NOT_CHECKED, NONE
    tones = _VERIFY_TONES if kind == "verify" else _DRIFT_TONES
    text = check.status
    if check.findings:
        text += f" ({len(check.findings)})"
    if check.stale:
        return f"{text}, before the last deployment", WARN
    return text, tones.get(check.status, BAD)


def ledger_verdict(row: ComponentStatus) -> tuple[str, str]:
    """(text, tone) of the verification the ledger recorded with the running deployment."""
    if row.deployed is None:
        return "never deployed", NONE
    if row.deployed.verified:
        return "verified", OK
    if row.deployed.verification == "failed":
        return f"verification failed ({len(row.deployed.failed_checks)})", BAD
    return f"not verified ({row.deployed.verification})", WARN


def env_verdict(env: EnvStatus) -> tuple[str, str]:
    """(text, tone) of a whole env, for the overview."""
    if env.unreachable:
        return f"unreachable: {env.unreachable}", BAD
    running = [c for c in env.components if c.deployed is not None]
    if not running:
        return "nothing deployed", NONE
    bad = [c for c in running if ledger_verdict(c)[1] == BAD
           or check_verdict("verify", c.verify)[1] == BAD
           or check_verdict("drift", c.drift)[1] == BAD]
    if env.firing or bad or any(b.job_failed for b in env.backups):
        return "needs attention", BAD
    if env.problems or any(ledger_verdict(c)[1] == WARN for c in running):
        return "partly known", WARN
    return "all good", OK


def money(usd: float | None) -> str:
    return "-" if usd is None else f"{usd:,.2f} USD"
