"""Feedbot as several processes sharing real servers: 2 app instances and 2
Rasa instances (each with its action server), on a fresh database on this
machine's PostgreSQL and on its Redis, started the way `feedbot run
--app-instances 2 --rasa-instances 2` starts them. Messages of one
conversation go to either app instance, as behind a load balancer without
stickiness."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from commands.runner import Layout
from feedbot.store.database import async_engine, sync_engine
from feedbot.store.models import Author, Message, Response, Survey, SurveyState
from feedbot.store.surveys import NewSurvey, SurveyStore
from tests.chat import ChatClient
from tests.databases import fresh_database
from tests.fake_twilio import FakeTwilio
from tests.helpers.config import touchpoints_for_tests
from tests.helpers.stack import Stack, temporary_stack

pytestmark = pytest.mark.system
REDIS_URL = "redis://127.0.0.1:6379/0"
AGENT_TOKEN = "scale-agent-token"
REASON = "The staff were friendly and fixed it quickly"


class Scaled:
    def __init__(self, stack: Stack, engine: Engine) -> None:
        self.stack = stack
        self.engine = engine
        self.ws = [u.replace("http://", "ws://") + "/chat" for u in stack.app_urls]

    def surveys(self, ids: list[str]) -> dict[str, Survey]:
        with Session(self.engine) as session:
            rows = session.scalars(select(Survey).where(Survey.id.in_(ids)))
            return {s.id: s for s in rows}

    def responses(self, ids: list[str]) -> dict[str, list[Response]]:
        found: dict[str, list[Response]] = {i: [] for i in ids}
        with Session(self.engine) as session:
            for r in session.scalars(select(Response).where(Response.survey_id.in_(ids))):
                found[r.survey_id].append(r)
        return found

    def customer_messages(self, ids: list[str]) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {i: [] for i in ids}
        with Session(self.engine) as session:
            rows = session.scalars(
                select(Message)
                .where(Message.survey_id.in_(ids), Message.author == Author.CUSTOMER)
                .order_by(Message.id)
            )
            for m in rows:
                found[m.survey_id].append(m.text)
        return found


@pytest.fixture(scope="module")
def scaled(tmp_path_factory: pytest.TempPathFactory, fake_twilio: FakeTwilio) -> Iterator[Scaled]:
    workdir = tmp_path_factory.mktemp("scaled")
    env = {
        "FEEDBOT_TOUCHPOINTS": str(touchpoints_for_tests(workdir)),
        "FEEDBOT_AGENT_TOKEN": AGENT_TOKEN,
        # Both schedulers look every second: they race for every due survey.
        "FEEDBOT_SCHEDULER_INTERVAL_SECONDS": "1",
        **fake_twilio.app_env(),
    }
    with (
        fresh_database("postgresql", workdir) as database_url,
        temporary_stack(
            workdir,
            app_env=env,
            database_url=database_url,
            layout=Layout(app_instances=2, rasa_instances=2),
            redis_url=REDIS_URL,
            within=240,
        ) as stack,
    ):
        engine = sync_engine(database_url)
        try:
            yield Scaled(stack, engine)
        finally:
            engine.dispose()


async def turn_on(
    http: aiohttp.ClientSession, ws_url: str, survey_id: str | None, text: str | None
) -> tuple[str, list[str]]:
    """One turn on a fresh connection to this instance: start (or resume) the
    survey, then say ``text``. Returns the survey id and the bot's replies."""
    async with http.ws_connect(ws_url) as ws:
        chat = ChatClient(ws)
        if survey_id is None:
            replies = await chat.start(touchpoint="support", location="leeds")
            assert chat.survey_id
            return chat.survey_id, replies
        await chat.start(survey_id=survey_id)
        assert text is not None
        return survey_id, await chat.say(text)


async def survey_alternating(
    http: aiohttp.ClientSession, scaled: Scaled, n: int, score: int
) -> tuple[str, list[list[str]]]:
    """A whole survey, each turn on the other app instance."""
    first = n % 2
    survey_id, opening = await turn_on(http, scaled.ws[first], None, None)
    _, after_score = await turn_on(http, scaled.ws[1 - first], survey_id, str(score))
    _, after_reason = await turn_on(http, scaled.ws[first], survey_id, REASON)
    return survey_id, [opening, after_score, after_reason]


def assert_completed_once(scaled: Scaled, scores: dict[str, int]) -> None:
    ids = list(scores)
    surveys = scaled.surveys(ids)
    responses = scaled.responses(ids)
    messages = scaled.customer_messages(ids)
    for survey_id, score in scores.items():
        assert surveys[survey_id].state == SurveyState.COMPLETED, survey_id
        (response,) = responses[survey_id]  # one response row, not two
        assert (response.score, response.reason) == (score, REASON)
        assert messages[survey_id] == [str(score), REASON]  # each message stored once


