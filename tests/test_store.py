"""The store on SQLite and on the PostgreSQL server on this machine."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError

from feedbot.store.database import (
    CONVERSATION_PAGE_CACHE_KIB,
    DatabaseURLError,
    async_engine,
    sync_engine,
)
from feedbot.store.migrate import upgrade
from feedbot.store.models import Author, Direction, SurveyState
from feedbot.store.surveys import NewSurvey, ReasonTags, SurveyStore, ThemeTag
from tests.databases import fresh_database

T0 = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[SurveyStore]:
    upgrade(database_url)
    upgrade(database_url)  # applying twice is harmless
    engine = async_engine(database_url)
    yield SurveyStore(engine)
    await engine.dispose()


async def test_a_response_is_written_piece_by_piece(store: SurveyStore) -> None:
    survey = await store.create_survey(NewSurvey("web", "support", "store-12"), T0)
    await store.mark_started(survey.id, T0 + timedelta(seconds=1))
    await store.record_score(survey.id, 3, T0 + timedelta(seconds=5))

    partial = await store.get_survey(survey.id)
    assert partial is not None and partial.response is not None
    assert (partial.response.score, partial.response.category) == (3, "detractor")
    assert partial.response.reason is None and partial.state == SurveyState.STARTED

    await store.record_reason(survey.id, "Waited 40 minutes", T0 + timedelta(seconds=30))
    await store.finish(survey.id, SurveyState.COMPLETED, T0 + timedelta(seconds=31))
    await store.finish(survey.id, SurveyState.LEFT, T0 + timedelta(seconds=60))  # no effect

    done = await store.get_survey(survey.id)
    assert done is not None and done.response is not None
    assert done.state == SurveyState.COMPLETED
    assert done.response.reason == "Waited 40 minutes"
    assert done.started_at == T0 + timedelta(seconds=1)
    assert done.completed_at == T0 + timedelta(seconds=31)
    assert done.completed_at.tzinfo is not None  # aware on SQLite too


async def test_a_message_delivered_twice_is_stored_once(store: SurveyStore) -> None:
    survey = await store.create_survey(NewSurvey("web", "delivery"), T0)
    add = store.add_message
    assert await add(survey.id, Direction.INBOUND, Author.CUSTOMER, "9", T0, external_id="w:1")
    assert not await add(survey.id, Direction.INBOUND, Author.CUSTOMER, "9", T0, external_id="w:1")
    assert await add(survey.id, Direction.OUTBOUND, Author.BOT, "Why?", T0)
    assert await add(survey.id, Direction.OUTBOUND, Author.BOT, "Why?", T0)  # no id: both kept
    assert [m.text for m in await store.transcript(survey.id)] == ["9", "Why?", "Why?"]


async def test_a_customer_message_learns_whether_earlier_words_wait(store: SurveyStore) -> None:
    survey = await store.create_survey(NewSurvey("web", "delivery"), T0)
    other = await store.create_survey(NewSurvey("web", "delivery"), T0)
    hold = T0 + timedelta(seconds=30)
    first = await store.add_customer_message(survey.id, "9", T0, held_until=hold, external_id="a")
    assert first is not None and not first.behind_waiting_words
    # The first still waits for the bot: the next is behind it, another
    # survey's message is not, and the same message again is not stored.
    second = await store.add_customer_message(survey.id, "why", T0, held_until=hold)
    assert second is not None and second.behind_waiting_words
    again = await store.add_customer_message(survey.id, "9", T0, held_until=hold, external_id="a")
    assert again is None
    elsewhere = await store.add_customer_message(other.id, "7", T0, held_until=hold)
    assert elsewhere is not None and not elsewhere.behind_waiting_words
    await store.answered(first.id)
    await store.answered(second.id)
    third = await store.add_customer_message(survey.id, "ok", T0, held_until=hold, peer="+1555")
    assert third is not None and not third.behind_waiting_words
    stored = await store.transcript(survey.id)
    assert [(m.text, m.author, m.direction) for m in stored] == [
        (t, Author.CUSTOMER, Direction.INBOUND) for t in ["9", "why", "ok"]
    ]
    assert stored[2].awaiting_bot_since == hold and stored[2].peer == "+1555"
    assert stored[0].external_id == "a" and stored[0].buttons is None


async def test_starting_a_survey_creates_it_once_and_keeps_the_first_start(
    store: SurveyStore,
) -> None:
    new = NewSurvey("web", "checkout", "web-eu")
    await store.start_survey("s-1", new, T0)  # straight on Rasa: created, started
    await store.start_survey("s-1", NewSurvey("sms", "support"), T0 + timedelta(minutes=1))
    first = await store.get_survey("s-1")
    assert first is not None and (first.touchpoint, first.channel) == ("checkout", "web")
    assert first.started_at == T0 and first.state == SurveyState.STARTED

    made = await store.create_survey(NewSurvey("sms", "support"), T0)  # by the app
    assert (await store.get_survey(made.id)).started_at is None  # type: ignore[union-attr]
    await store.start_survey(made.id, new, T0 + timedelta(seconds=5))
    await store.start_survey(made.id, new, T0 + timedelta(seconds=9))
    started = await store.get_survey(made.id)
    assert started is not None and started.touchpoint == "support"
    assert started.started_at == T0 + timedelta(seconds=5)


async def test_the_same_interaction_cannot_make_two_surveys(store: SurveyStore) -> None:
    await store.create_survey(NewSurvey("web", "support", interaction_id="call-77"), T0)
    with pytest.raises(IntegrityError):
        await store.create_survey(NewSurvey("web", "support", interaction_id="call-77"), T0)


async def test_naive_timestamps_are_refused(store: SurveyStore) -> None:
    with pytest.raises(Exception, match="timezone-aware"):
        await store.create_survey(NewSurvey("web", "support"), datetime(2026, 1, 1))


def test_unsupported_databases_are_named() -> None:
    with pytest.raises(DatabaseURLError, match="oracle"):
        async_engine("oracle://scott:tiger@localhost/db")


async def test_the_report_facts_follow_the_response(store: SurveyStore) -> None:
    survey = await store.create_survey(NewSurvey("sms", "support"), T0)
    await store.mark_sent(survey.id, T0 + timedelta(seconds=2))
    await store.record_reason(survey.id, "slow", T0 + timedelta(seconds=40))  # score skipped
    skipped = await store.get_survey(survey.id)
    assert skipped is not None and skipped.score is None
    assert skipped.answered_at == T0 + timedelta(seconds=40) and skipped.answer_seconds is None
    await store.record_score(survey.id, 4, T0 + timedelta(seconds=62))
    scored = await store.get_survey(survey.id)
    assert scored is not None
    assert (scored.score, scored.answer_seconds) == (4, 60.0)
    assert scored.answered_at == T0 + timedelta(seconds=40)  # the first answer's time stays


def test_upgrading_fills_the_report_facts_of_earlier_answers(database_url: str) -> None:
    """Answers stored before migration 0004 get their score and times copied."""
    from alembic import command
    from sqlalchemy import text

    from feedbot.store.database import sync_engine
    from feedbot.store.migrate import alembic_config

    command.upgrade(alembic_config(database_url), "0003")
    engine = sync_engine(database_url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO surveys (id, channel, touchpoint, state, created_at, sent_at) "
                "VALUES ('old', 'sms', 'support', 'completed', :t, :sent)"
            ),
            {"t": T0, "sent": T0 + timedelta(seconds=5)},
        )
        conn.execute(
            text(
                "INSERT INTO responses (survey_id, score, category, scored_at, reason_at) "
                "VALUES ('old', 9, 'promoter', :scored, :reason)"
            ),
            {"scored": T0 + timedelta(seconds=95), "reason": T0 + timedelta(seconds=120)},
        )
    upgrade(database_url)
    with engine.connect() as conn:
        row = conn.execute(text("SELECT score, answer_seconds FROM surveys WHERE id = 'old'")).one()
    engine.dispose()
    assert row[0] == 9 and row[1] == pytest.approx(90.0, abs=0.01)


async def test_each_theme_keeps_its_own_sentiment_and_words(store: SurveyStore) -> None:
    survey = await store.create_survey(NewSurvey("web", "store_visit"), T0)
    await store.record_score(survey.id, 6, T0)
    reason = "great food but the waiter was rude"
    own = {
        "product": ThemeTag("positive", ["food"]),
        "staff": ThemeTag("negative", ["waiter", "rude"]),
    }
    await store.record_reason(
        survey.id, reason, T0, ReasonTags(["staff", "product"], "neutral", own)
    )
    assert await store.theme_readings(survey.id) == own
    # The probe's answer re-reads the whole why: a theme that stays is
    # updated in place, one that goes is removed, a new one is added.
    later = {"staff": ThemeTag("positive", ["waiter"]), "price": ThemeTag("negative", ["price"])}
    await store.record_follow_up(
        survey.id, "the price", T0, ReasonTags(["staff", "price"], "negative", later)
    )
    assert await store.theme_readings(survey.id) == later
    # A reading without a theme's own sentiment gives it the answer's.
    await store.record_follow_up(survey.id, "meh", T0, ReasonTags(["price"], "negative"))
    assert await store.theme_readings(survey.id) == {"price": ThemeTag("negative", None)}


def test_upgrading_gives_earlier_themes_their_answers_sentiment(database_url: str) -> None:
    """Theme rows stored before migration 0006 take their answer's sentiment."""
    from alembic import command
    from sqlalchemy import text

    from feedbot.store.migrate import alembic_config

    command.upgrade(alembic_config(database_url), "0005")
    engine = sync_engine(database_url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO surveys (id, channel, touchpoint, state, created_at) "
                "VALUES ('old', 'web', 'support', 'completed', :t)"
            ),
            {"t": T0},
        )
        conn.execute(
            text(
                "INSERT INTO responses (survey_id, score, category, sentiment) "
                "VALUES ('old', 3, 'detractor', 'negative')"
            )
        )
        conn.execute(
            text("INSERT INTO response_themes (survey_id, theme, score) VALUES ('old', 'staff', 3)")
        )
    upgrade(database_url)
    with engine.connect() as conn:
        row = conn.execute(text("SELECT sentiment, words FROM response_themes")).one()
    engine.dispose()
    assert tuple(row) == ("negative", None)


