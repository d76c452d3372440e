from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from feedbot.contact_rules import QuietHours, Verdict, decide, sampled_in

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
QUIET = QuietHours(time(21, 0), time(8, 0))


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def rules(now: datetime, **overrides: object):  # type: ignore[no-untyped-def]
    base = dict(
        opted_out=False,
        last_surveyed_at=None,
        min_gap=timedelta(days=30),
        sample_percent=100,
        sample_key="interaction-1",
        quiet_hours=QUIET,
        time_zone=LONDON,
    )
    return decide(now, **{**base, **overrides})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("now", "overrides", "verdict", "reason"),
    [
        (at(10, 12), {}, Verdict.SEND, "passed"),
        (at(10, 12), {"opted_out": True}, Verdict.SUPPRESS, "opted out"),
        (at(10, 12), {"last_surveyed_at": at(1, 12)}, Verdict.SUPPRESS, "9 days ago"),
        (at(10, 12), {"last_surveyed_at": at(10, 12) - timedelta(days=31)}, Verdict.SEND, ""),
        (
            at(10, 12),
            {"last_surveyed_at": at(1, 12), "min_gap": timedelta(days=7)},
            Verdict.SEND,
            "",
        ),
        (at(10, 12), {"sample_percent": 0}, Verdict.SUPPRESS, "not sampled (0%"),
        (at(10, 22), {}, Verdict.DELAY, "quiet hours in Europe/London"),
        (at(10, 7, 59), {}, Verdict.DELAY, "sending at 2026-11-10 08:00"),
        (at(10, 8), {}, Verdict.SEND, ""),
        # 22:00 UTC is 17:00 in New York: not quiet there.
        (at(10, 22), {"time_zone": NEW_YORK}, Verdict.SEND, ""),
        (at(10, 22), {"quiet_hours": None}, Verdict.SEND, ""),
        # Opted out wins over everything else.
        (at(10, 22), {"opted_out": True, "sample_percent": 0}, Verdict.SUPPRESS, "opted out"),
    ],
)
def test_decisions(now: datetime, overrides: dict, verdict: Verdict, reason: str) -> None:
    decision = rules(now, **overrides)
    assert decision.verdict is verdict
    assert reason in decision.reason


def test_a_delayed_send_waits_for_the_morning_in_the_customers_time_zone() -> None:
    decision = rules(at(10, 23, 30))
    assert decision.send_at == datetime(2026, 11, 11, 8, 0, tzinfo=LONDON).astimezone(UTC)
    evening = rules(at(10, 21, 5), time_zone=NEW_YORK)  # 16:05 in New York
    assert evening.verdict is Verdict.SEND


def test_quiet_hours_that_do_not_cross_midnight() -> None:
    lunch = QuietHours(time(12, 0), time(13, 0))
    assert lunch.contains(time(12, 30)) and not lunch.contains(time(13, 0))
    assert rules(at(10, 12, 30), quiet_hours=lunch).send_at == at(10, 13)


@pytest.mark.parametrize("percent", [0, 10, 50, 90, 100])
def test_sampling_is_deterministic_and_close_to_its_percentage(percent: int) -> None:
    keys = [f"interaction-{i}" for i in range(4000)]
    chosen = [k for k in keys if sampled_in(k, percent)]
    assert chosen == [k for k in keys if sampled_in(k, percent)]
    assert abs(len(chosen) / len(keys) * 100 - percent) < 3
