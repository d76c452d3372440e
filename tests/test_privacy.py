"""Erasing a customer and the retention period (feedbot.privacy), on SQLite
and on the PostgreSQL server on this machine; the command line and the admin
API; and, end to end, a real conversation erased from the store and from the
real Rasa's tracker store."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from bot.sms.scheduler import apply_retention
from feedbot.privacy import anonymise_before, erase_customer, identifier_digest
from feedbot.settings import PROJECT_ROOT, Settings, SettingsError
from feedbot.store.database import sync_engine
from feedbot.store.migrate import upgrade
from feedbot.store.models import (
    AuditEvent,
    Erasure,
    Handoff,
    HandoffNote,
    InboundSms,
    Message,
    OptOut,
    Response,
    ResponseTheme,
    Survey,
    WebhookDelivery,
)
from tests.chat import ChatClient
from tests.conftest import ADMIN_TOKEN, ANALYST_TOKEN, API_TOKEN
from tests.databases import fresh_database
from tests.system import System

T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
ALICE, BOB = "+447911123456", "+447911654321"
KEY = "test-privacy-key"
# A stand-in for Rasa's SQL tracker store's table (the columns Rasa 3.6
# creates): the real Rasa runs in its own Python and cannot be imported
# here; the end-to-end test at the bottom uses its real store.
RASA_EVENTS = """CREATE TABLE events (
    id {serial} PRIMARY KEY, sender_id VARCHAR(255) NOT NULL, type_name VARCHAR(255) NOT NULL,
    timestamp FLOAT, intent_name VARCHAR(255), action_name VARCHAR(255), data TEXT)"""


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with fresh_database(request.param, tmp_path) as url:
        upgrade(url)
        engine = sync_engine(url)
        with engine.begin() as conn:
            serial = "SERIAL" if request.param == "postgresql" else "INTEGER"
            conn.execute(text(RASA_EVENTS.format(serial=serial)))
        yield engine
        engine.dispose()


def seed_customer(
    session: Session, survey_id: str, phone: str, at: datetime, rasa_events: bool = True
) -> None:
    """A survey with everything a conversation leaves: answer, themes, its
    transcript, a hand-off with a note and a webhook delivery, Rasa's events."""
    session.add(
        Survey(
            id=survey_id,
            channel="sms",
            touchpoint="support",
            location="leeds",
            customer_ref=phone,
            interaction_id=f"order-{survey_id}",
            state="completed",
            created_at=at,
            score=2,
        )
    )
    session.flush()
    session.add(
        Response(
            survey_id=survey_id,
            score=2,
            category="detractor",
            reason="the agent hung up on me",
            follow_up="call me on 07700 900999",
            sentiment="negative",
        )
    )
    session.flush()
    session.add(
        ResponseTheme(
            survey_id=survey_id,
            theme="staff",
            touchpoint="support",
            score=2,
            sentiment="negative",
            words=["agent"],
        )
    )
    for i, said in enumerate(["2", "the agent hung up on me"]):
        session.add(
            Message(
                survey_id=survey_id,
                peer=phone,
                direction="in",
                author="customer",
                text=said,
                created_at=at + timedelta(seconds=i),
            )
        )
    handoff = Handoff(
        id=f"h-{survey_id}",
        survey_id=survey_id,
        reason="not_understood",
        detail="not understood: 'my account number is 1234'",
        urgency=1,
        state="resolved",
        created_at=at,
        recovery_answer="still waiting for the refund",
    )
    session.add(handoff)
    session.flush()
    session.add(HandoffNote(handoff_id=handoff.id, author="sam", text="refund due", created_at=at))
    session.add(
        WebhookDelivery(
            handoff_id=handoff.id, event="opened", url="http://x", payload="{}", created_at=at
        )
    )
    session.flush()
    if not rasa_events:
        return
    session.execute(
        text("INSERT INTO events (sender_id, type_name, data) VALUES (:s, 'user', '{}')"),
        [{"s": survey_id}, {"s": survey_id}],
    )


def counts(engine: Engine) -> dict[str, int]:
    with Session(engine) as session:
        found = {
            model.__tablename__: session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Survey, Response, ResponseTheme, Message, Handoff, HandoffNote)
        }
        found["webhook_deliveries"] = session.scalar(
            select(func.count()).select_from(WebhookDelivery)
        )
        found["events"] = session.scalar(text("SELECT count(*) FROM events"))
        return found


