"""Quiet hours and the scheduler, with an injected clock, against the running
Rasa, action server and the fake Twilio."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import aiohttp
import pytest
import yaml
from aiohttp.test_utils import TestClient, TestServer

from bot.app import create_app
from bot.channels import Channels
from bot.channels.sms import SmsPort
from bot.conversations import Conversations
from bot.rasa_client import RasaClient
from bot.sms.channel import SmsChannel
from bot.sms.scheduler import expire_unanswered, send_due, send_reminders
from bot.sms.twilio_sender import TwilioSender
from feedbot.settings import PROJECT_ROOT
from feedbot.store.database import async_engine
from feedbot.store.models import Author, Direction
from feedbot.store.opt_outs import OptOutStore
from feedbot.store.sms_outbox import SmsOutbox
from feedbot.store.surveys import NewSurvey, SurveyStore
from feedbot.touchpoints import ContactRules, SmsTexts, load_survey_config
from tests.conftest import API_TOKEN, settings_for
from tests.fake_twilio import FakeTwilio
from tests.system import System

pytestmark = pytest.mark.system
LONDON = ZoneInfo("Europe/London")
NIGHT = datetime(2026, 11, 10, 23, 15, tzinfo=UTC)  # 23:15 in London


@dataclass
class Channel:
    """The SMS channel built in-process against the running stack, on a clock
    the test sets."""

    store: SurveyStore
    opt_outs: OptOutStore
    sms: SmsChannel
    rules: ContactRules
    texts: SmsTexts
    now: datetime = NIGHT

    def clock(self) -> datetime:
        return self.now

    @property
    def channels(self) -> Channels:
        """The app's channels as the scheduler sees them: SMS (the port)."""
        return Channels([SmsPort(self.sms, self.opt_outs, "GB", self.rules)])


@pytest.fixture
async def channel(system: System, fake_twilio: FakeTwilio) -> AsyncIterator[Channel]:
    engine = async_engine(system.database_url)
    store, opt_outs = SurveyStore(engine), OptOutStore(engine)
    config = load_survey_config(PROJECT_ROOT / "touchpoints.yml")
    async with aiohttp.ClientSession() as http:
        holder = Channel(store, opt_outs, None, config.contact_rules, config.sms)  # type: ignore[arg-type]
        conversations = Conversations(store, RasaClient(http, system.rasa_url, 30), holder.clock)
        sender = TwilioSender(
            settings_for(system, fake_twilio), SmsOutbox(engine), opt_outs, holder.clock
        )
        holder.sms = SmsChannel(sender, store, opt_outs, conversations, config, holder.clock)
        yield holder
        await sender.close()
    await engine.dispose()


@pytest.fixture
async def night_app(system: System, fake_twilio: FakeTwilio) -> AsyncIterator[TestClient]:
    """The real app, with the shipped touchpoint file (quiet hours 21–08) and
    a clock stopped at night."""
    app = create_app(settings_for(system, fake_twilio), clock=lambda: NIGHT)
    async with TestClient(TestServer(app)) as client:
        yield client


async def test_a_survey_asked_for_at_night_waits_for_the_morning(
    night_app: TestClient, fake_twilio: FakeTwilio
) -> None:
    phone = "+447911200001"
    resp = await night_app.post(
        "/api/surveys",
        json={"channel": "sms", "phone": phone, "touchpoint": "support"},
        headers={"Authorization": f"Bearer {API_TOKEN}"},
    )
    body = await resp.json()
    assert resp.status == 201
    assert body["status"] == "scheduled"
    assert "quiet hours in Europe/London" in body["reason"]
    morning = datetime(2026, 11, 11, 8, 0, tzinfo=LONDON)
    assert datetime.fromisoformat(body["send_at"]) == morning
    assert fake_twilio.to(phone) == []  # waits; not dropped


async def test_the_scheduler_sends_due_surveys_once(
    channel: Channel, fake_twilio: FakeTwilio
) -> None:
    store = channel.store
    phone = "+447911200002"
    survey = await store.create_survey(NewSurvey("sms", "delivery", customer_ref=phone), NIGHT)
    # Before 08:00 UTC, when the other test's survey becomes due (shared database).
    send_at = NIGHT + timedelta(hours=1)
    await store.schedule(survey.id, send_at, "quiet hours")

    assert await send_due(store, channel.channels, send_at - timedelta(minutes=1)) == 0
    assert fake_twilio.to(phone) == []
    assert await send_due(store, channel.channels, send_at) == 1
    (opening,) = fake_twilio.wait_for(phone, 1)
    assert "your recent delivery" in opening
    assert await send_due(store, channel.channels, send_at + timedelta(minutes=30)) == 0  # once
    sent = await store.get_survey(survey.id)
    assert sent is not None and sent.state == "started" and sent.sent_at is not None


async def test_a_scheduled_survey_is_not_sent_to_a_number_that_opted_out_meanwhile(
    channel: Channel, fake_twilio: FakeTwilio
) -> None:
    store = channel.store
    phone = "+447911200007"
    survey = await store.create_survey(NewSurvey("sms", "delivery", customer_ref=phone), NIGHT)
    send_at = NIGHT + timedelta(minutes=30)
    await store.schedule(survey.id, send_at, "quiet hours")
    await channel.opt_outs.opt_out(phone, "STOP", NIGHT + timedelta(minutes=5))

    await send_due(store, channel.channels, send_at)
    assert fake_twilio.to(phone) == []
    suppressed = await store.get_survey(survey.id)
    assert suppressed is not None and suppressed.state == "suppressed"
    assert suppressed.state_reason == "opted out before the survey was sent"
    assert suppressed.sent_at is None


