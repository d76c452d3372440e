""" "You said, we did": logging an improvement tells the customers who raised
its theme, by SMS (the real `twilio` library and a fake Twilio of this
module's own) and by a signed webhook (a local receiver), within the
contact rules; a reply reaches the agents. The app runs in-process on a
clock the test moves, against a fresh SQLite database."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.app import create_app
from bot.improvement_notices import IMPROVEMENT_NOTICES
from bot.keys import CLOCK, OPT_OUTS, SETTINGS, SMS_CHANNEL, STORE
from feedbot.settings import Settings
from feedbot.store.accounts import add_user
from feedbot.store.database import sync_engine
from feedbot.store.migrate import upgrade
from feedbot.store.models import Handoff, ImprovementNotice, Message, SurveyState
from feedbot.store.surveys import NewSurvey, ReasonTags, ThemeTag
from tests.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, FakeTwilio
from tests.helpers.clock import Clock

ANALYST = {"Authorization": "Bearer analyst-token"}
SECRET = "improvement-secret"
# Tuesday 10:00 in London: outside quiet hours.
T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
_numbers = count(1)


def new_number() -> str:
    return f"+4479118{next(_numbers):05d}"


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    yield FakeTwilio().start()


class Receiver:
    def __init__(self) -> None:
        self.events: list[tuple[bytes, str]] = []
        self.fail_next = 0

    async def handle(self, request: web.Request) -> web.Response:
        if self.fail_next:
            self.fail_next -= 1
            return web.Response(status=503)
        self.events.append((await request.read(), request.headers["X-Feedbot-Signature"]))
        return web.Response(status=204)


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    found = Receiver()
    app = web.Application()
    app.router.add_post("/hooks", found.handle)
    server = TestServer(app)
    await server.start_server()
    yield found, str(server.make_url("/hooks"))
    await server.close()


@pytest.fixture
async def client(
    tmp_path: Path, twilio: FakeTwilio, receiver: tuple[Receiver, str]
) -> AsyncIterator[TestClient]:
    url = f"sqlite:///{tmp_path / 'improvements.db'}"
    upgrade(url)
    settings = Settings(
        database_url=url,
        analyst_token="analyst-token",
        agent_token="agent-token",
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        twilio_from_number=FROM_NUMBER,
        twilio_api_base=twilio.base_url,
        webhook_urls=(receiver[1],),
        webhook_secret=SECRET,
    )
    async with TestClient(TestServer(create_app(settings, Clock(T0), run_scheduler=False))) as c:
        yield c


def clock_of(client: TestClient) -> Clock:
    clock = client.app[CLOCK]
    assert isinstance(clock, Clock)
    return clock


async def answered(
    client: TestClient,
    theme: str,
    *,
    channel: str = "sms",
    ref: str | None = None,
    location: str = "leeds",
    touchpoint: str = "store_visit",
    days_ago: float = 3,
) -> str:
    """A customer whose reason was tagged with ``theme``; their number or id."""
    store, at = client.app[STORE], clock_of(client).now - timedelta(days=days_ago)
    ref = ref or (new_number() if channel == "sms" else f"cust-{next(_numbers)}")
    survey = await store.create_survey(
        NewSurvey(channel, touchpoint, location=location, customer_ref=ref), at
    )
    await store.record_score(survey.id, 4, at)
    tags = ReasonTags([theme], "negative", {theme: ThemeTag("negative", [theme])})
    await store.record_reason(survey.id, f"about {theme}", at, tags)
    await store.finish(survey.id, SurveyState.COMPLETED, at)
    return ref


async def post(client: TestClient, **body: Any) -> tuple[int, Any]:
    body = {"title": "Two more people at lunch", "message": "We added staff at lunch.", **body}
    resp = await client.post("/api/improvements", json=body, headers=ANALYST)
    text = await resp.text()
    return resp.status, json.loads(text) if resp.content_type == "application/json" else text


async def send_round(client: TestClient) -> int:
    return await client.app[IMPROVEMENT_NOTICES].send_due()


def rows(client: TestClient, model: Any) -> list[Any]:
    engine = sync_engine(client.app[SETTINGS].database_url)
    with Session(engine) as session:
        found = list(session.scalars(select(model)))
    engine.dispose()
    return found


async def test_a_dry_run_counts_who_would_be_told_and_sends_nothing(
    client: TestClient, twilio: FakeTwilio
) -> None:
    texted = [await answered(client, "wait_time") for _ in range(3)]
    await answered(client, "wait_time", channel="web")
    await answered(client, "wait_time", location="bristol")  # another location
    await answered(client, "price")  # another theme
    await answered(client, "wait_time", days_ago=100)  # before the lookback
    stopped = await answered(client, "wait_time")
    await client.app[OPT_OUTS].opt_out(stopped, "STOP", T0)
    await answered(client, "wait_time", ref=texted[0], days_ago=5)  # the same customer twice

    status, body = await post(client, theme="wait_time", location="leeds", dry_run=True)
    assert status == 200
    assert body == {
        "recipients": 4,
        "by_channel": {"sms": 3, "web": 1},
        "excluded": {"opted_out": 1, "told_in_last_30_days": 0, "web_without_webhook": 0},
    }
    assert await send_round(client) == 0 and twilio.messages == []
    assert rows(client, ImprovementNotice) == []


async def test_customers_are_told_by_sms_and_webhook_once_and_it_is_in_the_transcript(
    client: TestClient, twilio: FakeTwilio, receiver: tuple[Receiver, str]
) -> None:
    phone = await answered(client, "wait_time")
    customer = await answered(client, "wait_time", channel="web")
    found, _ = receiver
    found.fail_next = 1  # the first webhook try fails: retried
    status, body = await post(
        client, theme="wait_time", location="leeds", message="We added staff at lunch."
    )
    assert status == 201 and body["recipients"] == 2 and body["status"] == "sending"
    await send_round(client)
    assert twilio.to(phone) == ["We added staff at lunch. Reply STOP to opt out."]
    assert found.events == []
    clock_of(client).now += timedelta(seconds=6)
    await send_round(client)
    ((raw, signed),) = found.events
    assert signed == "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
    event = json.loads(raw)
    assert event["event"] == "improvement.notify" and event["customer_id"] == customer
    assert event["improvement"]["message"] == "We added staff at lunch."
    assert {n.status for n in rows(client, ImprovementNotice)} == {"sent"}
    team = [m for m in rows(client, Message) if m.author == "team"]
    assert sorted(m.text for m in team) == [
        "We added staff at lunch.",
        "We added staff at lunch. Reply STOP to opt out.",
    ]

    # A second improvement within 30 days reaches neither of them.
    status, body = await post(client, theme="wait_time", dry_run=True)
    assert body["recipients"] == 0 and body["excluded"]["told_in_last_30_days"] == 2
    clock_of(client).now += timedelta(days=31)
    status, body = await post(client, theme="wait_time", lookback_days=60, dry_run=True)
    assert body["recipients"] == 2


async def test_quiet_hours_wait_and_a_number_that_stops_meanwhile_is_never_texted(
    client: TestClient, twilio: FakeTwilio
) -> None:
    clock = clock_of(client)
    clock.now = datetime(2026, 11, 24, 22, 30, tzinfo=UTC)  # 22:30 in London: quiet
    early, stops = await answered(client, "price"), await answered(client, "price")
    status, _ = await post(client, theme="price")
    assert status == 201
    await send_round(client)
    assert twilio.to(early) == [] and twilio.to(stops) == []
    await client.app[SMS_CHANNEL].inbound("SMstop1", stops, "STOP")
    clock.now = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    await send_round(client)
    assert len(twilio.to(early)) == 1
    assert twilio.to(stops) == [
        "You won't get any more messages from Northwind Goods. Reply START to opt back in."
    ]
    why = {n.customer_ref: n.why for n in rows(client, ImprovementNotice)}
    assert why[stops] == "opted out"


async def test_a_reply_reaches_the_agents_as_a_low_urgency_hand_off(
    client: TestClient, twilio: FakeTwilio
) -> None:
    phone = await answered(client, "staff")
    await post(client, theme="staff")
    await send_round(client)
    await client.app[SMS_CHANNEL].inbound("SMreply1", phone, "Thanks, much better now!")
    (handoff,) = rows(client, Handoff)
    assert (handoff.reason, handoff.urgency, handoff.state) == ("improvement_reply", 0, "waiting")
    queue = await client.get("/api/handoffs", headers={"Authorization": "Bearer agent-token"})
    (queued,) = (await queue.json())["handoffs"]
    assert queued["id"] == handoff.id
    said = [(m.author, m.text) for m in rows(client, Message) if m.survey_id == handoff.survey_id]
    assert said[-1] == ("customer", "Thanks, much better now!")
    assert twilio.to(phone)[-1].endswith("Reply STOP to opt out.")  # no bot answer to it


async def test_bad_requests_get_a_clear_4xx(client: TestClient, tmp_path: Path) -> None:
    for body, status, words in [
        ({"theme": "waiting"}, 400, "Unknown theme 'waiting'"),
        ({"theme": "price", "touchpoint": "nope"}, 400, "Unknown touchpoint 'nope'"),
        ({"theme": "price", "lookback_days": 0}, 400, "lookback_days"),
        ({"theme": "price", "message": "x" * 401}, 400, "message"),
        ({"theme": "price", "colour": "red"}, 400, "colour"),
    ]:
        got, answer = await post(client, **body)
        assert got == status and words in answer["error"], (body, answer)
    resp = await client.post("/api/improvements", json={"theme": "price"})
    assert resp.status == 401
    resp = await client.post(
        "/api/improvements",
        data=b"{not json",
        headers=ANALYST | {"Content-Type": "application/json"},
    )
    assert resp.status == 400 and "JSON" in await resp.text()


async def test_an_analyst_limited_to_a_store_may_log_only_for_it(client: TestClient) -> None:
    engine = sync_engine(client.app[SETTINGS].database_url)
    add_user(
        engine,
        email="leeds@example.com",
        name="Leeds",
        role="analyst",
        password="a long enough password",
        at=T0,
        locations=["leeds"],
    )
    engine.dispose()
    login = await client.post(
        "/login",
        data={"email": "leeds@example.com", "password": "a long enough password"},
        allow_redirects=False,
    )
    assert login.status == 302
    origin = {"Origin": str(client.make_url("")).rstrip("/")}
    body = {"theme": "price", "title": "t", "message": "m", "dry_run": True}
    resp = await client.post("/api/improvements", json=body, headers=origin)
    assert resp.status == 403 and "leeds" in await resp.text()
    resp = await client.post(
        "/api/improvements", json={**body, "location": "bristol"}, headers=origin
    )
    assert resp.status == 403
    resp = await client.post(
        "/api/improvements", json={**body, "location": "leeds"}, headers=origin
    )
    assert resp.status == 200


async def test_the_report_says_whether_an_improvement_worked(client: TestClient) -> None:
    """30 days before: 20 of 40 reasons about waiting, NPS −50; 30 days
    after: 2 of 40, NPS +50. The intervals separate: it fell, NPS rose."""
    clock = clock_of(client)
    store = client.app[STORE]

    async def reasons(start: datetime, mentions: int, score_of: Any) -> None:
        for n in range(40):
            at = start + timedelta(hours=17 * n)
            survey = await store.create_survey(
                NewSurvey("web", "store_visit", location="leeds"), at
            )
            await store.record_score(survey.id, score_of(n), at)
            theme = "wait_time" if n < mentions else "staff"
            tags = ReasonTags([theme], "neutral", {theme: ThemeTag("neutral", [theme])})
            await store.record_reason(survey.id, "words", at, tags)

    logged_at = clock.now
    await reasons(logged_at - timedelta(days=30), 20, lambda n: 2 if n % 4 else 9)
    status, body = await post(client, theme="wait_time", location="leeds", lookback_days=30)
    assert status == 201
    await reasons(logged_at, 2, lambda n: 10 if n % 4 else 3)
    clock.now = logged_at + timedelta(days=30)

    resp = await client.get("/api/report?location=leeds", headers=ANALYST)
    (row,) = (await resp.json())["improvements"]
    effect = row["effect"]
    assert row["improvement_id"] == body["improvement_id"] and effect["window_days"] == 30
    assert (effect["before"]["reasons"], effect["before"]["mentions"]) == (40, 20)
    assert (effect["after"]["reasons"], effect["after"]["mentions"]) == (40, 2)
    assert effect["before"]["theme_share"] == 0.5 and effect["after"]["theme_share"] == 0.05
    assert effect["after"]["theme_share_high"] < effect["before"]["theme_share_low"]
    assert effect["theme_share_change"] == "fell"
    assert effect["before"]["nps"] == -50 and effect["after"]["nps"] == 50
    assert effect["nps_change"] == "rose"
    listed = await client.get("/api/improvements", headers=ANALYST)
    (same,) = (await listed.json())["improvements"]
    assert same["effect"] == effect and same["notices"] == {}


async def test_erasing_a_customer_told_of_an_improvement_removes_it_all(
    client: TestClient, twilio: FakeTwilio
) -> None:
    from feedbot.privacy import erase_customer
    from feedbot.store.models import TurnClock

    phone = await answered(client, "price")
    other = await answered(client, "price")
    await post(client, theme="price")
    await send_round(client)
    assert len(twilio.to(phone)) == 1
    engine = sync_engine(client.app[SETTINGS].database_url)
    erased = erase_customer(engine, customer_ref=phone, kind="phone", by="test", at=T0, key="k")
    engine.dispose()
    assert erased.surveys == 1
    assert [n.customer_ref for n in rows(client, ImprovementNotice)] == [other]
    assert [c.subject for c in rows(client, TurnClock)] == [f"sms:{other}"]
    assert not [m for m in rows(client, Message) if m.peer == phone]
