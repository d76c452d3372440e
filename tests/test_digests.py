"""Owners' digests: what they say (checked against counts made here from the
seeded answers), when they go (08:00 in the owner's time zone, weekly on
Mondays), once per owner and period across instances (PostgreSQL), and the
`feedbot digest` commands. E-mail goes to a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy import select
from sqlalchemy.orm import Session

from analytics.digest import build_digest, period_before, render_digest
from analytics.improvements import binomial_upper_tail, emerging_themes, wilson
from analytics.query import Scope
from bot.app import create_app
from bot.keys import CLOCK, HANDOFFS, SETTINGS, STORE, SURVEY_CONFIG
from bot.owner_news import OWNER_NEWS
from feedbot.owners import DigestEvery
from feedbot.settings import PROJECT_ROOT, Settings
from feedbot.store.database import sync_engine
from feedbot.store.migrate import upgrade
from feedbot.store.models import OwnerMessage, SurveyState
from feedbot.store.surveys import NewSurvey, ReasonTags, ThemeTag
from feedbot.theme_labels import theme_labels
from tests.databases import fresh_database
from tests.helpers.clock import Clock
from tests.helpers.mail import Inbox, body, smtp_server

LEEDS = "leeds@example.com"
NEW_YORK = "ny@example.com"
DAILY = "daily@example.com"
# Monday 30 November 2026, 07:59 in London (UTC in winter).
MONDAY_0759 = datetime(2026, 11, 30, 7, 59, tzinfo=UTC)


def owners_file(tmp_path: Path) -> Path:
    config = yaml.safe_load((PROJECT_ROOT / "touchpoints.yml").read_text())
    config["owners"] = [
        {"name": "Leeds", "email": LEEDS, "locations": ["leeds"], "alerts": "none"},
        {
            "name": "New York",
            "email": NEW_YORK,
            "locations": ["nyc"],
            "time_zone": "America/New_York",
            "alerts": "none",
        },
        {"name": "Daily", "email": DAILY, "digest": "daily", "alerts": "none"},
    ]
    path = tmp_path / "touchpoints.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def settings_for(tmp_path: Path, port: int, url: str | None = None) -> Settings:
    url = url or f"sqlite:///{tmp_path / 'digests.db'}"
    upgrade(url)
    return Settings(
        database_url=url,
        touchpoints_file=owners_file(tmp_path),
        public_base_url="https://feedback.example.com",
        smtp_url=f"smtp://127.0.0.1:{port}",
        mail_from="feedbot@example.com",
    )


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    with smtp_server() as running:
        yield running


@pytest.fixture
async def app(tmp_path: Path, smtp: tuple[Inbox, int]) -> AsyncIterator[web.Application]:
    application = create_app(
        settings_for(tmp_path, smtp[1]), Clock(MONDAY_0759), run_scheduler=False
    )
    server = TestServer(application)
    await server.start_server()
    yield application
    await server.close()


def clock_of(app: web.Application) -> Clock:
    clock = app[CLOCK]
    assert isinstance(clock, Clock)
    return clock


async def answer(
    app: web.Application,
    when: datetime,
    score: int,
    reason: str | None,
    themes: dict[str, str] | None = None,
    location: str = "leeds",
) -> str:
    store = app[STORE]
    survey = await store.create_survey(NewSurvey("sms", "store_visit", location=location), when)
    await store.record_score(survey.id, score, when)
    if reason is not None:
        themes = themes or {}
        tags = ReasonTags(list(themes), "neutral", {t: ThemeTag(s, [t]) for t, s in themes.items()})
        await store.record_reason(survey.id, reason, when, tags)
    await store.finish(survey.id, SurveyState.COMPLETED, when)
    return survey.id


def sent(app: web.Application) -> list[OwnerMessage]:
    engine = sync_engine(app[SETTINGS].database_url)
    with Session(engine) as session:
        found = list(session.scalars(select(OwnerMessage).order_by(OwnerMessage.id)))
    engine.dispose()
    return found


async def test_the_weekly_digest_says_what_happened_in_the_owners_scope(
    app: web.Application,
) -> None:
    last_week = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)  # Tuesday of the week before
    week_before = last_week - timedelta(days=7)
    # Last week at Leeds: 3 promoters, 1 passive, 2 detractors who speak of waiting.
    for score in (10, 9, 9, 7):
        await answer(app, last_week, score, "lovely staff", {"staff": "positive"})
    await answer(app, last_week, 2, "Waited 40 min, call 07700 900123", {"wait_time": "negative"})
    await answer(app, last_week + timedelta(hours=1), 5, "slow queue", {"wait_time": "negative"})
    # The week before: 1 promoter, 1 detractor about the staff.
    await answer(app, week_before, 9, "good", {"staff": "positive"})
    await answer(app, week_before, 3, "rude staff", {"staff": "negative"})
    # Elsewhere: not in Leeds' digest.
    await answer(app, last_week, 0, "Bristol was awful", {"facilities": "negative"}, "bristol")
    survey_id = await answer(app, last_week, 1, "never again")
    await app[HANDOFFS].open(
        survey_id, "asked_for_person", None, 2, MONDAY_0759 - timedelta(hours=2)
    )

    config = app[SURVEY_CONFIG]
    owner = config.owner(LEEDS)
    assert owner is not None
    period = period_before(DigestEvery.WEEKLY, date(2026, 11, 30))
    assert (period.since, period.until) == (date(2026, 11, 23), date(2026, 11, 29))
    engine = sync_engine(app[SETTINGS].database_url)
    with engine.connect() as conn:
        digest = build_digest(conn, owner, config, period, MONDAY_0759)
    engine.dispose()
    # 7 answers: 3 promoters, 3 detractors (2, 5 and the 1 handed over) → 0.
    assert digest["nps"]["responses"] == 7 and digest["nps"]["nps"] == pytest.approx(0)
    assert digest["nps"]["meaningful"] is False  # under the 30 the report needs
    assert digest["previous_nps"]["nps"] == pytest.approx(0)  # 1 promoter, 1 detractor
    moved = {t["theme"]: t for t in digest["moved_themes"]}
    assert moved["wait_time"]["share_now"] == pytest.approx(2 / 3)
    assert moved["wait_time"]["share_before"] == 0 and moved["wait_time"]["negative"] == 2
    assert moved["staff"]["share_before"] == 1.0 and moved["staff"]["share_now"] == 0
    texts = [v["text"] for v in digest["verbatims"]]
    assert len(texts) == 3 and "Bristol was awful" not in texts
    assert "Waited 40 min, call [hidden]" in texts  # detractors first, contacts masked
    assert digest["handoffs"] == {"open": 1, "overdue": 1}
    # Owners read themes by their labels (themes.yml), not their ids.
    _, text, html = render_digest(digest, "https://x", theme_labels(PROJECT_ROOT / "themes.yml"))
    assert "Wait time: " in text and "<strong>Wait time</strong>" in html
    assert "wait_time" not in text and "wait_time" not in html


async def test_digests_go_at_eight_local_once_weekly_on_mondays_daily_every_day(
    app: web.Application, smtp: tuple[Inbox, int]
) -> None:
    inbox, _ = smtp
    await answer(app, datetime(2026, 11, 24, 12, 0, tzinfo=UTC), 9, "great", {"staff": "positive"})
    news, clock = app[OWNER_NEWS], clock_of(app)
    await news.round()
    assert inbox.messages == []  # 07:59 in London
    clock.now = MONDAY_0759 + timedelta(minutes=1)
    await news.round()
    await news.round()
    leeds = await asyncio.to_thread(inbox.wait_for, LEEDS)
    daily = await asyncio.to_thread(inbox.wait_for, DAILY)
    assert leeds[0]["Subject"] == "Weekly feedback for leeds: 23 Nov – 29 Nov 2026"
    assert daily[0]["Subject"].strip() == (
        "Daily feedback for all touchpoints and locations: Sun 29 Nov 2026"
    )
    assert "Net Promoter Score" in body(leeds[0]) and "<h2" in body(leeds[0], "html")
    assert inbox.to(NEW_YORK) == []  # 03:00 in New York
    clock.now = datetime(2026, 11, 30, 13, 0, tzinfo=UTC)  # 08:00 in New York
    await news.round()
    await asyncio.to_thread(inbox.wait_for, NEW_YORK)
    clock.now = datetime(2026, 12, 1, 8, 30, tzinfo=UTC)  # Tuesday
    await news.round()
    await asyncio.to_thread(inbox.wait_for, DAILY, 2)
    await asyncio.sleep(0.3)
    assert len(inbox.to(LEEDS)) == 1 and len(inbox.to(NEW_YORK)) == 1
    assert len(inbox.to(DAILY)) == 2


async def test_instances_send_each_digest_once(tmp_path: Path, smtp: tuple[Inbox, int]) -> None:
    """On PostgreSQL, as several instances run."""
    inbox, port = smtp
    with fresh_database("postgresql", tmp_path) as url:
        settings = settings_for(tmp_path, port, url)
        clock = Clock(MONDAY_0759 + timedelta(minutes=5))
        apps = [create_app(settings, clock, run_scheduler=False) for _ in range(3)]
        servers = [TestServer(a) for a in apps]
        for server in servers:
            await server.start_server()
        try:
            await asyncio.gather(*(a[OWNER_NEWS].round() for a in apps for _ in range(2)))
            await asyncio.to_thread(inbox.wait_for, LEEDS)
            await asyncio.to_thread(inbox.wait_for, DAILY)
            await asyncio.sleep(0.5)
            assert len(inbox.to(LEEDS)) == 1 and len(inbox.to(DAILY)) == 1
        finally:
            for server in servers:
                await server.close()


def feedbot(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "commands.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        cwd=PROJECT_ROOT,
        timeout=120,
        check=False,
    )


def test_digest_preview_and_send_from_the_command_line(
    tmp_path: Path, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    settings = settings_for(tmp_path, port)
    env = {
        "DATABASE_URL": settings.database_url,
        "FEEDBOT_TOUCHPOINTS": str(settings.touchpoints_file),
        "SMTP_URL": settings.smtp_url or "",
        "FEEDBOT_MAIL_FROM": "feedbot@example.com",
    }
    shown = feedbot(env, "digest", "preview", "--owner", LEEDS, "--period", "daily")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("Subject: Daily feedback for leeds")
    assert "not yet meaningful: 0 of the 30 answers needed" in shown.stdout
    page = feedbot(env, "digest", "preview", "--owner", LEEDS, "--html")
    assert page.returncode == 0 and page.stdout.startswith("<!doctype html>")
    unknown = feedbot(env, "digest", "preview", "--owner", "nobody@example.com")
    assert unknown.returncode == 2 and "not an owner" in unknown.stderr
    done = feedbot(env, "digest", "send", "--owner", LEEDS)
    assert done.returncode == 0, done.stderr
    (mail,) = inbox.wait_for(LEEDS)
    assert mail["Subject"].startswith("Weekly feedback for leeds")
    no_mail = feedbot({**env, "SMTP_URL": ""}, "digest", "send", "--owner", LEEDS)
    assert no_mail.returncode == 2 and "SMTP_URL is not set" in no_mail.stderr


def test_the_statistics_behind_effects_and_emerging_themes() -> None:
    # Wilson's interval for 0 of 10 and 5 of 10 (known values).
    low, high = wilson(0, 10) or (None, None)
    assert low == 0 and high == pytest.approx(0.2775, abs=1e-4)
    low, high = wilson(5, 10) or (None, None)
    assert (low, high) == (pytest.approx(0.2366, abs=1e-4), pytest.approx(0.7634, abs=1e-4))
    # P(X ≥ 3) for Binomial(10, 0.1) = 1 − P(0) − P(1) − P(2) = 0.0702.
    assert binomial_upper_tail(3, 10, 0.1) == pytest.approx(0.0701908, abs=1e-6)
    assert binomial_upper_tail(0, 10, 0.3) == 1.0 and binomial_upper_tail(11, 10, 0.3) == 0.0
    # Large n stays finite and exact enough: P(X ≥ 600) for Bin(1000, 0.5).
    assert binomial_upper_tail(600, 1000, 0.5) == pytest.approx(1.364e-10, rel=1e-2)


async def test_a_theme_far_above_its_eight_weeks_is_emerging(app: web.Application) -> None:
    week = date(2026, 11, 23)
    # 8 weeks before: 80 reasons, 4 about waiting (5%).
    for n in range(80):
        when = datetime.combine(week - timedelta(days=1 + n % 56), datetime.min.time(), UTC)
        themes = {"wait_time": "negative"} if n < 4 else {"staff": "positive"}
        await answer(app, when, 8, "x", themes)
    # This week: 20 reasons, 8 about waiting (40%); staff as usual.
    for n in range(20):
        when = datetime.combine(week, datetime.min.time(), UTC) + timedelta(hours=n)
        themes = {"wait_time": "negative"} if n < 8 else {"staff": "positive"}
        await answer(app, when, 4, "x", themes)
    engine = sync_engine(app[SETTINGS].database_url)
    with engine.connect() as conn:
        found = emerging_themes(conn, Scope(location="leeds"), week)
        elsewhere = emerging_themes(conn, Scope(location="bristol"), week)
    engine.dispose()
    assert [e["theme"] for e in found] == ["wait_time"]
    assert found[0]["mentions"] == 8 and found[0]["trailing_share"] == pytest.approx(0.05)
    assert found[0]["p_value"] < 0.01 and elsewhere == []


async def test_an_emerging_theme_is_also_an_alert_once_a_week(
    tmp_path: Path, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    settings = settings_for(tmp_path, port)
    config = yaml.safe_load(settings.touchpoints_file.read_text())
    config["owners"] = [
        {"name": "Leeds", "email": LEEDS, "locations": ["leeds"], "digest": "none"},
        {"name": "Quiet", "email": "quiet@example.com", "alerts": "none", "digest": "none"},
    ]
    settings.touchpoints_file.write_text(yaml.safe_dump(config))
    clock = Clock(datetime(2026, 11, 30, 9, 0, tzinfo=UTC))
    application = create_app(settings, clock, run_scheduler=False)
    server = TestServer(application)
    await server.start_server()
    try:
        week = date(2026, 11, 23)
        for n in range(60):  # the 8 weeks before: waiting in 3 of 60
            when = datetime.combine(week - timedelta(days=1 + n % 56), datetime.min.time(), UTC)
            await answer(application, when, 8, "x", {"wait_time" if n < 3 else "staff": "neutral"})
        for n in range(12):  # last week: waiting in 7 of 12
            when = datetime.combine(week, datetime.min.time(), UTC) + timedelta(hours=n)
            # (passives: detractors would bring alerts of their own)
            await answer(application, when, 7, "x", {"wait_time" if n < 7 else "staff": "negative"})
        await application[OWNER_NEWS].round()
        await application[OWNER_NEWS].round()
        mails = await asyncio.to_thread(inbox.wait_for, LEEDS)
        assert [m["Subject"].strip() for m in mails] == ["Emerging in leeds: wait_time"]
        mail = mails[0]
        assert "7 of 12 reasons in the week from 23 Nov" in body(mail)
        clock.now += timedelta(hours=3)
        await application[OWNER_NEWS].round()
        await asyncio.sleep(0.3)
        assert len(inbox.to(LEEDS)) == 1 and inbox.to("quiet@example.com") == []
    finally:
        await server.close()
