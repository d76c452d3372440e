"""While no Rasa instance can take a turn, a customer's words are kept and
they are told once that the bot will reply; once Rasa is back, the bot
answers every waiting message in order, and the answers reach the customer
and the store. The app that loses Rasa points at a port nothing listens on;
the one that finds it again uses the running stack's real Rasa."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from bot.app import create_app
from bot.conversations import BOT_WILL_REPLY, MAX_BOT_TRIES
from bot.keys import CHANNELS, CONVERSATIONS, RASA, STORE
from bot.replay import replay_awaiting
from bot.sms.scheduler import send_due
from feedbot.app_words import app_words
from feedbot.rasa_env import tracker_url
from feedbot.settings import Settings, SettingsError
from feedbot.store.database import sync_engine
from feedbot.store.models import Author, Direction, Message
from tests.chat import ChatClient, follow_up
from tests.conftest import API_TOKEN, settings_for
from tests.databases import fresh_database
from tests.fake_twilio import FakeTwilio
from tests.helpers.config import touchpoints_for_tests
from tests.helpers.gate import Gate
from tests.helpers.stack import temporary_stack
from tests.system import System, transcript

pytestmark = pytest.mark.system


def dead_url() -> str:
    with socket.socket() as probe:  # a port that was free a moment ago: refused
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


@pytest.fixture
async def apps(
    system: System, fake_twilio: FakeTwilio, tmp_path: Path
) -> AsyncIterator[tuple[TestClient, TestClient]]:
    """(an app whose Rasa is gone, an app with the real Rasa) on one store,
    with no quiet hours (an SMS survey asked for at night would otherwise
    wait for the morning, not for Rasa)."""
    settings = dataclasses.replace(
        settings_for(system, fake_twilio), touchpoints_file=touchpoints_for_tests(tmp_path)
    )
    down = create_app(dataclasses.replace(settings, rasa_urls=(dead_url(),)), run_scheduler=False)
    up = create_app(settings, run_scheduler=False)
    async with TestClient(TestServer(down)) as lost, TestClient(TestServer(up)) as back:
        yield lost, back


def waiting(system: System, survey_id: str) -> int:
    with Session(system.engine) as session:
        return (
            session.scalar(
                select(func.count()).where(
                    Message.survey_id == survey_id, Message.awaiting_bot_since.is_not(None)
                )
            )
            or 0
        )


async def test_words_said_while_rasa_is_down_are_answered_in_order_when_it_is_back(
    system: System, apps: tuple[TestClient, TestClient]
) -> None:
    lost, back = apps
    async with aiohttp.ClientSession() as http, http.ws_connect(system.ws_url) as ws:
        chat = ChatClient(ws)
        await chat.start(touchpoint="support")  # begun while all is well
    survey_id = chat.survey_id or ""

    async with lost.ws_connect("/chat") as ws:
        chat = ChatClient(ws)
        await chat.start(survey_id=survey_id)
        assert await chat.say("8") == [BOT_WILL_REPLY]  # told once...
        assert await chat.say("the staff were lovely") == []  # ...not again
    assert waiting(system, survey_id) == 2
    # Still down: a round answers nothing and loses nothing.
    assert await replay_awaiting(lost.app) == 0
    assert waiting(system, survey_id) == 2

    async with back.ws_connect("/chat") as ws:  # the customer's widget, on the app with Rasa
        chat = ChatClient(ws)
        await chat.start(survey_id=survey_id)
        assert await replay_awaiting(back.app) == 2  # both messages
        pushed = [await ws.receive_json(timeout=10) for _ in range(2)]
    assert [p["type"] for p in pushed] == ["bot", "bot"]
    assert pushed[0]["text"] == follow_up("support", "passive")  # the answer to "8"
    assert waiting(system, survey_id) == 0
    assert await replay_awaiting(back.app) == 0  # answered once

    survey = system.survey(survey_id)
    assert survey.response is not None
    assert (survey.response.score, survey.response.reason) == (8, "the staff were lovely")
    said = system.transcript(survey_id)
    customer = [t for a, t in said if a == "customer"]
    assert customer == ["8", "the staff were lovely"]  # each once, in order
    bot_after = [t for a, t in said[said.index(("customer", "8")) :] if a == "bot"]
    assert bot_after[0] == BOT_WILL_REPLY and bot_after[1] == pushed[0]["text"]


def user_turns(system: System, survey_id: str) -> list[str]:
    """What Rasa's tracker store holds as said by the customer, in order."""
    engine = sync_engine(tracker_url(settings_for_tracker(system), system.var_dir))
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT data FROM events WHERE sender_id = :id AND type_name = 'user' "
                    "ORDER BY id"
                ),
                {"id": survey_id},
            )
            return [json.loads(data)["text"] for (data,) in rows]
    finally:
        engine.dispose()


