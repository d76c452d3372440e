"""Rasa tells the app what its actions decided (feedbot.bot_decisions): the
app reads the survey back only when a turn ended it, and hears of a hand-off
from the action that made it. The real Rasa and action server of the
session's stack; the app in this process, so that its statements to the
store can be counted (SQLAlchemy's before_cursor_execute)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import event

from bot.app import create_app
from bot.keys import HANDOFF_EVENTS, STORE
from tests.conftest import settings_for
from tests.fake_twilio import FakeTwilio
from tests.system import System

pytestmark = pytest.mark.system


@pytest.fixture
async def app_client(system: System, fake_twilio: FakeTwilio) -> AsyncIterator[TestClient]:
    app = create_app(settings_for(system, fake_twilio), run_scheduler=False)
    async with TestClient(TestServer(app)) as client:
        yield client


async def turns(client: TestClient, answers: list[str]) -> list[list[str]]:
    """Each turn's statements to the store, the opening's first."""
    engine = client.server.app[STORE].engine.sync_engine
    seen: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", record)
    found = []
    try:
        async with client.ws_connect("/chat") as ws:
            frames = [{"type": "start", "touchpoint": "support"}] + [
                {"type": "message", "text": a, "id": uuid.uuid4().hex} for a in answers
            ]
            for frame in frames:
                seen.clear()
                await ws.send_json(frame)
                while (await ws.receive_json(timeout=60))["type"] != "ready":
                    pass
                found.append(list(seen))
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return found


def reads_the_survey(statements: list[str]) -> bool:
    return any(s.startswith("SELECT surveys.") for s in statements)


async def test_the_survey_is_read_back_only_when_a_turn_ends_it(app_client: TestClient) -> None:
    _opening, score, reason = await turns(app_client, ["9", "the staff were friendly and quick"])
    # The score's turn: the survey goes on, and the bot's reply says so.
    assert not reads_the_survey(score), score
    assert len(score) <= 5, score
    # The reason's turn ended it: read once, for the offer of a person.
    assert sum(s.startswith("SELECT surveys.") for s in reason) == 1, reason


async def test_a_hand_off_is_announced_from_the_actions_word(app_client: TestClient) -> None:
    """The action that opened the hand-off names it in its reply: the app
    tells the consoles without reading the hand-off back."""
    opened: list[dict] = []
    app_client.server.app[HANDOFF_EVENTS].also_send_to(opened.append)
    *_, asked = await turns(app_client, ["can I talk to a real person please"])
    assert [e["event"] for e in opened] == ["opened"]
    assert opened[0]["urgency"] == 2  # asked for a person
    # Read once, before the turn (is a person on this conversation?); the
    # hand-off the turn made and the survey it ended are not read back.
    assert sum(s.startswith("SELECT handoffs.") for s in asked) == 1, asked
    assert not reads_the_survey(asked), asked
