"""The SMS outbox: a text is stored before Twilio is asked, kept when Twilio
fails, sent later in order, and sent once even when a try's outcome is
unknown. The real `twilio` library talks to the fake Twilio; the store is a
fresh SQLite database of its own (the shared stack's scheduler would
otherwise send these texts itself), and so is the fake Twilio."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.sms.twilio_sender import TwilioSender
from feedbot.settings import Settings
from feedbot.store.database import async_engine
from feedbot.store.migrate import upgrade
from feedbot.store.models import Author, Message
from feedbot.store.opt_outs import OptOutStore
from feedbot.store.sms_outbox import CLAIM_LAPSES_AFTER, GIVE_UP_AFTER, SmsOutbox
from tests.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, FakeTwilio

_numbers = count(1)


def new_number() -> str:
    return f"+4479119{next(_numbers):05d}"


@pytest.fixture
def fake_twilio() -> Iterator[FakeTwilio]:
    """A fake Twilio of these tests' own: they tell it to fail."""
    yield FakeTwilio().start()


@dataclass
class Outbox:
    sender: TwilioSender
    outbox: SmsOutbox
    opt_outs: OptOutStore
    database_url: str
    now: datetime

    def clock(self) -> datetime:
        return self.now

    def later(self, by: timedelta) -> None:
        self.now += by

    async def stored(self, phone: str) -> list[Message]:
        engine = async_engine(self.database_url)
        try:
            async with AsyncSession(engine) as session:
                rows = await session.scalars(
                    select(Message).where(Message.peer == phone).order_by(Message.id)
                )
                return list(rows)
        finally:
            await engine.dispose()


@pytest.fixture
async def box(tmp_path: Path, fake_twilio: FakeTwilio) -> AsyncIterator[Outbox]:
    url = f"sqlite:///{tmp_path / 'outbox.db'}"
    upgrade(url)
    engine = async_engine(url)
    settings = Settings(
        database_url=url,
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        twilio_from_number=FROM_NUMBER,
        twilio_api_base=fake_twilio.base_url,
    )
    outbox, opt_outs = SmsOutbox(engine), OptOutStore(engine)
    holder = Outbox(None, outbox, opt_outs, url, datetime.now(UTC))  # type: ignore[arg-type]
    holder.sender = TwilioSender(settings, outbox, opt_outs, holder.clock, first_delay=0.01)
    yield holder
    fake_twilio.fail_at_random(0)
    await holder.sender.close()
    await engine.dispose()


async def test_a_text_twilio_keeps_refusing_waits_and_goes_later_in_order(
    box: Outbox, fake_twilio: FakeTwilio
) -> None:
    phone = new_number()
    fake_twilio.fail_next(500, 503, 429, 500)  # every try at once fails
    first = await box.sender.send(phone, "How likely are you to recommend us?")
    second = await box.sender.send(phone, "Thanks!")
    assert [d.status for d in first + second] == ["pending", "pending"]
    assert first[0].ok  # not a failure: it will go
    assert fake_twilio.to(phone) == []
    stored = await box.stored(phone)
    assert [m.delivery_status for m in stored] == ["pending", "pending"]
    assert "Twilio 500" in (stored[0].delivery_error or "")

    assert await box.sender.resume() == 0  # not due yet (5 s)
    box.later(timedelta(seconds=5))
    assert await box.sender.resume() == 2
    assert fake_twilio.to(phone) == ["How likely are you to recommend us?", "Thanks!"]
    stored = await box.stored(phone)
    assert [m.delivery_status for m in stored] == ["queued", "queued"]
    assert all(m.external_id and m.external_id.startswith("sms:SM") for m in stored)
    assert await box.sender.resume() == 0  # nothing twice