def settings_for_tracker(system: System) -> Settings:
    return Settings(database_url=system.database_url, var_dir=system.var_dir)


@pytest.mark.parametrize("rasa_had_it", [True, False])
async def test_a_turn_cut_off_by_a_stop_is_answered_once_when_its_hold_lapses(
    system: System, fake_twilio: FakeTwilio, rasa_had_it: bool
) -> None:
    """An app instance stored the customer's "9", held it for its turn, and
    stopped: after Rasa saved the turn, or before Rasa had it. Once the hold
    lapses a round of another instance answers it: from Rasa's tracker
    (the score is not sent to Rasa twice), or by sending it now."""
    now = datetime.now(UTC)
    hold = timedelta(seconds=30)
    clock = [now]
    app = create_app(settings_for(system, fake_twilio), clock=lambda: clock[0], run_scheduler=False)
    async with TestClient(TestServer(app)) as back:
        await _cut_off_turn_answered(system, back, rasa_had_it, clock, hold)


async def _cut_off_turn_answered(
    system: System, back: TestClient, rasa_had_it: bool, clock: list[datetime], hold: timedelta
) -> None:
    now = clock[0]
    async with aiohttp.ClientSession() as http, http.ws_connect(system.ws_url) as ws:
        chat = ChatClient(ws)
        await chat.start(touchpoint="support")
    survey_id = chat.survey_id or ""
    store = back.app[STORE]
    survey = await store.get_survey(survey_id)
    assert survey is not None
    message_id = await store.add_message(
        survey_id, Direction.INBOUND, Author.CUSTOMER, "9", now, held_until=now + hold
    )
    assert message_id is not None
    if rasa_had_it:  # the turn as the stopped instance sent it (its metadata too)
        metadata = back.app[CONVERSATIONS]._metadata(survey, message_id)
        said = await back.app[RASA].send(survey_id, "9", metadata, "web")
        assert said[0].text == follow_up("support", "promoter")

    async with back.ws_connect("/chat") as ws:  # the customer's widget
        chat = ChatClient(ws)
        await chat.start(survey_id=survey_id)
        assert await replay_awaiting(back.app) == 0  # held: that turn may still be running
        clock[0] = now + hold
        assert await replay_awaiting(back.app) == 1
        pushed = await ws.receive_json(timeout=10)
    assert pushed["text"] == follow_up("support", "promoter")
    assert await replay_awaiting(back.app) == 0  # answered once
    assert waiting(system, survey_id) == 0
    assert user_turns(system, survey_id)[-1:] == ["9"]
    assert user_turns(system, survey_id).count("9") == 1  # Rasa read the score once
    survey = system.survey(survey_id)
    assert survey.response is not None and survey.response.score == 9
    said = system.transcript(survey_id)
    assert said[-2:] == [("customer", "9"), ("bot", follow_up("support", "promoter"))]


