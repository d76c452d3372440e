"""A text's turn is answered once its replies are in the outbox: sending is
the outbox's business. Found under load in tests/test_faults.py: the
database was busy when the reply was being sent, the webhook's task failed
after the reply was queued, and the customer's message stayed held as if the
bot had never answered it (a round would have replayed the turn)."""

from __future__ import annotations

import dataclasses
import uuid
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from bot.app import create_app
from bot.keys import SMS_CHANNEL
from feedbot.store.database import sync_engine
from feedbot.store.models import Message
from tests.chat import follow_up
from tests.conftest import API_TOKEN, settings_for
from tests.fake_twilio import FakeTwilio
from tests.helpers.config import touchpoints_for_tests
from tests.system import System

pytestmark = pytest.mark.system


async def test_a_reply_queued_when_sending_fails_answers_the_text_and_is_sent_once_later(
    system: System, fake_twilio: FakeTwilio, tmp_path: Path
) -> None:
    settings = dataclasses.replace(
        settings_for(system, fake_twilio), touchpoints_file=touchpoints_for_tests(tmp_path)
    )
    app = create_app(settings, run_scheduler=False)
    phone = f"+447411{uuid.uuid4().int % 1_000_000:06d}"
    async with TestClient(TestServer(app)) as client:
        resp = await client.post(
            "/api/surveys",
            json={"channel": "sms", "phone": phone, "touchpoint": "support"},
            headers={"Authorization": f"Bearer {API_TOKEN}"},
        )
        assert resp.status == 201, await resp.text()
        opened = len(fake_twilio.to(phone))
        channel = app[SMS_CHANNEL]
        assert channel is not None
        drain = channel.sender.drain

        async def busy(to: str) -> dict:
            # As when SQLite stayed locked past its busy timeout (the fault
            # itself cannot be timed here): the first send fails.
            channel.sender.drain = drain  # type: ignore[method-assign]
            raise OperationalError("UPDATE messages …", {}, Exception("database is locked"))

        channel.sender.drain = busy  # type: ignore[method-assign]
        with pytest.raises(OperationalError):
            await channel.inbound("SM" + uuid.uuid4().hex, phone, "9")
        assert len(fake_twilio.to(phone)) == opened  # not sent yet
        engine = sync_engine(settings.database_url)
        try:
            with Session(engine) as session:
                said = session.scalars(
                    select(Message).where(Message.peer == phone, Message.author == "customer")
                ).one()
                assert said.awaiting_bot_since is None, "the text is answered: its reply is queued"
                waiting = session.scalars(
                    select(Message.text).where(
                        Message.survey_id == said.survey_id,
                        Message.author == "bot",
                        Message.delivery_status == "pending",
                    )
                ).all()
            assert waiting == [follow_up("support", "promoter")]
        finally:
            engine.dispose()
        # A scheduler round sends what the failure left in the outbox, once.
        assert await channel.sender.resume() == 1
        assert await channel.sender.resume() == 0
        assert fake_twilio.to(phone)[opened:] == [follow_up("support", "promoter")]
