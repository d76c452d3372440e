"""Pacing outbound messages, with an injected clock and sleep (no waiting)."""

from __future__ import annotations

import asyncio

import pytest

from bot.sms.rate_limit import RateLimiter
from feedbot.settings import Settings, SettingsError


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))


async def test_calls_are_spaced_by_the_rate_across_tasks() -> None:
    fake = FakeTime()
    limiter = RateLimiter(4, clock=fake.clock, sleep=fake.sleep)
    await asyncio.gather(*(limiter.wait() for _ in range(5)))
    assert sorted(fake.slept) == [0.25, 0.5, 0.75, 1.0]  # the first goes at once


async def test_time_that_passed_is_not_waited_again() -> None:
    fake = FakeTime()
    limiter = RateLimiter(2, clock=fake.clock, sleep=fake.sleep)
    await limiter.wait()
    fake.now += 10  # a quiet spell
    await limiter.wait()
    assert fake.slept == []


async def test_no_limit_never_waits() -> None:
    fake = FakeTime()
    limiter = RateLimiter(None, clock=fake.clock, sleep=fake.sleep)
    await asyncio.gather(*(limiter.wait() for _ in range(50)))
    assert fake.slept == []


@pytest.mark.parametrize("raw", ["0", "-1", "fast"])
def test_a_bad_rate_setting_is_named(raw: str) -> None:
    with pytest.raises(SettingsError, match="TWILIO_MAX_PER_SECOND must be a positive number"):
        Settings.from_env({"TWILIO_MAX_PER_SECOND": raw})


def test_the_rate_setting_is_read() -> None:
    assert Settings.from_env({"TWILIO_MAX_PER_SECOND": "30"}).twilio_max_per_second == 30
    assert Settings.from_env({}).twilio_max_per_second is None