async def test_a_connection_cut_after_twilio_took_the_text_does_not_send_it_twice(
    box: Outbox, fake_twilio: FakeTwilio
) -> None:
    phone = new_number()
    fake_twilio.fail_next("drop")  # Twilio makes the message, the answer is lost
    [delivery] = await box.sender.send(phone, "Your reply matters to us")
    made = [m for m in fake_twilio.messages if m["To"] == phone]
    assert len(made) == 1
    assert delivery.sid == made[0]["sid"]  # learnt from Twilio's list
    [stored] = await box.stored(phone)
    assert stored.external_id == f"sms:{made[0]['sid']}"


@pytest.mark.parametrize("reached_twilio", [True, False])
async def test_a_text_cut_off_by_a_stop_is_looked_up_at_twilio_then_sent_once(
    box: Outbox, fake_twilio: FakeTwilio, reached_twilio: bool
) -> None:
    """An instance took a text for sending and died, before or after Twilio
    made the message: it is recorded, or sent, once; the text behind it follows."""
    phone = new_number()
    await box.outbox.enqueue(phone, ["one", "two"], box.now, survey_id=None, author=Author.BOT)
    taken = await box.outbox.take_next(phone, box.now)
    assert taken is not None and taken.text == "one"
    made = None
    if reached_twilio:  # as the instance did just before it died
        made = await box.sender._client.messages.create_async(
            to=phone, from_=FROM_NUMBER, body="one"
        )

    box.later(CLAIM_LAPSES_AFTER / 2)
    assert await box.sender.resume() == 0  # the claim holds: that instance may be slow
    assert fake_twilio.to(phone) == (["one"] if reached_twilio else [])
    box.later(CLAIM_LAPSES_AFTER)
    await box.sender.resume()
    assert fake_twilio.to(phone) == ["one", "two"]
    stored = await box.stored(phone)
    assert [m.delivery_status for m in stored] == ["queued", "queued"]
    if made is not None:
        assert stored[0].external_id == f"sms:{made.sid}"


async def test_a_text_waiting_when_the_number_opts_out_is_never_sent(
    box: Outbox, fake_twilio: FakeTwilio
) -> None:
    phone = new_number()
    fake_twilio.fail_next(500, 500, 500, 500)
    await box.sender.send(phone, "Any more thoughts?")
    await box.sender.send(phone, "You have opted out.", even_if_opted_out=True)
    await box.opt_outs.opt_out(phone, "STOP", box.now)
    box.later(timedelta(minutes=1))
    await box.sender.resume()
    assert fake_twilio.to(phone) == ["You have opted out."]
    stored = await box.stored(phone)
    assert [(m.delivery_status, m.delivery_error) for m in stored] == [
        ("error", "the number opted out"),
        ("queued", None),
    ]


async def test_a_text_is_given_up_after_a_day_of_failures(
    box: Outbox, fake_twilio: FakeTwilio
) -> None:
    phone = new_number()
    fake_twilio.fail_at_random(1.0, 503)
    await box.sender.send(phone, "Still there?")
    box.later(GIVE_UP_AFTER)
    await box.sender.resume()
    [stored] = await box.stored(phone)
    assert stored.delivery_status == "error"
    assert stored.delivery_error is not None
    assert stored.delivery_error.startswith("gave up after 2 attempts: Twilio 503")
    fake_twilio.fail_at_random(0)
    box.later(timedelta(hours=1))
    assert await box.sender.resume() == 0
    assert fake_twilio.to(phone) == []


async def test_texts_through_a_twilio_failing_30_percent_arrive_once_each_in_order(
    box: Outbox, fake_twilio: FakeTwilio
) -> None:
    phones = [new_number() for _ in range(20)]
    fake_twilio.fail_at_random(0.3, 500, 503, 429, "drop")
    for n in range(3):
        for phone in phones:
            await box.sender.send(phone, f"message {n}")
    for _ in range(20):
        box.later(timedelta(minutes=10))
        await box.sender.resume()
    for phone in phones:
        assert fake_twilio.to(phone) == ["message 0", "message 1", "message 2"]
        assert [m.delivery_status for m in await box.stored(phone)] == ["queued"] * 3