def test_the_migrations_make_exactly_the_models_schema(database_url: str) -> None:
    """Every column and index the models declare, made by the migrations (and
    nothing else): a model changed without its migration fails here."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from feedbot.store.models import Base

    upgrade(database_url)
    engine = sync_engine(database_url)
    with engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert differences == []


async def test_conversation_connections_keep_a_small_sqlite_page_cache(tmp_path: Path) -> None:
    """Every pooled connection of the conversation engine, not only the first,
    has the bounded cache; the reporting (sync) engine keeps SQLite's default."""
    url = f"sqlite:///{tmp_path / 'cache.db'}"
    upgrade(url)
    engine = async_engine(url)
    try:
        async with engine.connect() as one, engine.connect() as two:  # two connections
            for conn in (one, two):
                pragma = await conn.exec_driver_sql("PRAGMA cache_size")
                assert pragma.scalar() == -CONVERSATION_PAGE_CACHE_KIB
    finally:
        await engine.dispose()
    default = async_engine(url, page_cache_kib=None)
    try:
        async with default.connect() as conn:
            assert (await conn.exec_driver_sql("PRAGMA cache_size")).scalar() == -2000
    finally:
        await default.dispose()
    reports = sync_engine(url)
    with reports.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA cache_size").scalar() == -2000
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    reports.dispose()


