"""Owners' alerts: a detractor's answer reaches the owners of its touchpoint
or location by e-mail (a real SMTP server, aiosmtpd) and Slack (a local
webhook receiver), at most one message per owner per 5 minutes, retried when
a send fails, once across app instances."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.app import create_app
from bot.keys import CLOCK, HANDOFFS, SETTINGS, STORE
from bot.owner_news import OWNER_NEWS
from feedbot.settings import PROJECT_ROOT, Settings
from feedbot.store.database import sync_engine
from feedbot.store.migrate import upgrade
from feedbot.store.models import OwnerMessage, SurveyState
from feedbot.store.surveys import NewSurvey, ReasonTags, ThemeTag
from feedbot.touchpoints import TouchpointConfigError, load_survey_config
from tests.databases import fresh_database
from tests.helpers.clock import Clock
from tests.helpers.mail import Inbox, SlackReceiver, body, free_port, slack_receiver, smtp_server

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
LEEDS = "leeds.manager@example.com"
SUPPORT = "support.lead@example.com"
QUIET = "quiet@example.com"


def owners_file(tmp_path: Path, slack_url: str) -> Path:
    config = yaml.safe_load((PROJECT_ROOT / "touchpoints.yml").read_text())
    config["owners"] = [
        {
            "name": "Leeds store manager",
            "email": LEEDS,
            "locations": ["store-12"],
            "slack_webhook_url": slack_url,
            "digest": "none",  # T0 is a Monday after 08:00: digests are tested elsewhere
        },
        {
            "name": "Support lead",
            "email": SUPPORT,
            "touchpoints": ["support"],
            "alerts": "severe",
            "digest": "none",
        },
        {"name": "Nobody", "email": QUIET, "alerts": "none", "digest": "none"},
    ]
    path = tmp_path / "touchpoints.yml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    with smtp_server() as running:
        yield running


@pytest.fixture
async def slack() -> AsyncIterator[tuple[SlackReceiver, str]]:
    receiver, server = await slack_receiver()
    yield receiver, str(server.make_url("/services/T0/B0/x"))
    await server.close()


def settings_for(
    tmp_path: Path, slack_url: str, smtp_port: int, database_url: str | None = None
) -> Settings:
    url = database_url or f"sqlite:///{tmp_path / 'owners.db'}"
    upgrade(url)
    return Settings(
        database_url=url,
        touchpoints_file=owners_file(tmp_path, slack_url),
        public_base_url="https://feedback.example.com",
        smtp_url=f"smtp://127.0.0.1:{smtp_port}",
        mail_from="Feedbot <feedbot@example.com>",
    )


@pytest.fixture
async def app(
    tmp_path: Path, smtp: tuple[Inbox, int], slack: tuple[SlackReceiver, str]
) -> AsyncIterator[web.Application]:
    clock = Clock(T0)
    application = create_app(settings_for(tmp_path, slack[1], smtp[1]), clock, run_scheduler=False)
    server = TestServer(application)
    await server.start_server()
    yield application
    await server.close()


async def detractor(
    app: web.Application,
    touchpoint: str,
    location: str | None,
    score: int,
    reason: str,
    themes: dict[str, str],
    end: bool = True,
) -> str:
    store, now = app[STORE], app[CLOCK]()
    survey = await store.create_survey(NewSurvey("sms", touchpoint, location=location), now)
    await store.record_score(survey.id, score, now)
    tags = ReasonTags(list(themes), "negative", {t: ThemeTag(s, [t]) for t, s in themes.items()})
    await store.record_reason(survey.id, reason, now, tags)
    if end:
        await store.finish(survey.id, SurveyState.COMPLETED, now)
    return survey.id


async def a_round(app: web.Application) -> None:
    await app[OWNER_NEWS].round()


def outbox(app: web.Application) -> list[OwnerMessage]:
    engine = sync_engine(_url(app))
    with Session(engine) as session:
        rows = list(session.scalars(select(OwnerMessage).order_by(OwnerMessage.id)))
    engine.dispose()
    return rows


def _url(app: web.Application) -> str:
    return app[SETTINGS].database_url


async def test_a_detractor_reaches_the_owners_of_its_location_by_email_and_slack(
    app: web.Application, smtp: tuple[Inbox, int], slack: tuple[SlackReceiver, str]
) -> None:
    inbox, _ = smtp
    survey_id = await detractor(
        app,
        "delivery",
        "store-12",
        5,
        "The driver was rude. Call me on 07700 900123 or jo@example.com",
        {"staff": "negative", "delivery": "negative"},
    )
    await a_round(app)

    (mail,) = await asyncio.to_thread(inbox.wait_for, LEEDS)
    assert mail["Subject"] == "Detractor at store-12: 5/10 on Delivery"
    assert mail["From"] == "Feedbot <feedbot@example.com>"
    text, html = body(mail), body(mail, "html")
    for part in (text, html):
        assert "Delivery at store-12" in part
        assert "5/10" in part
        assert "The driver was rude." in part
        assert "07700" not in part and "jo@example.com" not in part  # contacts masked
        # Themes by their labels in themes.yml, each with its sentiment.
        assert "Delivery (negative)" in part and "Staff (negative)" in part
        assert "not offered or asked for" in part
        assert f"https://feedback.example.com/dashboard/surveys/{survey_id}" in part
    (posted,) = slack[0].posted
    assert "*Delivery at store-12*" in posted["text"] and "07700" not in posted["text"]
    assert inbox.to(SUPPORT) == [] and inbox.to(QUIET) == []  # not theirs, or asked for none
    assert {m.status for m in outbox(app)} == {"sent"}


async def test_alerts_inside_five_minutes_wait_and_come_together(
    app: web.Application, smtp: tuple[Inbox, int]
) -> None:
    inbox, _ = smtp
    clock = app[CLOCK]
    assert isinstance(clock, Clock)
    await detractor(app, "delivery", "store-12", 4, "Late again", {"delivery": "negative"})
    await a_round(app)
    await asyncio.to_thread(inbox.wait_for, LEEDS)

    clock.now += timedelta(minutes=1)
    await detractor(app, "checkout", "store-12", 3, "Card refused twice", {"ease": "negative"})
    clock.now += timedelta(minutes=2)
    await detractor(app, "delivery", "store-12", 6, "Box was crushed", {"product": "negative"})
    await a_round(app)
    await asyncio.sleep(0.3)
    assert len(inbox.to(LEEDS)) == 1, "a second message inside the 5 minutes"

    clock.now = T0 + timedelta(minutes=5)
    await a_round(app)
    _, second = await asyncio.to_thread(inbox.wait_for, LEEDS, 2)
    assert second["Subject"] == "2 detractors: Delivery, Online checkout"
    assert "Card refused twice" in body(second) and "Box was crushed" in body(second)
    assert "Late again" not in body(second)  # told once, in the first


async def test_an_owner_of_severe_answers_hears_only_of_those(
    app: web.Application, smtp: tuple[Inbox, int]
) -> None:
    inbox, _ = smtp
    await detractor(app, "support", None, 5, "Took a while", {"wait_time": "negative"})
    await detractor(app, "support", None, 6, "I want a refund", {"resolution": "negative"})
    await detractor(app, "support", None, 2, "Useless", {"resolution": "negative"})
    await a_round(app)
    (mail,) = await asyncio.to_thread(inbox.wait_for, SUPPORT)
    assert mail["Subject"] == "2 detractors: Support"
    assert "I want a refund" in body(mail) and "Useless" in body(mail)
    assert "Took a while" not in body(mail)


async def test_a_person_offered_and_the_hand_off_link_are_in_the_alert(
    app: web.Application, smtp: tuple[Inbox, int]
) -> None:
    inbox, _ = smtp
    survey_id = await detractor(app, "delivery", "store-12", 1, "Never came", {})
    handoff = await app[HANDOFFS].offer(survey_id, "score 1 (at most 3)", app[CLOCK]())
    assert handoff is not None
    await a_round(app)
    (mail,) = await asyncio.to_thread(inbox.wait_for, LEEDS)
    assert "offered a person (no answer yet)" in body(mail)
    assert f"https://feedback.example.com/agent#handoff={handoff.id}" in body(mail)
    assert "Themes: none" in body(mail)


async def test_a_survey_that_ends_by_expiry_alerts_a_passive_does_not(
    app: web.Application, smtp: tuple[Inbox, int]
) -> None:
    inbox, _ = smtp
    store, clock = app[STORE], app[CLOCK]
    assert isinstance(clock, Clock)
    quiet_one = await detractor(app, "delivery", "store-12", 2, "x", {}, end=False)
    passive = await detractor(app, "delivery", "store-12", 8, "fine", {}, end=False)
    for survey_id in (quiet_one, passive):
        await store.mark_sent(survey_id, clock.now)
    await a_round(app)
    assert inbox.to(LEEDS) == []  # still in conversation: not complete yet
    await store.expire(sent_before=clock.now + timedelta(seconds=1), at=clock.now)
    await a_round(app)
    (mail,) = await asyncio.to_thread(inbox.wait_for, LEEDS)
    assert mail["Subject"] == "Detractor at store-12: 2/10 on Delivery"


async def test_a_failed_send_is_retried_and_never_lost(
    tmp_path: Path, slack: tuple[SlackReceiver, str]
) -> None:
    port = free_port()  # nothing listens here yet
    clock = Clock(T0)
    application = create_app(settings_for(tmp_path, slack[1], port), clock, run_scheduler=False)
    server = TestServer(application)
    await server.start_server()
    slack[0].fail_next = 1
    try:
        await detractor(application, "delivery", "store-12", 3, "Lost parcel", {})
        await a_round(application)
        mail, chat = outbox(application)
        assert (mail.status, chat.status) == ("pending", "pending")
        assert mail.attempts == 1 and "Connect" in (mail.last_error or "")
        assert chat.last_error and "HTTP 500" in chat.last_error
        with smtp_server(port) as (inbox, _):
            clock.now += timedelta(seconds=4)
            await a_round(application)  # not due yet
            assert inbox.to(LEEDS) == []
            clock.now += timedelta(seconds=2)
            await a_round(application)
            (received,) = await asyncio.to_thread(inbox.wait_for, LEEDS)
            assert "Lost parcel" in body(received)
        assert [m.status for m in outbox(application)] == ["sent", "sent"]
        assert len(slack[0].posted) == 1
    finally:
        await server.close()


async def test_two_instances_send_each_alert_once(
    tmp_path: Path, smtp: tuple[Inbox, int], slack: tuple[SlackReceiver, str]
) -> None:
    """On PostgreSQL: several instances are refused on SQLite."""
    with fresh_database("postgresql", tmp_path) as url:
        await _two_instances(tmp_path, smtp, slack, url)


async def _two_instances(
    tmp_path: Path, smtp: tuple[Inbox, int], slack: tuple[SlackReceiver, str], url: str
) -> None:
    inbox, port = smtp
    settings = settings_for(tmp_path, slack[1], port, url)
    clock = Clock(T0)
    apps = [create_app(settings, clock, run_scheduler=False) for _ in range(2)]
    servers = [TestServer(a) for a in apps]
    for server in servers:
        await server.start_server()
    try:
        for n in range(5):
            await detractor(apps[0], "delivery", "store-12", n, f"answer {n}", {})
        await asyncio.gather(*(a_round(a) for a in apps for _ in range(3)))
        (mail,) = await asyncio.to_thread(inbox.wait_for, LEEDS)
        await asyncio.sleep(0.5)
        assert len(inbox.to(LEEDS)) == 1
        assert all(f"answer {n}" in body(mail) for n in range(5))
        assert len(slack[0].posted) == 1
    finally:
        for server in servers:
            await server.close()


def test_owners_are_checked_with_their_place(tmp_path: Path) -> None:
    config = yaml.safe_load((PROJECT_ROOT / "touchpoints.yml").read_text())
    path = tmp_path / "touchpoints.yml"

    def refused(owners: list[dict[str, Any]]) -> str:
        config["owners"] = owners
        path.write_text(yaml.safe_dump(config))
        with pytest.raises(TouchpointConfigError) as caught:
            load_survey_config(path)
        return str(caught.value)

    assert "owners.0.touchpoints: 'deliveries' is not a touchpoint" in refused(
        [{"name": "A", "email": "a@example.com", "touchpoints": ["deliveries"]}]
    )
    assert "owners.1: a@example.com is listed twice" in refused(
        [{"name": "A", "email": "a@example.com"}, {"name": "B", "email": "A@example.com"}]
    )
    assert "owners.0.alerts" in refused([{"name": "A", "email": "a@example.com", "alerts": "all"}])
    assert "owners.0.digest" in refused(
        [{"name": "A", "email": "a@example.com", "digest": "monthly"}]
    )
    assert "unknown time zone 'Europe/Leeds'" in refused(
        [{"name": "A", "email": "a@example.com", "time_zone": "Europe/Leeds"}]
    )
    assert "owners.0.email" in refused([{"name": "A", "email": "not an address"}])
    config["locations"] = [{"id": "store-12", "name": "Store 12, Leeds"}]
    assert "owners.0.locations: 'store-99' is not a listed location" in refused(
        [{"name": "A", "email": "a@example.com", "locations": ["store-99"]}]
    )
    config["owners"] = [{"name": "A", "email": "a@example.com"}]
    path.write_text(yaml.safe_dump(config))
    owner = load_survey_config(path).owners[0]
    assert (owner.alerts, owner.digest, owner.time_zone) == ("detractors", "weekly", None)
    assert load_survey_config(path).owner_zone(owner) == "Europe/London"
