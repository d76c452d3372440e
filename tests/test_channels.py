"""The channel contract (bot.channels): the same tests run against the web
widget, SMS (through the fake Twilio) and a channel written for tests in one
file (tests/memo_channel.py). Each starts a survey through the API, answers
it as a customer of that channel would, and has an agent's reply reach the
customer on their channel; the app is built in-process against the running
Rasa and action server."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.app import create_app
from bot.channels import Contact, CustomerInvalid
from bot.improvement_notices import IMPROVEMENT_NOTICES
from bot.keys import CHANNELS, SMS_CHANNEL, STORE, SURVEY_CONFIG
from bot.sms.scheduler import send_reminders
from feedbot.store.models import Handoff
from tests.chat import follow_up, response_texts
from tests.conftest import API_TOKEN, settings_for
from tests.fake_twilio import FakeTwilio
from tests.helpers.config import touchpoints_for_tests
from tests.memo_channel import MemoChannel
from tests.system import System

pytestmark = pytest.mark.system
AGENT = "channel-contract-agent"
ANALYST = "channel-contract-analyst"
REASON = "The advisor sorted my refund in five minutes"


class Customer:
    """A customer of one channel, from the outside: begins a survey through
    the API, reads what they were sent, and answers."""

    def __init__(self, client: TestClient, fake: FakeTwilio) -> None:
        self.client, self.fake = client, fake
        self.survey_id = ""
        # A place of its own: an improvement logged for it reaches this customer only.
        self.location = f"contract-{uuid.uuid4().hex[:8]}"

    async def begin(self) -> None:
        raise NotImplementedError

    def received(self) -> list[str]:
        raise NotImplementedError

    async def say(self, text: str) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        pass

    async def create(self, **contact: str) -> None:
        resp = await self.client.post(
            "/api/surveys",
            json={
                "channel": self.channel,
                "touchpoint": "support",
                "location": self.location,
                **contact,
            },
            headers={"Authorization": f"Bearer {API_TOKEN}"},
        )
        body = await resp.json()
        assert resp.status == 201 and body["status"] == "sent", body
        self.survey_id = body["survey_id"]
        self.created = body

    async def wait_for(self, wanted: Callable[[list[str]], bool], what: str) -> list[str]:
        deadline = time.monotonic() + 30
        while not wanted(got := self.received()):
            assert time.monotonic() < deadline, f"{self.channel}: no {what} in {got}"
            await asyncio.sleep(0.05)
        return got

    channel = ""


class WebCustomer(Customer):
    channel = "web"

    async def begin(self) -> None:
        await self.create(customer_id=f"C-{uuid.uuid4().hex[:8]}")
        self.texts: list[str] = []
        self.ws = await self.client.ws_connect("/chat")
        await self.ws.send_json({"type": "start", "survey_id": self.survey_id})
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self.ws:
            frame: dict[str, Any] = message.json()
            if frame["type"] in ("bot", "agent"):
                self.texts.append(frame["text"])

    def received(self) -> list[str]:
        return self.texts

    def told(self, hooks: list[dict[str, Any]]) -> list[str]:
        """Web customers are told through the company's systems: a signed
        webhook event names them."""
        return [
            h["improvement"]["message"]
            for h in hooks
            if h.get("event") == "improvement.notify" and h.get("survey_id") == self.survey_id
        ]

    async def say(self, text: str) -> None:
        await self.ws.send_json({"type": "message", "text": text, "id": uuid.uuid4().hex[:12]})

    async def close(self) -> None:
        await self.ws.close()
        self.reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.reader


class SmsCustomer(Customer):
    channel = "sms"

    async def begin(self) -> None:
        self.phone = f"+447400{uuid.uuid4().int % 1_000_000:06d}"  # a number no other test uses
        await self.create(phone=self.phone)

    def told(self, hooks: list[dict[str, Any]]) -> list[str]:
        return self.received()

    def received(self) -> list[str]:
        return self.fake.to(self.phone)

    async def say(self, text: str) -> None:  # as the webhook hands it over
        sms = self.client.app[SMS_CHANNEL]
        assert sms is not None
        await sms.inbound("SM" + uuid.uuid4().hex, self.phone, text)


class MemoCustomer(Customer):
    channel = "memo"

    async def begin(self) -> None:
        self.customer = f"M-{uuid.uuid4().hex[:8]}"
        await self.create(customer_id=self.customer)

    def memo(self) -> MemoChannel:
        channel = self.client.app[CHANNELS].named("memo")
        assert isinstance(channel, MemoChannel)
        return channel

    def received(self) -> list[str]:
        return self.memo().inbox[self.customer]

    def told(self, hooks: list[dict[str, Any]]) -> list[str]:
        return self.received()

    async def say(self, text: str) -> None:
        await self.memo().customer_says(self.survey_id, text)


CUSTOMERS = {"web": WebCustomer, "sms": SmsCustomer, "memo": MemoCustomer}


@pytest.fixture
async def company_systems() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """The company's systems, receiving the signed webhook events (a local
    server; what it was sent, in order)."""
    got: list[dict[str, Any]] = []

    async def receive(request: web.Request) -> web.Response:
        got.append(await request.json())
        return web.Response(status=204)

    receiver = web.Application()
    receiver.router.add_post("/events", receive)
    server = TestServer(receiver)
    await server.start_server()
    yield str(server.make_url("/events")), got
    await server.close()


@pytest.fixture
async def client(
    system: System,
    fake_twilio: FakeTwilio,
    tmp_path: Path,
    company_systems: tuple[str, list[dict[str, Any]]],
) -> AsyncIterator[TestClient]:
    # No quiet hours: what a test sees must not depend on the hour it runs at.
    settings = dataclasses.replace(
        settings_for(system, fake_twilio),
        agent_token=AGENT,
        analyst_token=ANALYST,
        touchpoints_file=touchpoints_for_tests(tmp_path),
        webhook_urls=(company_systems[0],),
        webhook_secret="contract-secret",
    )
    app = create_app(settings, run_scheduler=False, channels=[MemoChannel])
    async with TestClient(TestServer(app)) as c:
        yield c


@pytest.fixture(params=list(CUSTOMERS))
async def customer(
    request: pytest.FixtureRequest, client: TestClient, fake_twilio: FakeTwilio
) -> AsyncIterator[Customer]:
    made = CUSTOMERS[request.param](client, fake_twilio)
    await made.begin()
    yield made
    await made.close()


def asks_the_score(got: list[str]) -> bool:
    return any("0" in t and "10" in t and "recommend" in t for t in got)


async def test_a_survey_goes_out_is_answered_and_stored(customer: Customer, system: System) -> None:
    await customer.wait_for(asks_the_score, "0-10 question")
    await customer.say("9")
    await customer.wait_for(lambda got: follow_up("support", "promoter") in got, "why question")
    await customer.say(REASON)
    thanks = response_texts("utter_thanks")
    await customer.wait_for(lambda got: any(t in thanks for t in got), "thanks")
    survey = system.survey(customer.survey_id)
    assert (survey.channel, survey.state) == (customer.channel, "completed")
    assert survey.response is not None
    assert (survey.response.score, survey.response.reason) == (9, REASON)
    # Each message the customer sent is in the transcript once.
    said = [t for a, t in system.transcript(survey.id) if a == "customer"]
    assert said == ["9", REASON]


async def test_an_agents_reply_reaches_the_customer_on_their_channel(
    customer: Customer, client: TestClient, system: System
) -> None:
    await customer.wait_for(asks_the_score, "0-10 question")
    await customer.say("I want to talk to a real person please")
    deadline = time.monotonic() + 30
    while not (handoffs := _handoffs(system, customer.survey_id)):
        assert time.monotonic() < deadline, "no hand-off"
        await asyncio.sleep(0.1)
    reply = f"Hello, this is Sam ({uuid.uuid4().hex[:6]}). How can I help?"
    resp = await client.post(
        f"/api/handoffs/{handoffs[0].id}/reply",
        json={"agent": "sam", "text": reply},
        headers={"Authorization": f"Bearer {AGENT}"},
    )
    assert resp.status == 200, await resp.text()
    await customer.wait_for(lambda got: reply in got, "agent's reply")
    assert ("agent", reply) in system.transcript(customer.survey_id)


async def test_a_customer_who_does_not_answer_is_reminded_once_where_the_channel_reminds(
    customer: Customer, client: TestClient, system: System
) -> None:
    """A day after the survey went out with no answer: one reminder on a
    channel that reminds (SMS), none on the others, however many rounds
    run. (Quiet hours are off here; tests/test_sms_schedule.py holds
    reminders in them, on an injected clock.)"""
    before = len(await customer.wait_for(asks_the_score, "0-10 question"))
    app = client.app
    channel = app[CHANNELS].named(customer.channel)
    rules = app[SURVEY_CONFIG].contact_rules
    assert rules.reminder_after_hours is not None
    survey = system.survey(customer.survey_id)
    assert survey.sent_at is not None
    later = survey.sent_at + timedelta(hours=rules.reminder_after_hours + 1)
    for now in (later, later + timedelta(hours=12), later + timedelta(hours=13)):
        await send_reminders(app[STORE], app[CHANNELS], rules, now)
    if channel.reminders:
        got = await customer.wait_for(lambda got: len(got) > before, "reminder")
        await asyncio.sleep(0.5)
        assert len(customer.received()) == before + 1  # once
        assert "reminder" in got[-1].lower()
    else:
        await asyncio.sleep(0.5)
        assert len(customer.received()) == before


async def test_a_customer_is_told_what_changed_on_their_channel(
    customer: Customer,
    client: TestClient,
    company_systems: tuple[str, list[dict[str, Any]]],
) -> None:
    """ "You said, we did" through each channel's `tell`: logged for the
    theme the customer raised, it reaches them once, on their channel, and
    is kept in their transcript; a second improvement within 30 days does not."""
    await customer.wait_for(asks_the_score, "0-10 question")
    await customer.say("9")
    await customer.wait_for(lambda got: follow_up("support", "promoter") in got, "why question")
    await customer.say(REASON)  # a refund sorted: the resolution theme
    thanks = response_texts("utter_thanks")
    await customer.wait_for(lambda got: any(t in thanks for t in got), "thanks")
    hooks = company_systems[1]

    async def log(message: str) -> dict[str, Any]:
        resp = await client.post(
            "/api/improvements",
            json={
                "theme": "resolution",
                "touchpoint": "support",
                "location": customer.location,
                "title": f"Faster refunds: {message}",
                "message": message,
            },
            headers={"Authorization": f"Bearer {ANALYST}"},
        )
        body = await resp.json()
        assert resp.status == 201, body
        await client.app[IMPROVEMENT_NOTICES].send_due()
        return body

    first = f"Refunds now take a day ({uuid.uuid4().hex[:6]})"
    assert (await log(first))["by_channel"] == {customer.channel: 1}
    await customer.wait_for(lambda _: any(first in t for t in customer.told(hooks)), "notice")
    again = await log("Refunds now take an hour")
    assert again["recipients"] == 0  # told of one within 30 days
    await asyncio.sleep(0.5)
    told = customer.told(hooks)
    assert sum(first in t for t in told) == 1  # (an SMS adds how to stop)
    assert not any("an hour" in t for t in told)  # once in 30 days
    kept = [t for a, t in await _transcript(client, customer.survey_id) if a == "team"]
    assert len(kept) == 1 and first in kept[0]  # in the transcript, as it was sent


async def _transcript(client: TestClient, survey_id: str) -> list[tuple[str, str]]:
    return [(m.author, m.text) for m in await client.app[STORE].transcript(survey_id)]


async def test_each_channel_names_its_customer_or_says_what_is_missing(
    client: TestClient,
) -> None:
    for channel in client.app[CHANNELS]:
        try:
            channel.customer_ref(Contact())
        except CustomerInvalid as exc:
            assert str(exc), channel.name  # a message a person can act on
        resp = await client.post(
            "/api/surveys",
            json={"channel": channel.name, "touchpoint": "support", "phone": "12"},
            headers={"Authorization": f"Bearer {API_TOKEN}"},
        )
        assert resp.status in (201, 400), (channel.name, resp.status)
        if resp.status == 400:
            assert (await resp.json())["error"]
    resp = await client.post(
        "/api/surveys",
        json={"channel": "fax", "touchpoint": "support"},
        headers={"Authorization": f"Bearer {API_TOKEN}"},
    )
    assert resp.status == 400
    assert "memo, sms, web" in (await resp.json())["error"]  # the channels this app has


def _handoffs(system: System, survey_id: str) -> list[Handoff]:
    with Session(system.engine) as session:
        return list(session.scalars(select(Handoff).where(Handoff.survey_id == survey_id)))