def test_erasing_a_customer_removes_everything_but_their_opt_out(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        seed_customer(session, "a1", ALICE, T0)
        seed_customer(session, "a2", ALICE, T0 + timedelta(days=3))
        seed_customer(session, "b1", BOB, T0)
        session.add(  # a text outside any survey, from Alice's number
            Message(peer=ALICE, direction="in", author="customer", text="hi?", created_at=T0)
        )
        session.add(OptOut(phone=ALICE, keyword="STOP", opted_out_at=T0))
        session.add(  # the same text, as the SMS inbox kept it
            InboundSms(sid="SM1", phone=ALICE, body="hi?", received_at=T0, attempts=1)
        )
    before = counts(engine)

    erased = erase_customer(
        engine,
        customer_ref=ALICE,
        kind="phone",
        by="cli",
        at=T0 + timedelta(days=10),
        key=KEY,
        tracker_engine=engine,
    )
    assert erased.as_dict() == {
        "surveys": 2,
        "messages": 6,
        "handoffs": 2,
        "conversation_events": 4,
    }
    after = counts(engine)
    assert after == {
        "surveys": 1,
        "responses": 1,
        "response_themes": 1,
        "messages": 2,
        "handoffs": 1,
        "handoff_notes": 1,
        "webhook_deliveries": 1,
        "events": 2,
    }, before
    with Session(engine) as session:
        assert session.scalar(select(Survey.customer_ref)) == BOB  # Bob's untouched
        assert session.get(OptOut, ALICE) is not None  # still never texted
        (record,) = session.scalars(select(Erasure))
        assert (record.kind, record.by, record.counts) == ("phone", "cli", erased.as_dict())
        assert record.identifier_digest == identifier_digest(ALICE, KEY)
        assert ALICE not in json.dumps(
            [record.identifier_digest, record.kind, record.by, record.counts]
        )

    # Erasing again finds nothing, and says so in a second record.
    again = erase_customer(
        engine, customer_ref=ALICE, kind="phone", by="admin", at=T0, key=KEY, tracker_engine=engine
    )
    assert again.as_dict() == {"surveys": 0, "messages": 0, "handoffs": 0, "conversation_events": 0}


def test_the_retention_period_keeps_figures_and_drops_words(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        seed_customer(session, "old", ALICE, T0)
        seed_customer(session, "new", BOB, T0 + timedelta(days=200))
        session.add(
            Message(peer=ALICE, direction="in", author="customer", text="hi?", created_at=T0)
        )
        for sid, at in (("SM-old", T0), ("SM-new", T0 + timedelta(days=200))):
            session.add(InboundSms(sid=sid, phone=ALICE, body="hi?", received_at=at, attempts=1))
    cutoff, now = T0 + timedelta(days=100), T0 + timedelta(days=465)
    done = anonymise_before(engine, cutoff, now, tracker_engine=engine)
    assert (done.surveys, done.messages, done.conversation_events) == (1, 4, 2)
    with Session(engine) as session:
        assert list(session.scalars(select(InboundSms.sid))) == ["SM-new"]

    with Session(engine) as session:
        old, new = session.get(Survey, "old"), session.get(Survey, "new")
        assert old is not None and new is not None
        # Figures stay: reports over the past are unchanged.
        assert (old.touchpoint, old.location, old.score, old.created_day) == (
            "support",
            "leeds",
            2,
            T0.date().isoformat(),
        )
        assert (old.customer_ref, old.interaction_id, old.anonymised_at) == (None, None, now)
        response = session.get(Response, "old")
        assert response is not None
        assert (response.reason, response.follow_up) == (None, None)
        assert (response.score, response.category, response.sentiment) == (
            2,
            "detractor",
            "negative",
        )
        theme = session.scalars(select(ResponseTheme).where(ResponseTheme.survey_id == "old")).one()
        assert (theme.theme, theme.sentiment, theme.words) == ("staff", "negative", None)
        handoff = session.get(Handoff, "h-old")
        assert handoff is not None and (handoff.detail, handoff.recovery_answer) == (None, "other")
        assert session.scalar(select(func.count()).select_from(HandoffNote)) == 1  # new's
        # The newer survey keeps everything.
        assert new.customer_ref == BOB and session.get(Response, "new").reason  # type: ignore[union-attr]
        assert session.scalar(text("SELECT count(*) FROM events WHERE sender_id = 'new'")) == 2
    # Applied again: nothing more to do.
    assert anonymise_before(engine, cutoff, now, tracker_engine=engine).surveys == 0


FEEDBOT = [sys.executable, "-m", "commands.cli"]


def test_feedbot_erase_on_the_command_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'feedbot.db'}"
    upgrade(url)
    engine = sync_engine(url)
    with Session(engine) as session, session.begin():
        seed_customer(session, "a1", ALICE, T0, rasa_events=False)
    engine.dispose()
    env = {"DATABASE_URL": url, "FEEDBOT_VAR_DIR": str(tmp_path / "var")}

    def feedbot(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*FEEDBOT, "erase", *args],
            cwd=PROJECT_ROOT,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=60,
        )

    asked = feedbot("--phone", "07911 123456")
    assert asked.returncode == 2 and "Add --yes" in asked.stderr
    both = feedbot("--phone", ALICE, "--customer-id", "c-1", "--yes")
    assert both.returncode == 2 and "exactly one of --phone or --customer-id" in both.stderr
    bad = feedbot("--phone", "12", "--yes")
    assert bad.returncode == 2 and "not a valid phone number" in bad.stderr
    done = feedbot("--phone", "07911 123456", "--yes")  # a national number, read in GB
    assert done.returncode == 0, done.stderr
    assert "Erased 1 survey(s), 2 message(s), 1 hand-off(s)" in " ".join(done.stderr.split())
    engine = sync_engine(url)
    assert counts_without_events(engine)["surveys"] == 0
    engine.dispose()