async def test_an_sms_survey_asked_for_while_rasa_is_down_is_texted_once_it_is_back(
    system: System, fake_twilio: FakeTwilio, apps: tuple[TestClient, TestClient]
) -> None:
    """No apology to someone who was never asked anything: the survey waits
    (scheduled a minute later), and a scheduler round sends its first
    question once Rasa answers."""
    lost, back = apps
    phone = "+447911199001"
    resp = await lost.post(
        "/api/surveys",
        json={"channel": "sms", "phone": phone, "touchpoint": "support"},
        headers={"Authorization": f"Bearer {API_TOKEN}"},
    )
    body = await resp.json()
    assert resp.status == 201, body
    assert body["status"] == "scheduled"
    assert "did not answer" in body["reason"]
    assert fake_twilio.to(phone) == []

    later = datetime.now(UTC) + timedelta(minutes=1, seconds=1)
    # (other tests' due surveys in the shared store may go in the same round)
    assert await send_due(back.app[STORE], back.app[CHANNELS], later) >= 1
    texts = await asyncio.to_thread(fake_twilio.wait_for, phone, 1)
    assert "10" in texts[0]  # the first text asks the score
    assert system.survey(body["survey_id"]).state == "started"


def test_a_claim_shorter_than_rasas_timeout_is_refused_at_start() -> None:
    """Another instance would take over turns still waiting for Rasa."""
    with pytest.raises(SettingsError, match=r"FEEDBOT_CLAIM_SECONDS \(30\) must be longer"):
        Settings.from_env({"RASA_TIMEOUT_SECONDS": "30", "FEEDBOT_CLAIM_SECONDS": "30"})
    settings = Settings.from_env({"RASA_TIMEOUT_SECONDS": "20", "FEEDBOT_CLAIM_SECONDS": "45"})
    assert settings.claim == timedelta(seconds=45)
    assert Settings.from_env({}).claim == timedelta(minutes=2)


async def test_redis_away_mid_conversation_keeps_the_words_until_it_is_back(
    tmp_path: Path,
) -> None:
    """Redis (Rasa's lock store and the app's live events) stops mid-survey,
    for longer than MAX_BOT_TRIES scheduler rounds: Rasa refuses the turn in
    so many words (feedbot_rasa patch 12), the customer is told once that the
    bot will reply, the words wait without counting failed tries, and once
    Redis is back they are answered, once. Before, Rasa answered an empty
    list and the app took the words as answered with nothing: lost."""
    with Gate(6379) as redis, fresh_database("postgresql", tmp_path) as database_url:
        redis.open()
        with temporary_stack(
            tmp_path,
            app_env={"FEEDBOT_SCHEDULER_INTERVAL_SECONDS": "1"},
            database_url=database_url,
            redis_url=f"redis://127.0.0.1:{redis.port}/0",
        ) as stack:
            ws_url = stack.app_urls[0].replace("http://", "ws://") + "/chat"
            async with aiohttp.ClientSession() as http, http.ws_connect(ws_url) as ws:
                chat = ChatClient(ws)
                await chat.start(touchpoint="support")
                redis.shut()
                assert await chat.say("9") == [BOT_WILL_REPLY]
            survey_id = chat.survey_id or ""
            engine = sync_engine(database_url)
            try:
                await asyncio.sleep(MAX_BOT_TRIES * 1.5)  # rounds a second, all refused
                waited = transcript(engine, survey_id)[-2:]
                assert waited == [("customer", "9"), ("bot", BOT_WILL_REPLY)]
                redis.open()
                for _ in range(120):
                    said = transcript(engine, survey_id)
                    if said[-1] != ("bot", BOT_WILL_REPLY):
                        break
                    await asyncio.sleep(0.5)
            finally:
                engine.dispose()
            rasa_log = stack.child("rasa").log_path.read_text()
    assert said[-3:] == [
        ("customer", "9"),
        ("bot", BOT_WILL_REPLY),
        ("bot", follow_up("support", "promoter")),
    ]
    assert [t for a, t in said if a == "customer"] == ["9"]
    assert app_words("en").rasa_down_apology not in [t for _, t in said]  # not given up
    assert "feedbot_rasa: a turn refused" in rasa_log
