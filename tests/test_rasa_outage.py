"""While no Rasa instance can take a turn, a customer's words are kept and
they are told once that the bot will reply; once Rasa is back, the bot
answers every waiting message in order, and the answers reach the customer
and the store. The app that loses Rasa points at a port nothing listens on;
the one that finds it again uses the running stack's real Rasa."""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.app import create_app
from bot.conversations import BOT_WILL_REPLY
from bot.replay import replay_awaiting
from feedbot.store.models import Message
from tests.chat import ChatClient, follow_up
from tests.conftest import settings_for
from tests.fake_twilio import FakeTwilio
from tests.system import System

pytestmark = pytest.mark.system


def dead_url() -> str:
    with socket.socket() as probe:  # a port that was free a moment ago: refused
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


@pytest.fixture
async def apps(
    system: System, fake_twilio: FakeTwilio
) -> AsyncIterator[tuple[TestClient, TestClient]]:
    """(an app whose Rasa is gone, an app with the real Rasa) on one store."""
    settings = settings_for(system, fake_twilio)
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
        assert await replay_awaiting(back.app) == 1
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
