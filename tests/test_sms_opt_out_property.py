"""Property: no sequence of survey requests, inbound texts and scheduler
rounds ever sends a message to a number that has opted out.

Hypothesis drives the real app (built in-process on a clock the test moves,
so quiet hours, scheduled sends, reminders and expiry all happen), the running
Rasa and action server, and the fake Twilio that records every message the
real `twilio` library sends. A model of who has opted out is kept from the
texts alone, independently of the app's keyword code.

Two messages to an opted-out number are allowed, both required by carriers:
the one confirmation of the STOP itself, and the answer to HELP/INFO (it
tells the customer who is texting and how to stop).

The clock starts in 2031 so the scheduler rounds this test runs never claim
the surveys that later tests schedule in 2026, and the system's own scheduler
(on the real clock) never touches these.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule, run_state_machine_as_test

from bot.app import create_app
from bot.keys import CHANNELS, STORE, SURVEY_CONFIG
from bot.sms.scheduler import expire_unanswered, send_due, send_reminders
from bot.tasks import TASKS
from tests.conftest import API_TOKEN, settings_for
from tests.fake_twilio import FakeTwilio
from tests.helpers.sms_in import text_in
from tests.system import System

pytestmark = pytest.mark.system

_numbers = count(0)
STOP_WORDS = ["STOP", "stop", " Stop ", "STOPALL", "unsubscribe", "Cancel", "END", "quit."]
STOP_WORDS += ["BAJA", "parar", "Cancelar", "ALTO"]  # Spanish, honoured in any survey
START_WORDS = ["START", "unstop", "Start!", "ALTA", "comenzar"]
HELP_WORDS = ["HELP", "info", " Help ", "AYUDA"]
SPANISH_KEYWORDS = {"BAJA", "PARAR", "CANCELAR", "ALTO", "ALTA", "COMENZAR", "AYUDA", "SÍ"}
# Ordinary answers, "yes" / "sí" (keywords only from an opted-out number)
# and near-keywords that are not keywords.
OTHER_TEXTS = ["8", "3", "ten", "yes", "YES", "sí", "The driver was rude", "stop it please"]
OTHER_TEXTS += ["hello?", "dame de baja por favor"]
TEXTS = STOP_WORDS + START_WORDS + HELP_WORDS + OTHER_TEXTS
TOUCHPOINTS = ["support", "delivery", "checkout"]
WAITS = [timedelta(hours=h) for h in (1, 10, 25, 80, 24 * 31)]


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2031, 3, 3, 19, 30, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def kind_of(text: str, opted_out: bool) -> str:
    """The model's own reading of a text (not bot.sms.keywords)."""
    word = text.strip().strip(".!").upper()
    if word in {w.strip().strip(".!").upper() for w in STOP_WORDS}:
        return "stop"
    if word in {w.strip().strip(".!").upper() for w in START_WORDS}:
        return "start"
    if word in ("YES", "SÍ") and opted_out:
        return "start"
    if word in {w.strip().upper() for w in HELP_WORDS}:
        return "help"
    return "other"