async def test_100_surveys_alternating_between_app_instances_complete_once(
    scaled: Scaled,
) -> None:
    limit = asyncio.Semaphore(10)
    async with aiohttp.ClientSession() as http:

        async def one(n: int) -> tuple[str, int, list[list[str]]]:
            async with limit:
                score = n % 11
                survey_id, replies = await survey_alternating(http, scaled, n, score)
                return survey_id, score, replies

        done = await asyncio.gather(*(one(n) for n in range(100)))
    for survey_id, _, (opening, after_score, after_reason) in done:
        assert opening and after_score and after_reason, survey_id
        assert not any(
            ("technical hiccup" in t or "trouble right now" in t)
            for t in opening + after_score + after_reason
        )
    assert_completed_once(scaled, {survey_id: score for survey_id, score, _ in done})


async def read_events(
    response: aiohttp.ClientResponse, into: asyncio.Queue[dict[str, object]]
) -> None:
    async for line in response.content:
        if line.startswith(b"data: "):
            await into.put(json.loads(line[6:]))


async def test_a_hand_off_on_one_instance_is_live_on_the_other_and_the_reply_comes_back(
    scaled: Scaled,
) -> None:
    agent = {"Authorization": f"Bearer {AGENT_TOKEN}"}
    console_on, customer_on = scaled.stack.app_urls[1], scaled.ws[0]
    events: asyncio.Queue[dict[str, object]] = asyncio.Queue()
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{console_on}/agent/events", headers=agent) as stream:
            assert stream.status == 200
            reader = asyncio.create_task(read_events(stream, events))
            try:
                async with http.ws_connect(customer_on) as ws:
                    chat = ChatClient(ws)
                    await chat.start(touchpoint="delivery", location="north-hub")
                    await chat.say("2")
                    await chat.say("Can I talk to a real person please")
                    opened = await asyncio.wait_for(events.get(), timeout=10)
                    assert opened["event"] == "opened"
                    handoff_id = opened["handoff_id"]

                    # The agent answers through the other instance; the widget hears it.
                    api = f"{console_on}/api/handoffs/{handoff_id}"
                    async with http.post(f"{api}/claim", json={"agent": "sam"}, headers=agent) as r:
                        assert r.status == 200
                    reply = f"Hi, I'm Sam ({uuid.uuid4().hex[:6]}). Looking at it now."
                    async with http.post(
                        f"{api}/reply", json={"agent": "sam", "text": reply}, headers=agent
                    ) as r:
                        assert r.status == 200
                    pushed = await ws.receive_json(timeout=10)
                    assert pushed == {"type": "agent", "text": reply}

                    # The customer's answer, through instance 0, reaches the console on 1.
                    assert await chat.say("Thanks, it is order 7781") == []
                    seen = [await asyncio.wait_for(events.get(), timeout=10) for _ in range(3)]
                    assert [e["event"] for e in seen] == ["claimed", "replied", "customer_message"]
                    assert seen[2]["text"] == "Thanks, it is order 7781"
            finally:
                reader.cancel()


async def test_a_widget_reads_its_conversation_again_when_live_events_were_cut(
    scaled: Scaled,
) -> None:
    """Redis drops the app's subscription (a restart, a network cut): pushes
    published meanwhile are gone, so once subscribed again each instance
    sends its open widgets their conversation as stored (a "history" frame,
    which widget.js redraws) instead of leaving a customer waiting for a
    message that will never come."""
    import redis

    name = f"feedbot-{scaled.stack.settings.deployment_key}-live"
    async with aiohttp.ClientSession() as http, http.ws_connect(scaled.ws[0]) as ws:
        chat = ChatClient(ws)
        await chat.start(touchpoint="support", location="leeds")
        await chat.say("9")
        client = redis.Redis.from_url(REDIS_URL)
        try:
            cut = [c["id"] for c in client.client_list(_type="pubsub") if c.get("name") == name]
            assert len(cut) == 2, "each instance subscribes once, under its name"
            for ident in cut:
                client.client_kill_filter(_id=ident)
        finally:
            client.close()
        frame = await ws.receive_json(timeout=15)
        assert frame["type"] == "history"
        said = [(m["author"], m["text"]) for m in frame["messages"]]
        assert ("customer", "9") in said
        assert said[-1][0] == "bot"  # the why question, as stored
        # The conversation carries on over the same socket.
        assert await chat.say(REASON)


