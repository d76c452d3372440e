"""Hand-offs in the store, on SQLite and on the PostgreSQL server here."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from feedbot.store.database import async_engine
from feedbot.store.handoffs import HandoffStore
from feedbot.store.migrate import upgrade
from feedbot.store.models import HandoffState
from feedbot.store.surveys import NewSurvey, SurveyStore
from tests.databases import fresh_database

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database(request.param, tmp_path) as url:
        upgrade(url)
        yield url


@pytest.fixture
async def stores(database_url: str) -> AsyncIterator[tuple[SurveyStore, HandoffStore]]:
    engine = async_engine(database_url)
    yield SurveyStore(engine), HandoffStore(engine)
    await engine.dispose()


async def test_one_open_handoff_per_survey(stores: tuple[SurveyStore, HandoffStore]) -> None:
    surveys, handoffs = stores
    survey = await surveys.create_survey(
        NewSurvey("sms", "support", customer_ref="+447911100001"), T0
    )
    first, made = await handoffs.open(survey.id, "asked_for_person", None, 2, T0)
    again, made_again = await handoffs.open(survey.id, "not_understood", None, 1, T0)
    assert made and not made_again and again.id == first.id
    assert (await handoffs.open_for_survey(survey.id)).id == first.id  # type: ignore[union-attr]


async def test_claim_reply_resolve_and_recovery(stores: tuple[SurveyStore, HandoffStore]) -> None:
    surveys, handoffs = stores
    survey = await surveys.create_survey(NewSurvey("web", "delivery"), T0)
    handoff, _ = await handoffs.open(survey.id, "severe_detractor", "score 1", 3, T0)
    assert await handoffs.claim(handoff.id, "sam", T0 + timedelta(minutes=3))
    assert not await handoffs.claim(handoff.id, "alex", T0 + timedelta(minutes=4))  # taken
    await handoffs.replied(handoff.id, T0 + timedelta(minutes=5))
    await handoffs.replied(handoff.id, T0 + timedelta(minutes=9))  # the first reply counts
    await handoffs.add_note(handoff.id, "sam", "refund approved", T0 + timedelta(minutes=6))
    assert await handoffs.resolve(handoff.id, "refunded", T0 + timedelta(minutes=20), "sam")
    assert not await handoffs.resolve(handoff.id, "refunded", T0 + timedelta(minutes=21), "sam")
    assert await handoffs.open_for_survey(survey.id) is None
    waiting = await handoffs.current_for_survey(survey.id)  # awaits the recovery answer
    assert waiting is not None and waiting.id == handoff.id
    assert waiting.state == HandoffState.RESOLVED
    assert await handoffs.record_recovery(handoff.id, "yes", T0 + timedelta(minutes=30))
    assert not await handoffs.record_recovery(handoff.id, "no", T0 + timedelta(minutes=31))
    assert await handoffs.current_for_survey(survey.id) is None

    done = await handoffs.get(handoff.id)
    assert done is not None
    assert (done.state, done.claimed_by, done.resolution_code) == (
        HandoffState.RESOLVED,
        "sam",
        "refunded",
    )
    assert done.first_reply_at == T0 + timedelta(minutes=5)
    assert done.recovery_answer == "yes"
    assert [n.text for n in await handoffs.notes(handoff.id)] == ["refund approved"]


async def test_two_agents_claiming_at_once_one_wins(
    stores: tuple[SurveyStore, HandoffStore],
) -> None:
    surveys, handoffs = stores
    survey = await surveys.create_survey(NewSurvey("web", "support"), T0)
    handoff, _ = await handoffs.open(survey.id, "asked_for_person", None, 1, T0)
    wins = await asyncio.gather(*(handoffs.claim(handoff.id, f"agent-{i}", T0) for i in range(5)))
    assert sorted(wins) == [False, False, False, False, True]


async def test_the_queue_is_most_urgent_then_oldest(
    stores: tuple[SurveyStore, HandoffStore],
) -> None:
    surveys, handoffs = stores
    made = []
    for minutes, urgency in ((0, 1), (1, 3), (2, 3), (3, 2)):
        survey = await surveys.create_survey(NewSurvey("web", "support"), T0)
        handoff, _ = await handoffs.open(
            survey.id, "asked_for_person", None, urgency, T0 + timedelta(minutes=minutes)
        )
        made.append(handoff.id)
    await handoffs.resolve(made[3], "resolved", T0 + timedelta(minutes=5), "sam")
    assert [q.handoff.id for q in await handoffs.queue()] == [made[1], made[2], made[0]]


async def test_a_person_is_offered_once_and_accepting_queues_it(
    stores: tuple[SurveyStore, HandoffStore],
) -> None:
    surveys, handoffs = stores
    survey = await surveys.create_survey(
        NewSurvey("sms", "support", customer_ref="+447911100002"), T0
    )
    offered = await handoffs.offer(survey.id, "score 1 (at most 3)", T0)
    assert offered is not None and offered.state == HandoffState.OFFERED
    assert await handoffs.offer(survey.id, "again", T0) is None  # once per survey
    assert await handoffs.open_for_survey(survey.id) is None  # not in the queue yet
    assert [q.handoff.id for q in await handoffs.queue()] == []
    found = await handoffs.open_for_customer("sms", "+447911100002")
    assert found is not None and found.handoff.id == offered.id  # texts reach the offer
    later = T0 + timedelta(minutes=2)
    assert await handoffs.answer_offer(offered.id, True, later)
    assert not await handoffs.answer_offer(offered.id, False, later)  # answered once
    queued = await handoffs.open_for_survey(survey.id)
    assert queued is not None and queued.state == HandoffState.WAITING
    assert queued.created_at == later  # waiting counts from the yes


async def test_a_declined_offer_stays_out_of_the_queue(
    stores: tuple[SurveyStore, HandoffStore],
) -> None:
    surveys, handoffs = stores
    survey = await surveys.create_survey(NewSurvey("web", "checkout"), T0)
    offered = await handoffs.offer(survey.id, "mentions 'refund'", T0)
    assert offered is not None and await handoffs.answer_offer(offered.id, False, T0)
    declined = await handoffs.get(offered.id)
    assert declined is not None and declined.state == HandoffState.DECLINED
    assert await handoffs.open_for_survey(survey.id) is None
    assert await handoffs.offer(survey.id, "again", T0) is None
