"""When a conversation goes to a person, and the honest 'when', with an
injected clock (feedbot.handoff_rules)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from feedbot.handoff_rules import (
    BusinessHours,
    HandoffConfig,
    is_severe,
    read_yes_no,
    when_someone_replies,
)

CONFIG = HandoffConfig()  # Mon–Fri 09:00–17:30 Europe/London; score ≤ 3; refund, cancel…


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (datetime(2026, 11, 20, 10, 0, tzinfo=UTC), "shortly"),  # Friday 10:00 London
        (datetime(2026, 11, 20, 17, 29, tzinfo=UTC), "shortly"),
        (datetime(2026, 11, 20, 17, 30, tzinfo=UTC), "on Monday at 09:00"),  # closed at 17:30
        (datetime(2026, 11, 21, 12, 0, tzinfo=UTC), "on Monday at 09:00"),  # Saturday
        (datetime(2026, 11, 22, 23, 0, tzinfo=UTC), "tomorrow at 09:00"),  # Sunday night
        (datetime(2026, 11, 23, 7, 0, tzinfo=UTC), "today at 09:00"),  # Monday early
        (datetime(2026, 11, 24, 20, 0, tzinfo=UTC), "tomorrow at 09:00"),  # Tuesday evening
        # Summer time: 08:30 UTC is 09:30 in London, open.
        (datetime(2026, 7, 1, 8, 30, tzinfo=UTC), "shortly"),
    ],
)
def test_when_someone_replies(now: datetime, expected: str) -> None:
    assert when_someone_replies(CONFIG, now) == expected


def test_business_hours_in_another_zone_and_days() -> None:
    hours = BusinessHours(time_zone="America/New_York", days=["sat"], start="10:00", end="14:00")
    saturday_noon_ny = datetime(2026, 11, 21, 17, 0, tzinfo=UTC)
    assert hours.is_open(saturday_noon_ny)
    assert hours.next_opening(datetime(2026, 11, 21, 20, 0, tzinfo=UTC)) == datetime(
        2026, 11, 28, 15, 0, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("score", "reason", "severe"),
    [
        (0, None, "score 0 (at most 3)"),
        (3, "fine", "score 3 (at most 3)"),
        (4, "slow", None),
        (9, "but I want a REFUND for the first one", "mentions 'refund'"),
        (6, "I cancelled my order", "mentions 'cancel'"),
        (6, "I'll take legal action", "mentions 'legal'"),
        (6, "the parcel was illegally parked", None),  # whole words only, from the start
        (None, "complaint", "mentions 'complaint'"),
        (None, None, None),
    ],
)
def test_what_is_severe(score: int | None, reason: str | None, severe: str | None) -> None:
    assert is_severe(score, reason, CONFIG) == severe


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"business_hours": {"time_zone": "Mars/Base"}}, "unknown time zone 'Mars/Base'"),
        ({"business_hours": {"days": ["monday"]}}, "days are some of mon, tue"),
        ({"severe_score_at_most": 11}, "less than or equal to 10"),
        ({"flag_waiting_after_minutes": 0}, "greater than 0"),
    ],
)
def test_mistakes_in_the_settings_are_named(raw: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        HandoffConfig.model_validate(raw)


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("Yes!", "yes"),
        ("yes thanks", "yes"),
        ("Yeah it was", "yes"),
        ("Nope", "no"),
        ("no, still waiting", "no"),
        ("not really", "no"),
        ("n", "no"),
        ("maybe", None),
        ("nothing happened", None),  # "no..." as part of a word is not "no"
        ("not really, nobody called", "no"),
    ],
)
def test_the_recovery_answer(text: str, answer: str | None) -> None:
    assert read_yes_no(text) == answer