async def test_a_dropped_idle_connection_is_replaced_and_busy_ones_are_not_pinged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL ends a pooled connection (as a restart would) while it sits
    idle: the next use pings it, finds it gone and takes a fresh one, so the
    customer's turn does not fail. In steady use nothing is pinged."""
    import asyncio

    import psycopg
    from sqlalchemy import text

    from feedbot.store import database
    from tests.databases import PG_ADMIN

    monkeypatch.setattr(database, "PING_AFTER_IDLE_SECONDS", 0.3)
    with fresh_database("postgresql", tmp_path) as url:
        engine = async_engine(url)
        pings: list[object] = []
        real_ping = engine.dialect.do_ping

        def counted_ping(dbapi_connection: object) -> bool:
            pings.append(dbapi_connection)
            return real_ping(dbapi_connection)

        monkeypatch.setattr(engine.dialect, "do_ping", counted_ping)
        async with engine.connect() as conn:
            backend = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        for _ in range(5):  # steady use: the same pooled connection, no pings
            async with engine.connect() as conn:
                assert (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one() == backend
        assert pings == []
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (backend,))
        await asyncio.sleep(0.4)
        async with engine.connect() as conn:
            fresh = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        assert fresh != backend
        assert len(pings) == 1
        await engine.dispose()


async def test_a_turns_bot_replies_are_stored_in_order(store: SurveyStore) -> None:
    survey = await store.create_survey(NewSurvey("web", "support", None), T0)
    await store.add_message(survey.id, Direction.INBOUND, Author.CUSTOMER, "9", T0)
    buttons = [{"title": "Yes", "payload": "yes"}]
    replies = [("Thanks!", None), ("What made you say 9?", buttons), ("Take your time.", None)]
    await store.add_bot_replies(survey.id, replies, T0 + timedelta(seconds=1))
    await store.add_bot_replies(survey.id, [], T0 + timedelta(seconds=2))  # nothing to store

    transcript = await store.transcript(survey.id)
    assert [(m.author, m.text) for m in transcript] == [
        (Author.CUSTOMER, "9"),
        *[(Author.BOT, text) for text, _ in replies],
    ]
    assert transcript[2].buttons == buttons and transcript[1].buttons is None
    assert all(m.direction == Direction.OUTBOUND for m in transcript[1:])


