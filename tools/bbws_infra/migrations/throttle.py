"""How fast a migration reads: a token bucket shared by every scan segment of a run."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

# Items read per second when --rate is not given. A per-env value (not a tfvars variable:
# tfvars describe what Terraform builds, this is only how gently a run reads). The tables are
# on demand, so a run never runs out of capacity; the rate keeps it from crowding out the
# portal's own traffic: generous in dev, careful in prod, where a run may take longer.
DEFAULT_RATES = {"dev": 2000, "sit": 1000, "prod": 200}
FALLBACK_RATE = 200  # an env not listed above: as careful as prod


def default_rate(env_name: str) -> int:
    return DEFAULT_RATES.get(env_name, FALLBACK_RATE)


MAX_PAGE = 10_000  # DynamoDB ends a page at 1 MB anyway (a few thousand of our items)


def page_size(rate: int, segments: int) -> int:
    """Items per scan page: about one second of each segment's share of the rate (the pace
    stays even), at least 25 and at most MAX_PAGE. Fewer, larger pages also mean fewer
    checkpoint writes and round trips."""
    return max(25, min(MAX_PAGE, rate // max(1, segments)))


class TokenBucket:
    """At most `rate` tokens a second on average, bursts up to one second's worth; safe to
    share between threads. `stopped` ends a wait early (Ctrl-C)."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if rate <= 0:
            raise ValueError("the rate must be positive")
        self.rate = float(rate)
        self._clock, self._sleep = clock, sleep
        self._tokens = self.rate
        self._last = clock()
        self._lock = threading.Lock()

    def spend(self, count: int) -> None:
        """Take `count` tokens without waiting (what a page turned out to read); the balance
        may go negative, and the next acquire waits it off."""
        with self._lock:
            self._tokens -= count

    def acquire(self, count: int, stopped: Callable[[], bool] = lambda: False) -> bool:
        """Take `count` tokens, waiting for them; False when `stopped` said so first. A count
        above one second's worth is taken as it comes in (it may drive the balance negative,
        and the next caller waits it off)."""
        while True:
            with self._lock:
                now = self._clock()
                self._tokens = min(self.rate, self._tokens + (now - self._last) * self.rate)
                self._last = now
                if self._tokens >= min(count, self.rate):
                    self._tokens -= count
                    return True
                wait = (min(count, self.rate) - self._tokens) / self.rate
            if stopped():
                return False
            self._sleep(min(wait, 0.25))