def counts_without_events(engine: Engine) -> dict[str, int]:
    with Session(engine) as session:
        return {"surveys": session.scalar(select(func.count()).select_from(Survey)) or 0}


async def test_an_admin_erases_a_real_conversation_everywhere(system: System) -> None:
    """Through the API and the widget: the store and the real Rasa's tracker
    store lose every trace of the customer."""
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{system.base_url}/api/surveys",
            json={"channel": "web", "touchpoint": "support", "customer_id": "cust-erase-1"},
            headers={"Authorization": f"Bearer {API_TOKEN}"},
        ) as resp:
            survey_id = (await resp.json())["survey_id"]
        async with http.ws_connect(system.ws_url) as ws:
            chat = ChatClient(ws)
            await chat.start(survey_id=survey_id)
            await chat.say("3")
            await chat.say("the agent was rude")
        tracker = sync_engine(f"sqlite:///{system.log_dir.parent / 'rasa-tracker.db'}")
        query = text("SELECT count(*) FROM events WHERE sender_id = :s")
        with tracker.connect() as conn:
            assert conn.scalar(query, {"s": survey_id}) > 0  # Rasa kept the conversation

        url = f"{system.base_url}/api/erasures"
        for headers, body, status in [
            ({"Authorization": f"Bearer {ANALYST_TOKEN}"}, {"customer_id": "x"}, 403),
            ({"Authorization": f"Bearer {ADMIN_TOKEN}"}, {}, 400),
            ({"Authorization": f"Bearer {ADMIN_TOKEN}"}, {"phone": "12"}, 400),
        ]:
            async with http.post(url, json=body, headers=headers) as resp:
                assert resp.status == status and (await resp.json())["error"]
        async with http.post(
            url,
            json={"customer_id": "cust-erase-1"},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        ) as resp:
            answer = await resp.json()
    assert resp.status == 200, answer
    assert answer["erased"]["surveys"] == 1 and answer["erased"]["messages"] >= 4
    assert answer["erased"]["conversation_events"] > 0
    with tracker.connect() as conn:
        assert conn.scalar(query, {"s": survey_id}) == 0
    tracker.dispose()
    with Session(system.engine) as session:
        assert session.get(Survey, survey_id) is None
        assert session.scalar(select(func.count()).where(Message.survey_id == survey_id)) == 0
        audit = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "customer.erase")
        ).all()
        assert [(e.role, e.detail) for e in audit][-1] == ("admin", {"kind": "customer_id"})


async def test_the_scheduler_applies_the_retention_period_from_settings(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path / 'feedbot.db'}"
    upgrade(url)
    engine = sync_engine(url)
    with Session(engine) as session, session.begin():
        seed_customer(session, "old", ALICE, T0, rasa_events=False)
        seed_customer(session, "new", BOB, T0 + timedelta(days=40), rasa_events=False)
    engine.dispose()
    now = T0 + timedelta(days=45)
    kept = Settings(database_url=url, var_dir=tmp_path / "var")
    assert (await apply_retention(kept, now)).surveys == 0  # no period set: kept
    settings = Settings.from_env(
        {
            "DATABASE_URL": url,
            "FEEDBOT_VAR_DIR": str(tmp_path / "var"),
            "FEEDBOT_RETENTION_DAYS": "30",
        }
    )
    with caplog.at_level(logging.INFO):
        done = await apply_retention(settings, now)
    assert done.surveys == 1
    assert "retention (30 days): anonymised 1 survey(s), deleted 2 message(s)" in caplog.text
    assert "hung up" not in caplog.text  # logs carry no answer text
    engine = sync_engine(url)
    with Session(engine) as session:
        assert session.get(Response, "old").reason is None  # type: ignore[union-attr]
        assert session.get(Response, "new").reason == "the agent hung up on me"  # type: ignore[union-attr]
    engine.dispose()


def test_a_retention_period_must_be_a_number_of_days() -> None:
    with pytest.raises(SettingsError, match="FEEDBOT_RETENTION_DAYS must be at least 1"):
        Settings.from_env({"FEEDBOT_RETENTION_DAYS": "-3"})
