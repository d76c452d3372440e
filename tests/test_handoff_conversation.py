"""End to end: a customer asks for a person, on the web widget and by SMS,
through the real app, Rasa and action server; from then on their messages go
to the agents, not to the bot."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from feedbot.store.models import Handoff
from tests.chat import ChatClient, response_texts
from tests.fake_twilio import FakeTwilio
from tests.system import System
from tests.test_sms import create, new_number, text_in, wait_for

pytestmark = pytest.mark.system
OPENED = sorted(t.split("{handoff_when}")[0] for t in response_texts("utter_handoff_opened"))
WHEN = ("shortly", "today at ", "tomorrow at ", "on ")  # business hours, real clock


def is_handoff_message(text: str) -> bool:
    """One of utter_handoff_opened's wordings, with an honest 'when' filled in."""
    return any(text.startswith(s) and text[len(s) :].startswith(WHEN) for s in OPENED)


def handoffs_of(system: System, survey_id: str) -> list[Handoff]:
    with Session(system.engine) as session:
        return list(session.scalars(select(Handoff).where(Handoff.survey_id == survey_id)))


@pytest.fixture
async def chat(system: System) -> AsyncIterator[ChatClient]:
    async with aiohttp.ClientSession() as http, http.ws_connect(system.ws_url) as ws:
        yield ChatClient(ws)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_on_the_web_a_person_takes_over_and_the_bot_stops(
    system: System, chat: ChatClient
) -> None:
    await chat.start(touchpoint="support", location="chat")
    await chat.say("2")
    replies = await chat.say("can I talk to a real person please")
    assert len(replies) == 1 and is_handoff_message(replies[0]), replies

    survey_id = chat.survey_id or ""
    (handoff,) = handoffs_of(system, survey_id)
    assert (handoff.reason, handoff.state) == ("asked_for_person", "waiting")
    assert handoff.urgency == 3  # a score of 2: severe, whatever the wording
    survey = system.survey(survey_id)
    assert (survey.state, survey.state_reason) == ("completed", "handed to a person")

    # From now on the customer writes to the agent: stored, and no bot reply.
    assert await chat.say("My order number is 7781, it never came") == []
    transcript = system.transcript(survey_id)
    assert transcript[-1] == ("customer", "My order number is 7781, it never came")
    asking_again = await chat.say("hello? is anyone there")
    assert asking_again == [] and len(handoffs_of(system, survey_id)) == 1


async def test_by_sms_a_person_takes_over_and_texts_reach_them(
    system: System, fake_twilio: FakeTwilio, http: aiohttp.ClientSession
) -> None:
    phone = new_number()
    status, body = await create(
        http, system, channel="sms", phone=phone, touchpoint="delivery", interaction_id=phone
    )
    assert status == 201 and body["status"] == "sent"
    await wait_for(fake_twilio, phone, 2)
    await text_in(http, system, phone, "I want to speak to a manager")
    messages = await wait_for(fake_twilio, phone, 3)
    assert is_handoff_message(messages[2]), messages[2]
    (handoff,) = handoffs_of(system, body["survey_id"])
    assert (handoff.reason, handoff.urgency) == ("asked_for_person", 2)  # no score yet
    assert system.survey(body["survey_id"]).state == "left"

    await text_in(http, system, phone, "The parcel is at the wrong address")
    for _ in range(40):  # the turn is handled in the background
        if system.transcript(body["survey_id"])[-1][1] == "The parcel is at the wrong address":
            break
        await asyncio.sleep(0.1)
    assert system.transcript(body["survey_id"])[-1] == (
        "customer",
        "The parcel is at the wrong address",
    )
    await asyncio.sleep(1)
    assert len(fake_twilio.to(phone)) == 3  # no bot reply, no "no open survey" answer
