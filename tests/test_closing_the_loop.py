"""End to end: a detractor on the web widget, through the real app, Rasa and
action server, reaches the owner of that location by e-mail (a real SMTP
server, aiosmtpd) within seconds, and an owner's mail server being down
never holds up the customer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from feedbot.store.models import OwnerMessage
from tests.chat import ChatClient, response_texts
from tests.helpers.mail import RestartableSmtp, body
from tests.system import System

pytestmark = pytest.mark.system


@pytest.fixture
async def chat(system: System) -> AsyncIterator[ChatClient]:
    async with aiohttp.ClientSession() as http, http.ws_connect(system.ws_url) as ws:
        yield ChatClient(ws)


async def a_detractor(chat: ChatClient, location: str) -> list[str]:
    await chat.start(touchpoint="delivery", location=location)
    await chat.say("2")
    return await chat.say("The driver threw the parcel over the fence and it broke")


def owner_messages(system: System, owner: str) -> list[OwnerMessage]:
    with Session(system.engine) as session:
        return list(
            session.scalars(
                select(OwnerMessage).where(OwnerMessage.owner == owner).order_by(OwnerMessage.id)
            )
        )


async def test_a_detractor_is_in_the_owners_inbox_within_seconds(
    system: System, chat: ChatClient, owner_smtp: RestartableSmtp
) -> None:
    owner = "alerts.owner@example.com"
    last = await a_detractor(chat, "owner-alerts")
    answered = time.monotonic()
    assert last[0] in response_texts("utter_thanks")
    assert "someone from our team" in last[-1]  # a severe detractor is offered a person

    (mail,) = await asyncio.to_thread(owner_smtp.inbox.wait_for, owner, 1, 10)
    arrived = next(at for at, m in owner_smtp.inbox.messages if m is mail)
    assert arrived - answered < 5, f"the alert took {arrived - answered:.1f} s"
    assert mail["Subject"] == "Detractor at owner-alerts: 2/10 on Delivery"
    text = body(mail)
    assert "The driver threw the parcel over the fence and it broke" in text
    assert "offered a person (no answer yet)" in text
    assert f"{system.base_url}/dashboard/surveys/{chat.survey_id}" in text
    assert "/agent#handoff=" in text
    assert "Themes: " in text and "Product (negative)" in text, text


async def test_a_mail_server_that_is_down_delays_the_alert_not_the_customer(
    system: System, chat: ChatClient, owner_smtp: RestartableSmtp
) -> None:
    owner = "outage.owner@example.com"
    owner_smtp.stop()
    try:
        last = await a_detractor(chat, "owner-outage")
        assert last[0] in response_texts("utter_thanks")  # the customer is answered as ever
        deadline = time.monotonic() + 10
        while not any(m.last_error for m in owner_messages(system, owner)):
            assert time.monotonic() < deadline, "no failed try to send the alert"
            await asyncio.sleep(0.2)
        (waiting,) = owner_messages(system, owner)
        assert waiting.status in ("pending", "sending") and waiting.sent_at is None
    finally:
        owner_smtp.start()
    (mail,) = await asyncio.to_thread(owner_smtp.inbox.wait_for, owner, 1, 30)
    assert "threw the parcel" in body(mail)
    # The outbox row is marked sent just after the server took the mail.
    deadline = time.monotonic() + 10
    while (sent := owner_messages(system, owner)[0]).status != "sent":
        assert time.monotonic() < deadline, f"still {sent.status} after the mail arrived"
        await asyncio.sleep(0.1)
    assert sent.attempts >= 2