async def test_every_change_of_state_follows_the_surveys_life(store: SurveyStore) -> None:
    """One transition function (feedbot.store.survey_states): an ending is
    kept (the first one wins), a detractor's ending is due for its owners'
    alerts however it ends, and a change the life does not have is refused."""
    from feedbot.store.survey_states import ALERT_DUE, NotAllowed, transition

    survey = await store.create_survey(NewSurvey(channel="web", touchpoint="support"), T0)
    assert survey.state == SurveyState.STARTED
    await store.record_score(survey.id, 2, T0)
    assert not await store.change(
        survey.id, transition(SurveyState.STARTED, T0)
    )  # not from started
    await store.finish(survey.id, SurveyState.LEFT, T0, reason="said goodbye")
    await store.finish(survey.id, SurveyState.COMPLETED, T0)  # too late: the first ending stays
    stored = await store.get_survey(survey.id)
    assert stored is not None
    assert (stored.state, stored.state_reason, stored.completed_at) == (
        "left",
        "said goodbye",
        None,
    )
    assert stored.alert_state == ALERT_DUE  # a detractor who left: the owners hear of it

    happy = await store.create_survey(NewSurvey(channel="web", touchpoint="support"), T0)
    await store.record_score(happy.id, 10, T0)
    await store.finish(happy.id, SurveyState.COMPLETED, T0 + timedelta(minutes=1))
    stored = await store.get_survey(happy.id)
    assert stored is not None and stored.state == "completed" and stored.alert_state is None
    assert stored.completed_at is not None

    held = await store.create_survey(NewSurvey(channel="sms", touchpoint="support"), T0)
    await store.schedule(held.id, T0 + timedelta(hours=9), "quiet hours")
    (claimed,) = await store.claim_due(T0 + timedelta(hours=10))
    assert claimed.id == held.id and claimed.state == SurveyState.STARTED
    assert await store.claim_due(T0 + timedelta(hours=10)) == []  # claimed once only
    with pytest.raises(NotAllowed):
        transition(SurveyState.COMPLETED, None)  # completing needs its time
    with pytest.raises(NotAllowed):
        transition(SurveyState.COMPLETED, T0, came_from=frozenset({SurveyState.EXPIRED}))


def test_instances_starting_at_once_migrate_one_at_a_time(tmp_path: Path) -> None:
    """A service manager starts every app instance together, and each applies
    the migrations first: on a new PostgreSQL database four `feedbot migrate`
    processes started at once all succeed (before the lock, all but one
    failed with a duplicate table), and the schema is made once."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from feedbot.store.models import Base

    with fresh_database("postgresql", tmp_path) as url:
        env = {**os.environ, "DATABASE_URL": url}
        migrating = [
            subprocess.Popen(
                [sys.executable, "-m", "commands.cli", "migrate"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for _ in range(4)
        ]
        said = [process.communicate(timeout=120)[0] for process in migrating]
        assert [p.returncode for p in migrating] == [0] * 4, [out[-400:] for out in said]
        assert all("Database is up to date." in out for out in said), said
        engine = sync_engine(url)
        with engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
            assert conn.exec_driver_sql("SELECT count(*) FROM alembic_version").scalar() == 1
        engine.dispose()
