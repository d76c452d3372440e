"""Hand-offs in the analysts' report, against figures worked out by hand, on
SQLite and on the PostgreSQL server on this machine."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from analytics.handoffs import handoff_summary
from analytics.query import Dimension, Scope
from analytics.report import build_report
from feedbot.store.database import sync_engine
from feedbot.store.migrate import upgrade
from feedbot.store.models import Handoff, Survey, SurveyState
from tests.databases import fresh_database

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with fresh_database(request.param, tmp_path) as url:
        upgrade(url)
        engine = sync_engine(url)
        yield engine
        engine.dispose()


def seed(engine: Engine) -> None:
    """Six hand-offs on two touchpoints; times in minutes after opening:
    support: resolved (reply 10, resolved 60, 'yes'); resolved (reply 30,
    resolved 240, 'no'); resolved (reply 20, resolved 120, own words);
    claimed (reply 5, open); a declined offer.
    delivery: waiting (no reply), not understood."""
    cases = [
        ("support", "asked_for_person", "resolved", 10, 60, "yes"),
        ("support", "severe_detractor", "resolved", 30, 240, "no"),
        ("support", "severe_detractor", "resolved", 20, 120, "it took a week"),
        ("support", "asked_for_person", "claimed", 5, None, None),
        ("support", "severe_detractor", "declined", None, None, None),
        ("delivery", "not_understood", "waiting", None, None, None),
    ]
    with Session(engine) as session, session.begin():
        for n, (touchpoint, reason, state, reply, resolved, answer) in enumerate(cases):
            survey = Survey(
                id=f"s{n}",
                channel="web",
                touchpoint=touchpoint,
                state=SurveyState.COMPLETED,
                created_at=T0,
            )
            session.add(survey)
            session.flush()
            session.add(
                Handoff(
                    id=f"h{n}",
                    survey_id=survey.id,
                    reason=reason,
                    state=state,
                    urgency=2,
                    created_at=T0,
                    first_reply_at=T0 + reply * MIN if reply is not None else None,
                    resolved_at=T0 + resolved * MIN if resolved is not None else None,
                    recovery_answer=answer,
                )
            )


def test_hand_offs_are_counted_and_timed(engine: Engine) -> None:
    seed(engine)
    with engine.connect() as conn:
        everything = handoff_summary(conn, Scope())
        support = handoff_summary(conn, Scope(touchpoint="support"))
        later = handoff_summary(conn, Scope(since=T0.date() + timedelta(days=1)))
    assert everything == {
        "handed_off": 5,  # the declined offer never reached an agent
        "by_reason": {
            "asked_for_person": 2,
            "severe_detractor": 2,
            "not_understood": 1,
            "improvement_reply": 0,
        },
        "open": 2,
        "resolved": 3,
        "offers_declined": 1,
        "median_minutes_to_first_reply": 15.0,  # of 10, 30, 20, 5
        "median_minutes_to_resolution": 120.0,  # of 60, 240, 120
        "recovery": {"asked": 3, "yes": 1, "no": 1, "other": 1},
    }
    assert (support["handed_off"], support["open"], support["by_reason"]["not_understood"]) == (
        4,
        1,
        0,
    )
    assert later["handed_off"] == 0 and later["median_minutes_to_first_reply"] is None


def test_the_report_carries_them(engine: Engine) -> None:
    seed(engine)
    with engine.connect() as conn:
        report = build_report(conn, Scope(touchpoint="delivery"), (Dimension.TOUCHPOINT,))
    assert report["handoffs"]["handed_off"] == 1
    assert report["handoffs"]["by_reason"]["not_understood"] == 1
