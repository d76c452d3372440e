"""Property: no sequence of improvements logged, inbound texts (STOP, START,
HELP, replies) and sending rounds ever texts "you said, we did" to a number
that has opted out, nor any number twice within 30 days.

Hypothesis drives the real app (in-process, on a clock the test moves, with
its own SQLite database) and a fake Twilio that records every message the
real `twilio` library sends. Who has opted out is modelled from the texts
alone. The two messages an opted-out number may get are the carriers'
own: the confirmation of its STOP and the answer to HELP.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule, run_state_machine_as_test

from bot.app import create_app
from bot.channels.sms import sms_text
from bot.improvement_notices import IMPROVEMENT_NOTICES
from bot.keys import STORE, SURVEY_CONFIG
from bot.tasks import TASKS
from feedbot.settings import Settings
from feedbot.store.migrate import upgrade
from feedbot.store.models import SurveyState
from feedbot.store.surveys import NewSurvey, ReasonTags, ThemeTag
from tests.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, FakeTwilio
from tests.helpers.clock import Clock
from tests.helpers.sms_in import text_in

_numbers = count(1)
THEMES = ["wait_time", "staff"]
TEXTS = ["STOP", "stop", "unsubscribe", "START", "HELP", "Thanks!", "yes", "hello?"]
MESSAGE = "You told us about the queue; we added a till."


def kind_of(text: str, opted_out: bool) -> str:
    word = text.strip().strip(".!").upper()
    if word in {"STOP", "UNSUBSCRIBE"}:
        return "stop"
    if word == "START" or (word == "YES" and opted_out):
        return "start"
    if word == "HELP":
        return "help"
    return "other"


def machine_for(
    loop: asyncio.AbstractEventLoop, client: TestClient, fake: FakeTwilio, clock: Clock
) -> type[RuleBasedStateMachine]:
    app = client.server.app
    texts = app[SURVEY_CONFIG].sms

    def run(work: Coroutine[Any, Any, Any]) -> Any:
        return loop.run_until_complete(work)

    async def answered(phone: str, theme: str) -> None:
        store, at = app[STORE], clock.now - timedelta(days=1)
        survey = await store.create_survey(
            NewSurvey("sms", "support", location="leeds", customer_ref=phone), at
        )
        await store.record_score(survey.id, 3, at)
        tags = ReasonTags([theme], "negative", {theme: ThemeTag("negative", [theme])})
        await store.record_reason(survey.id, "why", at, tags)
        await store.finish(survey.id, SurveyState.COMPLETED, at)

    class ImprovementOptOutMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.phones = [f"+4479116{next(_numbers):05d}" for _ in range(3)]
            self.opted_out = dict.fromkeys(self.phones, False)
            self.told_at: dict[str, datetime] = {}
            for n, phone in enumerate(self.phones):
                run(answered(phone, THEMES[n % 2]))

        def step(self, work: Callable[[], Coroutine[Any, Any, Any]]) -> tuple[Any, dict]:
            before = {p: len(fake.to(p)) for p in self.phones}

            async def whole() -> Any:
                result = await work()
                while app[TASKS]:
                    await asyncio.wait(set(app[TASKS]))
                return result

            result = run(whole())
            return result, {p: fake.to(p)[before[p] :] for p in self.phones}

        def check(self, sent: dict[str, list[str]], *, but: str | None = None) -> None:
            for phone, messages in sent.items():
                notices = [m for m in messages if m == sms_text(MESSAGE)]
                if phone != but and self.opted_out[phone]:
                    assert messages == [], f"{phone} opted out, yet was sent {messages}"
                if notices:
                    assert len(notices) == 1, f"{phone} told twice at once"
                    last = self.told_at.get(phone)
                    assert last is None or clock.now - last >= timedelta(days=30), (
                        f"{phone} told again after {clock.now - last}"
                    )
                    self.told_at[phone] = clock.now

        @rule(theme=st.sampled_from(THEMES), here=st.booleans())
        def log_an_improvement(self, theme: str, here: bool) -> None:
            async def post() -> int:
                resp = await client.post(
                    "/api/improvements",
                    json={
                        "theme": theme,
                        "location": "leeds" if here else None,
                        "title": "A till",
                        "message": MESSAGE,
                        "lookback_days": 365,
                    },
                    headers={"Authorization": "Bearer analyst-token"},
                )
                return resp.status

            status, sent = self.step(post)
            assert status == 201
            self.check(sent)

        @rule(who=st.integers(0, 2), text=st.sampled_from(TEXTS))
        def text_in(self, who: int, text: str) -> None:
            phone = self.phones[who]
            was_out = self.opted_out[phone]
            kind = kind_of(text, was_out)

            status, sent = self.step(lambda: text_in(client, phone, text))
            assert status == 200
            self.check(sent, but=phone)
            mine = sent[phone]
            if kind == "stop":
                assert mine == ([] if was_out else [texts.say("stop_confirmation")]), mine
                self.opted_out[phone] = True
            elif kind == "start":
                self.opted_out[phone] = False
            elif kind == "help":
                # Who is writing, what about (the open survey's touchpoint), STOP.
                (helped,) = mine
                assert helped.startswith(f"{texts.sender}: a short feedback survey about ")
                assert "STOP" in helped
            elif was_out:
                assert mine == [], f"{phone} opted out, yet was sent {mine}"

        @rule(wait=st.sampled_from([timedelta(0), timedelta(hours=13), timedelta(days=31)]))
        def a_round(self, wait: timedelta) -> None:
            clock.now += wait
            _, sent = self.step(app[IMPROVEMENT_NOTICES].send_due)
            self.check(sent)

    return ImprovementOptOutMachine


def test_no_sequence_tells_an_opted_out_number(tmp_path: Path) -> None:
    fake = FakeTwilio().start()
    url = f"sqlite:///{tmp_path / 'property.db'}"
    upgrade(url)
    app_settings = Settings(
        database_url=url,
        analyst_token="analyst-token",
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        twilio_from_number=FROM_NUMBER,
        twilio_api_base=fake.base_url,
    )
    clock = Clock(datetime(2032, 5, 4, 10, 0, tzinfo=UTC))
    loop = asyncio.new_event_loop()
    app = create_app(app_settings, clock=clock, run_scheduler=False)
    client = TestClient(TestServer(app, loop=loop), loop=loop)
    loop.run_until_complete(client.start_server())
    try:
        run_state_machine_as_test(
            machine_for(loop, client, fake, clock),
            settings=settings(
                max_examples=25,
                stateful_step_count=12,
                deadline=None,
                database=None,
                suppress_health_check=[HealthCheck.too_slow],
            ),
        )
    finally:
        loop.run_until_complete(client.close())
        loop.close()