def machine_for(
    loop: asyncio.AbstractEventLoop, client: TestClient, fake: FakeTwilio, clock: Clock
) -> type[RuleBasedStateMachine]:
    app = client.server.app
    texts = app[SURVEY_CONFIG].sms
    spanish = app[SURVEY_CONFIG].in_language("es").sms

    def said(name: str, keyword: str) -> list[str]:
        """What a keyword may be answered with: English (the open survey's
        language, these numbers' country's); a Spanish keyword with no
        survey open is answered in Spanish."""
        found = [texts.say(name)]
        if keyword.strip().strip(".!").upper() in SPANISH_KEYWORDS:
            found.append(spanish.say(name))
        return found

    def run(work: Coroutine[Any, Any, Any]) -> Any:
        return loop.run_until_complete(work)

    class OptOutMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.phones = [f"+4479117{next(_numbers):05d}" for _ in range(3)]
            self.opted_out = dict.fromkeys(self.phones, False)

        def step(self, work: Callable[[], Coroutine[Any, Any, Any]]) -> tuple[Any, dict]:
            """Run one step to the end (background work included) and return
            what each number was sent during it."""
            before = {p: len(fake.to(p)) for p in self.phones}

            async def whole() -> Any:
                result = await work()
                while app[TASKS]:
                    await asyncio.wait(set(app[TASKS]))
                return result

            result = run(whole())
            sent = {p: fake.to(p)[before[p] :] for p in self.phones}
            return result, sent

        def assert_silent(self, sent: dict[str, list[str]], *, but: str | None = None) -> None:
            for phone, messages in sent.items():
                if phone != but and self.opted_out[phone]:
                    assert messages == [], f"{phone} opted out, yet was sent {messages}"

        @rule(who=st.integers(0, 2), touchpoint=st.sampled_from(TOUCHPOINTS))
        def ask_for_a_survey(self, who: int, touchpoint: str) -> None:
            phone = self.phones[who]

            async def post() -> tuple[int, dict]:
                resp = await client.post(
                    "/api/surveys",
                    json={
                        "channel": "sms",
                        "phone": phone,
                        "touchpoint": touchpoint,
                        "interaction_id": f"prop-{uuid.uuid4().hex}",
                    },
                    headers={"Authorization": f"Bearer {API_TOKEN}"},
                )
                return resp.status, await resp.json()

            (status, body), sent = self.step(post)
            assert status == 201, body
            if self.opted_out[phone]:
                assert body["status"] == "suppressed" and "opted out" in body["reason"], body
            self.assert_silent(sent)

        @rule(who=st.integers(0, 2), text=st.sampled_from(TEXTS))
        def text_in(self, who: int, text: str) -> None:
            phone = self.phones[who]
            was_out = self.opted_out[phone]
            kind = kind_of(text, was_out)

            status, sent = self.step(lambda: text_in(client, phone, text))
            assert status == 200
            self.assert_silent(sent, but=phone)
            mine = sent[phone]
            if kind == "stop":
                # Confirmed once, then silence.
                if was_out:
                    assert mine == [], mine
                else:
                    (confirmed,) = mine
                    assert confirmed in said("stop_confirmation", text), mine
                self.opted_out[phone] = True
            elif kind == "start":
                if was_out:
                    (confirmed,) = mine
                    assert confirmed in said("start_confirmation", text), mine
                self.opted_out[phone] = False
            elif kind == "help":
                # Who is writing, what about (the open survey's touchpoint), STOP.
                (helped,) = mine
                assert helped.startswith(
                    (
                        f"{texts.sender}: a short feedback survey about ",
                        f"{texts.sender}: una breve encuesta de opinión sobre ",
                    )
                )
                assert "STOP" in helped
            elif was_out:
                assert mine == [], f"{phone} opted out, yet was sent {mine}"

        @rule(wait=st.sampled_from(WAITS))
        def time_passes(self, wait: timedelta) -> None:
            clock.now += wait
            rules = app[SURVEY_CONFIG].contact_rules

            async def rounds() -> None:
                store, channels = app[STORE], app[CHANNELS]
                await expire_unanswered(store, timedelta(hours=rules.expire_after_hours), clock())
                await send_due(store, channels, clock())
                await send_reminders(store, channels, rules, clock())

            _, sent = self.step(rounds)
            self.assert_silent(sent)

    return OptOutMachine


def test_no_sequence_texts_an_opted_out_number(system: System, fake_twilio: FakeTwilio) -> None:
    clock = Clock()
    loop = asyncio.new_event_loop()
    app = create_app(settings_for(system, fake_twilio), clock=clock, run_scheduler=False)
    client = TestClient(TestServer(app, loop=loop), loop=loop)
    loop.run_until_complete(client.start_server())
    try:
        machine = machine_for(loop, client, fake_twilio, clock)
        run_state_machine_as_test(
            machine,
            settings=settings(
                max_examples=15,
                stateful_step_count=12,
                deadline=None,
                database=None,
                suppress_health_check=[HealthCheck.too_slow],
            ),
        )
    finally:
        loop.run_until_complete(client.close())
        loop.close()
