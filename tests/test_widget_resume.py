"""A widget that connects again while the bot's answer is pushed: the
answer is stored before it is pushed, so whichever way the two cross, the
widget ends up showing it once. Found by tests/test_faults.py hanging in CI:
a push sent between reading the transcript and sending it was drawn, then
wiped by the older history that followed."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import create_app
from bot.keys import STORE
from bot.web_chat import push_to_widget
from feedbot.store.models import Author, Direction
from feedbot.store.surveys import NewSurvey
from tests.conftest import settings_for
from tests.fake_twilio import FakeTwilio
from tests.system import System

pytestmark = pytest.mark.system
ANSWER = "Thanks! What could we have done better?"


def shown(frames: list[dict[str, Any]]) -> list[str]:
    """What widget.js shows after these frames: a history redraws the
    conversation, a pushed message is added to it."""
    view: list[str] = []
    for frame in frames:
        if frame["type"] == "history":
            view = [m["text"] for m in frame["messages"]]
        elif frame["type"] in ("bot", "agent"):
            view.append(frame["text"])
    return view


async def frames_after_ready(ws: Any, quiet: float = 1.0) -> list[dict[str, Any]]:
    """Every frame up to "ready", and any that follow it within ``quiet`` s."""
    frames: list[dict[str, Any]] = []
    while not frames or frames[-1]["type"] != "ready":
        frames.append(await ws.receive_json(timeout=10))
    while True:
        try:
            frames.append(await ws.receive_json(timeout=quiet))
        except TimeoutError:
            return frames


@pytest.mark.parametrize("pushed", ["before the history is read", "while it is read"])
async def test_an_answer_pushed_as_the_widget_reconnects_is_shown_once(
    system: System, fake_twilio: FakeTwilio, pushed: str
) -> None:
    app = create_app(settings_for(system, fake_twilio), run_scheduler=False)
    async with TestClient(TestServer(app)) as client:
        store = app[STORE]
        now = datetime.now(UTC)
        survey = await store.create_survey(NewSurvey(channel="web", touchpoint="support"), at=now)
        await store.add_message(survey.id, Direction.INBOUND, Author.CUSTOMER, "6", now)

        async def answer() -> None:
            # As a scheduler round answers a message that waited: stored, then pushed.
            await store.add_bot_replies(survey.id, [(ANSWER, None)], datetime.now(UTC))
            push_to_widget(app, survey.id, "bot", ANSWER)

        if pushed == "while it is read":
            # The round's push lands between reading the transcript and sending it.
            read: Callable[[str], Awaitable[list[Any]]] = store.transcript

            async def transcript_then_answer(survey_id: str) -> list[Any]:
                found = await read(survey_id)
                store.transcript = read  # once
                await answer()
                await asyncio.sleep(0.2)  # the app's push loop hands it on
                return found

            store.transcript = transcript_then_answer
        else:
            await answer()

        async with client.ws_connect("/chat") as ws:
            await ws.send_json({"type": "start", "survey_id": survey.id})
            frames = await frames_after_ready(ws)
    assert shown(frames) == ["6", ANSWER], frames