async def test_scheduled_surveys_are_sent_once_with_two_schedulers(
    scaled: Scaled, fake_twilio: FakeTwilio
) -> None:
    engine = async_engine(scaled.stack.settings.database_url)
    store = SurveyStore(engine)
    now = datetime.now(UTC)
    phones = [f"+4479118{n:05d}" for n in range(30)]  # numbers no other test uses
    try:
        for phone in phones:
            survey = await store.create_survey(
                NewSurvey(channel="sms", touchpoint="support", customer_ref=phone), at=now
            )
            await store.schedule(survey.id, now - timedelta(seconds=1), "test: due now")
    finally:
        await engine.dispose()
    for phone in phones:
        await asyncio.to_thread(fake_twilio.wait_for, phone, 1, 30)
    await asyncio.sleep(3)  # several more rounds of both schedulers
    texts = {phone: fake_twilio.to(phone) for phone in phones}
    for phone, received in texts.items():
        # The first text (greeting and question), once.
        assert len(received) == 1, (phone, received)
    with Session(scaled.engine) as session:
        states = session.scalars(select(Survey.state).where(Survey.customer_ref.in_(phones)))
        assert set(states) == {SurveyState.STARTED}


def test_the_lock_store_and_tracker_store_are_the_shared_servers(scaled: Scaled) -> None:
    endpoints = Path(scaled.stack.child("rasa-0").command[-3]).read_text()
    assert "type: redis" in endpoints and "dialect: postgresql" in endpoints
    prefix = next(line for line in endpoints.splitlines() if "key_prefix" in line)
    assert prefix.split(":", 1)[1].strip().isalnum()


async def test_a_lock_left_by_a_dead_instance_delays_a_turn_but_does_not_hang_it(
    scaled: Scaled,
) -> None:
    """A Rasa instance died holding a conversation's lock in Redis, just as
    the next turn comes: unpatched Rasa 3.6 waits until the request times
    out (60 s, then answers nothing) when both tickets expire between two of
    its looks; patched, it answers once the dead ticket expires (10 s)."""
    import time

    import redis

    from feedbot import rasa_env

    settings = scaled.stack.settings
    conversation = f"dead-holder-{uuid.uuid4().hex[:8]}"
    client = redis.Redis.from_url(REDIS_URL)
    ticket = json.dumps({"number": 0, "expires": time.time() + rasa_env.LOCK_LIFETIME_SECONDS})
    client.set(
        rasa_env.lock_key(settings.deployment_key, conversation),
        json.dumps({"conversation_id": conversation, "tickets": [ticket]}),
    )
    client.close()
    timeout = aiohttp.ClientTimeout(total=3 * rasa_env.LOCK_LIFETIME_SECONDS)
    async with (
        aiohttp.ClientSession(timeout=timeout) as http,
        http.post(
            f"{settings.rasa_urls[0]}/webhooks/rest/webhook",
            json={"sender": conversation, "message": "hello"},
        ) as resp,
    ):
        assert resp.status == 200
        assert await resp.json()  # an answer, not the empty one of a timed-out wait


async def test_a_rasa_instance_killed_mid_run_loses_nothing(scaled: Scaled) -> None:
    limit = asyncio.Semaphore(8)
    scored = 0
    busy = asyncio.Event()  # eight surveys have their score: kill now
    async with aiohttp.ClientSession() as http:

        async def one(n: int) -> tuple[str, int, list[list[str]]]:
            nonlocal scored
            async with limit:
                score = (n * 7) % 11
                first = n % 2
                survey_id, opening = await turn_on(http, scaled.ws[first], None, None)
                _, after_score = await turn_on(http, scaled.ws[1 - first], survey_id, str(score))
                scored += 1
                if scored == 8:
                    busy.set()
                _, after_reason = await turn_on(http, scaled.ws[first], survey_id, REASON)
                return survey_id, score, [opening, after_score, after_reason]

        async def kill_when_busy() -> None:
            await busy.wait()
            victim = scaled.stack.child("rasa-0").process
            os.killpg(victim.pid, signal.SIGKILL)

        killer = asyncio.create_task(kill_when_busy())
        done = await asyncio.gather(*(one(n) for n in range(40)))
        await killer
    assert scaled.stack.child("rasa-0").process.wait(10) == -signal.SIGKILL
    for survey_id, _, replies in done:
        assert all(replies), survey_id
        assert not any(
            ("technical hiccup" in t or "trouble right now" in t) for turn in replies for t in turn
        ), survey_id
    assert_completed_once(scaled, {survey_id: score for survey_id, score, _ in done})
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{scaled.stack.app_urls[1]}/healthz") as resp:
            health = await resp.json()
    assert resp.status == 200  # one Rasa instance serves everything
    first, second = health["checks"]["rasa_instances"].values()
    assert first.startswith("down") and second == "ok"
