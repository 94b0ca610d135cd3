"""The token bucket that paces a run, on a fake clock."""

from __future__ import annotations

import pytest

from bbws_infra.migrations import throttle


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.slept += seconds


def test_the_rate_holds_on_average():
    clock = Clock()
    bucket = throttle.TokenBucket(100, clock=clock, sleep=clock.sleep)
    for _ in range(30):
        assert bucket.acquire(50)
    # 1500 tokens at 100/s with one second's burst: about 14 seconds
    assert 13.5 <= clock.now <= 14.5


def test_a_count_above_the_rate_waits_its_share():
    clock = Clock()
    bucket = throttle.TokenBucket(10, clock=clock, sleep=clock.sleep)
    assert bucket.acquire(100)  # the first takes the burst and goes negative
    assert bucket.acquire(10)
    assert clock.now >= 9.0


def test_what_a_page_read_is_paid_for_by_the_next_wait():
    clock = Clock()
    bucket = throttle.TokenBucket(100, clock=clock, sleep=clock.sleep)
    for _ in range(10):
        assert bucket.acquire(0)  # waits off the debt of the page before
        bucket.spend(300)
    # 3000 items at 100/s, less the first second's burst and the last page's unpaid debt
    assert 25.5 <= clock.now <= 27.5


def test_a_stop_ends_the_wait():
    clock = Clock()
    bucket = throttle.TokenBucket(1, clock=clock, sleep=clock.sleep)
    assert bucket.acquire(1)
    assert bucket.acquire(1, stopped=lambda: True) is False


def test_defaults_and_page_sizes():
    assert throttle.default_rate("prod") < throttle.default_rate("sit") \
        < throttle.default_rate("dev")
    assert throttle.default_rate("qa") == throttle.FALLBACK_RATE
    assert throttle.page_size(2000, 4) == 500
    assert throttle.page_size(200, 4) == 50
    assert throttle.page_size(50, 4) == 25
    assert throttle.page_size(10**6, 1) == throttle.MAX_PAGE
    with pytest.raises(ValueError):
        throttle.TokenBucket(0)
