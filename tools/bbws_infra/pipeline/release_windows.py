"""When prod may change: its GitHub environment's wait timer (a cooling-off period GitHub holds
the job for after the last approval) and its deployment window (the hours a release may start
its apply), written here once; docs/github.md states both and a test holds them equal.

GitHub enforces the wait timer itself (an environment setting). It has no deployment window,
so `invoke deployment-window --env <env>` enforces it: the apply jobs of the release and
break-glass workflows run it right after the approvals are counted, and outside the window it
refuses before any credential, artifact or Terraform. Rollbacks are not held to the window:
they are the way back out of a bad release.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, timezone

from bbws_infra.core.errors import UserError
from bbws_infra.core.registry import BREAK_GLASS_SUFFIX

# The clock the check reads instead of now (ISO 8601 with a zone): rehearsals and tests only;
# no workflow sets it.
CLOCK_VARIABLE = "BBWS_CLOCK"
SAST = timezone(timedelta(hours=2), "SAST")  # South Africa: UTC+2 all year, no daylight saving
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True)
class Window:
    first_day: int  # 0 Monday .. 6 Sunday
    last_day: int
    start: time
    end: time  # exclusive
    zone: timezone

    @property
    def label(self) -> str:
        return (f"{_DAYS[self.first_day]} to {_DAYS[self.last_day]}, "
                f"{self.start:%H:%M} to {self.end:%H:%M} {self.zone.tzname(None)}")

    def holds(self, when: datetime) -> bool:
        local = when.astimezone(self.zone)
        return (self.first_day <= local.weekday() <= self.last_day
                and self.start <= local.time() < self.end)


# Minutes GitHub waits after the last approval before the env's job starts.
WAIT_TIMER_MINUTES: dict[str, int] = {"dev": 0, "sit": 0, "prod": 30}
# Business hours: the team is at work to watch a prod release and its alarms.
DEPLOYMENT_WINDOWS: dict[str, Window] = {"prod": Window(0, 4, time(8), time(16), SAST)}


def now(environ: Mapping[str, str] | None = None) -> datetime:
    environ = os.environ if environ is None else environ
    text = environ.get(CLOCK_VARIABLE, "")
    if not text:
        return datetime.now(UTC)
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise UserError(f"{CLOCK_VARIABLE} {text!r} is not an ISO 8601 time; nothing was "
                        "changed.") from None
    if when.tzinfo is None:
        raise UserError(f"{CLOCK_VARIABLE} {text!r} names no time zone; nothing was "
                        "changed.")
    return when


def check(env_name: str, when: datetime) -> str:
    """One sentence; UserError (nothing changed) outside the env's deployment window."""
    base = env_name.removesuffix(BREAK_GLASS_SUFFIX)
    window = DEPLOYMENT_WINDOWS.get(base)
    if window is None:
        return f"{env_name} has no deployment window: it may change at any time."
    local = when.astimezone(window.zone)
    if not window.holds(when):
        raise UserError(f"{env_name} changes only {window.label}, and it is "
                        f"{_DAYS[local.weekday()]} {local:%H:%M} {window.zone.tzname(None)} "
                        "now: approve and run it again within the window; nothing was "
                        "changed.")
    return f"{env_name}: within its deployment window ({window.label})."