async def test_an_unanswered_survey_expires_and_later_texts_get_the_short_answer(
    system: System, fake_twilio: FakeTwilio
) -> None:
    engine = async_engine(system.database_url)
    store = SurveyStore(engine)
    phone = "+447911200003"
    sent_at = datetime.now(UTC) - timedelta(hours=80)
    survey = await store.create_survey(NewSurvey("sms", "support", customer_ref=phone), sent_at)
    await store.mark_sent(survey.id, sent_at)
    window = timedelta(hours=72)
    # (The database is shared with other tests: look at this survey, not at counts.)
    await expire_unanswered(store, window, sent_at + timedelta(hours=71))
    still_open = await store.get_survey(survey.id)
    assert still_open is not None and still_open.state == "started"
    assert await expire_unanswered(store, window, sent_at + timedelta(hours=73)) >= 1
    expired = await store.get_survey(survey.id)
    assert expired is not None and expired.state == "expired"
    assert await store.open_survey_for("sms", phone) is None
    await engine.dispose()


async def test_one_reminder_to_a_customer_who_has_not_replied(
    channel: Channel, fake_twilio: FakeTwilio
) -> None:
    store, rules, reminder = channel.store, channel.rules, channel.texts.say("reminder")
    silent, replied = "+447911200004", "+447911200005"
    # Sent at 11:00 London two days ago (reminder after 24 h, quiet 21:00-08:00).
    sent_at = datetime.now(LONDON).replace(hour=11, minute=0) - timedelta(days=2)
    channel.now = sent_at
    ids = {}
    for phone in (silent, replied):
        survey = await store.create_survey(NewSurvey("sms", "support", customer_ref=phone), sent_at)
        await store.mark_sent(survey.id, sent_at)
        ids[phone] = survey.id
    await store.add_message(
        ids[replied], Direction.INBOUND, Author.CUSTOMER, "8", sent_at, peer=replied
    )

    await send_reminders(store, channel.channels, rules, sent_at + timedelta(hours=23))
    assert fake_twilio.to(silent) == []  # too early
    await send_reminders(store, channel.channels, rules, sent_at + timedelta(hours=11))
    assert fake_twilio.to(silent) == []  # 22:00 London: quiet hours, and too early
    await send_reminders(store, channel.channels, rules, sent_at + timedelta(hours=25))
    assert fake_twilio.to(silent) == [reminder]
    await send_reminders(store, channel.channels, rules, sent_at + timedelta(hours=30))
    assert fake_twilio.to(silent) == [reminder]  # at most one
    assert fake_twilio.to(replied) == []  # they answered: no reminder


async def test_a_reminder_due_at_night_waits_for_the_morning(
    channel: Channel, fake_twilio: FakeTwilio
) -> None:
    store = channel.store
    phone = "+447911200006"
    sent_at = datetime.now(LONDON).replace(hour=22, minute=30) - timedelta(days=2)
    channel.now = sent_at
    survey = await store.create_survey(NewSurvey("sms", "support", customer_ref=phone), sent_at)
    await store.mark_sent(survey.id, sent_at)
    night = sent_at + timedelta(hours=24, minutes=30)  # 23:00 London, a day later
    await send_reminders(store, channel.channels, channel.rules, night)
    assert fake_twilio.to(phone) == []
    # 09:00 London (an hour either way across a clock change: still outside quiet hours)
    await send_reminders(store, channel.channels, channel.rules, night + timedelta(hours=10))
    assert fake_twilio.to(phone) == [channel.texts.say("reminder")]


def test_the_shipped_contact_rules_are_the_documented_defaults() -> None:
    rules = yaml.safe_load((PROJECT_ROOT / "touchpoints.yml").read_text())["contact_rules"]
    assert rules["min_days_between_surveys"] == 30
    assert rules["quiet_hours"] == {"start": "21:00", "end": "08:00"}
    assert rules["expire_after_hours"] == 72
    assert rules["reminder_after_hours"] == 24


async def test_a_scheduled_survey_claimed_by_an_instance_that_stopped_is_sent_later(
    channel: Channel, fake_twilio: FakeTwilio
) -> None:
    store = channel.store
    phone = "+447911200011"
    survey = await store.create_survey(NewSurvey("sms", "checkout", customer_ref=phone), NIGHT)
    send_at = NIGHT + timedelta(minutes=40)
    await store.schedule(survey.id, send_at, "quiet hours")
    # An instance claims it, then stops before any text leaves.
    assert survey.id in [s.id for s in await store.claim_due(send_at)]
    assert await send_due(store, channel.channels, send_at + timedelta(minutes=1)) == 0  # its claim
    assert fake_twilio.to(phone) == []
    # Once the claim is five minutes old, a round sends it: once.
    later = send_at + timedelta(minutes=6)
    assert await send_due(store, channel.channels, later) == 1
    fake_twilio.wait_for(phone, 1)
    assert await send_due(store, channel.channels, later + timedelta(minutes=10)) == 0
    sent = await store.get_survey(survey.id)
    assert sent is not None and sent.sent_at is not None and sent.state == "started"
    assert len(fake_twilio.to(phone)) == 1  # the first text, not twice
