"""The analysts' dashboard in headless Chromium (Debian's package, driven by
Playwright) on a seeded demo store: log in, check that every figure shown is
the report's, filter, open a transcript. Screenshots land in test-output/."""

from __future__ import annotations

import asyncio
import hashlib
import re
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import web
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from analytics.demo import write_demo_data
from analytics.query import Dimension, Scope
from analytics.report import build_report
from bot.app import create_app
from feedbot.handoff_rules import HandoffReason
from feedbot.settings import PROJECT_ROOT, Settings
from feedbot.store.database import sync_engine
from feedbot.store.migrate import upgrade
from feedbot.store.models import Handoff, HandoffState, Response, Survey
from feedbot.understanding.reader import Understanding
from tests.conftest import SCREENSHOTS
from tests.helpers.a11y import assert_accessible
from tests.system import free_port

pytestmark = pytest.mark.browser
ANALYST = "browser-analyst-token"
ADMIN = "browser-admin-token"
AGENT = "browser-agent-token"
CHART_JS = PROJECT_ROOT / "bot/static/vendor/chartjs/chart.umd.min.js"


@pytest.fixture(scope="module")
def dashboard_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Settings]]:
    """The app with a seeded demo store, served on a real port from a thread."""
    url = f"sqlite:///{tmp_path_factory.mktemp('dashboard') / 'demo.db'}"
    upgrade(url)
    engine = sync_engine(url)
    understanding = Understanding.from_taxonomy(PROJECT_ROOT / "themes.yml")
    write_demo_data(engine, understanding, 2500, seed=21)
    engine.dispose()
    port = free_port()
    settings = Settings(
        database_url=url,
        port=port,
        public_base_url=f"http://127.0.0.1:{port}",
        analyst_token=ANALYST,
        admin_token=ADMIN,
        agent_token=AGENT,
    )
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(create_app(settings, run_scheduler=False))
    ready = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(15)
    yield settings.public_base_url, settings
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(15)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on(
        "request",
        lambda r: (
            None if r.url.startswith(("http://127.0.0.1", "data:")) else problems.append(r.url)
        ),
    )
    yield page
    context.close()
    assert problems == [], f"errors or off-site requests: {problems}"


def report(settings: Settings, scope: Scope) -> dict:
    engine = sync_engine(settings.database_url)
    with engine.connect() as conn:
        found = build_report(conn, scope, (Dimension.TOUCHPOINT,))
    engine.dispose()
    return found


def signed(value: float) -> str:
    return f"{value:+.0f}"


def log_in(page: Page, base: str, token: str = ANALYST, then: str = "/dashboard") -> None:
    page.goto(f"{base}{then}")
    expect(page).to_have_url(f"{base}/login?next={then}")
    page.get_by_text("Log in with a role token instead").click()
    page.get_by_test_id("login-token").fill(token)
    page.get_by_test_id("login-submit").click()
    expect(page).to_have_url(f"{base}{then}")
    if then == "/dashboard":
        expect(page.locator("body")).to_have_attribute("data-charts-ready", "true")


def test_the_dashboard_shows_the_reports_figures(
    page: Page, dashboard_url: tuple[str, Settings]
) -> None:
    base, settings = dashboard_url
    log_in(page, base)
    expected = report(settings, Scope())
    overall = expected["overall"]
    expect(page.get_by_test_id("overall-nps")).to_have_text(signed(overall["nps"]))
    expect(page.get_by_test_id("overall-responses")).to_have_text(str(overall["responses"]))
    expect(page.get_by_test_id("overall-response-rate")).to_have_text(
        f"{overall['response_rate'] * 100:.0f}%"
    )
    rows = page.get_by_test_id("nps-row")
    expect(rows).to_have_count(len(expected["groups"]))
    for group in expected["groups"]:
        row = page.locator(f"[data-testid=nps-row][data-touchpoint={group['touchpoint']}]")
        expect(row.get_by_test_id("responses")).to_have_text(str(group["responses"]))
        expect(row.get_by_test_id("nps")).to_have_text(signed(group["nps"]))
        expect(row.get_by_test_id("ci")).to_have_text(
            f"{signed(group['nps_low'])} … {signed(group['nps_high'])}"
        )
    drivers = page.get_by_test_id("driver-row")
    expect(drivers).to_have_count(len(expected["drivers"]))
    expect(drivers.first).to_have_attribute("data-theme", expected["drivers"][0]["theme"])
    expect(drivers.first.get_by_test_id("impact")).to_have_text(
        f"{expected['drivers'][0]['impact']:+.1f}"
    )
    expect(page.get_by_test_id("exit-row")).to_have_count(min(10, len(expected["exit_points"])))
    handoffs = expected["handoffs"]
    assert handoffs["handed_off"] > 0  # the demo store has some
    expect(page.get_by_test_id("handoffs-total")).to_have_text(str(handoffs["handed_off"]))
    expect(page.get_by_test_id("handoffs-open")).to_have_text(str(handoffs["open"]))
    expect(page.get_by_test_id("handoffs-first-reply")).to_have_text(
        f"{handoffs['median_minutes_to_first_reply']:.0f} min"
    )
    expect(page.get_by_test_id("handoffs-resolution")).to_have_text(
        f"{handoffs['median_minutes_to_resolution'] / 60:.1f} h"
    )
    recovery = handoffs["recovery"]
    expect(page.get_by_test_id("handoffs-recovery")).to_have_text(
        f"{recovery['yes']} yes · {recovery['no']} no"
    )
    # Three charts drawn (canvas with pixels), by the library served from this app.
    for chart in ("chart-nps", "chart-trend", "chart-drivers"):
        width = page.locator(f"#{chart}").evaluate("c => c.width")
        assert width > 100, chart
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "dashboard.png"), full_page=True)


def test_filters_narrow_every_figure(page: Page, dashboard_url: tuple[str, Settings]) -> None:
    base, settings = dashboard_url
    log_in(page, base)
    page.get_by_test_id("filter-touchpoint").select_option("store_visit")
    page.get_by_test_id("filter-apply").click()
    expect(page).to_have_url(
        f"{base}/dashboard?since=&until=&touchpoint=store_visit&location=&language=&interval=week"
    )
    expected = report(settings, Scope(touchpoint="store_visit"))
    expect(page.get_by_test_id("nps-row")).to_have_count(1)
    expect(page.get_by_test_id("overall-nps")).to_have_text(signed(expected["overall"]["nps"]))
    page.get_by_test_id("filter-location").select_option("leeds")
    page.get_by_test_id("filter-apply").click()
    leeds = report(settings, Scope(touchpoint="store_visit", location="leeds"))
    expect(page.get_by_test_id("overall-nps")).to_have_text(signed(leeds["overall"]["nps"]))
    expect(page.get_by_test_id("overall-responses")).to_have_text(
        str(leeds["overall"]["responses"])
    )
    page.screenshot(path=str(SCREENSHOTS / "dashboard-leeds.png"), full_page=True)
    # By language: the demo store's surveys have no locale, so they are English.
    page.get_by_test_id("filter-language").select_option("es")
    page.get_by_test_id("filter-apply").click()
    expect(page.get_by_test_id("no-answers")).to_be_visible()
    page.get_by_test_id("filter-language").select_option("en")
    page.get_by_test_id("filter-apply").click()
    expect(page.get_by_test_id("overall-responses")).to_have_text(
        str(leeds["overall"]["responses"])
    )


def test_a_detractor_links_to_the_transcript(
    page: Page, dashboard_url: tuple[str, Settings]
) -> None:
    base, _ = dashboard_url
    log_in(page, base)
    first = page.get_by_test_id("detractor-row").first
    reason = first.get_by_test_id("transcript-link").inner_text()
    score = first.locator("td").nth(3).inner_text()
    first.get_by_test_id("transcript-link").click()
    expect(page.get_by_test_id("survey-score")).to_contain_text(score)
    expect(page.get_by_test_id("transcript")).to_contain_text(reason)


def test_the_chart_library_is_the_vendored_release() -> None:
    """Served locally; this is the unmodified file the README in its folder names."""
    digest = hashlib.sha256(Path(CHART_JS).read_bytes()).hexdigest()
    assert digest == "87364cc2b2a76a6684929e7d6b80b18a897794db38400caff1fcf1791c6925d2"


@pytest.mark.parametrize("width", [1366, 390])
def test_every_analyst_page_has_no_accessibility_violation(
    browser: Browser, dashboard_url: tuple[str, Settings], width: int
) -> None:
    """axe-core on the login page, the dashboard (filtered too), a transcript,
    the improvements page and the digest preview, on a laptop and a phone."""
    base, _ = dashboard_url
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.goto(f"{base}/login")
    assert_accessible(page, f"login-{width}")
    log_in(page, base, ADMIN)
    assert_accessible(page, f"dashboard-{width}")
    # The page never scrolls sideways; on a laptop no table hides a column
    # (on a phone a wide table scrolls inside its own focusable region).
    sideways = page.evaluate(
        """[...document.querySelectorAll('body *')].filter(e =>
             e.getBoundingClientRect().right > window.innerWidth + 1
             && !e.closest('.table-scroll')).map(e => e.tagName + '.' + e.className).slice(0, 8)"""
    )
    assert sideways == [], f"wider than the screen at {width} px: {sideways}"
    if width >= 1366:
        hidden = page.evaluate(
            """[...document.querySelectorAll('table')].filter(
                 t => t.parentElement.scrollWidth > t.parentElement.clientWidth + 1
                   || t.getBoundingClientRect().right > window.innerWidth
               ).map(t => t.dataset.testid)"""
        )
        assert hidden == [], f"tables wider than their place at {width} px: {hidden}"
    page.screenshot(path=str(SCREENSHOTS / f"dashboard-{width}.png"), full_page=True)
    page.goto(f"{base}/dashboard?touchpoint=delivery&days=30")
    expect(page.locator("body")).to_have_attribute("data-charts-ready", "true")
    assert_accessible(page, f"dashboard-filtered-{width}")
    page.get_by_test_id("detractor-row").first.get_by_test_id("transcript-link").click()
    expect(page.get_by_test_id("transcript")).to_be_visible()
    assert_accessible(page, f"transcript-{width}")
    page.goto(f"{base}/dashboard/improvements")
    assert_accessible(page, f"improvements-{width}")
    page.goto(f"{base}/dashboard/digest")
    assert_accessible(page, f"digest-{width}")
    context.close()


def waiting_handoff(settings: Settings) -> str:
    """A severe detractor from the demo store waiting for a person now (the
    demo's own hand-offs are all answered)."""
    engine = sync_engine(settings.database_url)
    with Session(engine) as session:
        survey_id = session.scalars(
            select(Survey.id)
            .join(Response, Response.survey_id == Survey.id)
            .where(Response.score <= 2)
            .where(~Survey.id.in_(select(Handoff.survey_id)))
            .limit(1)
        ).one()
        handoff = Handoff(
            id=str(uuid.uuid4()),
            survey_id=survey_id,
            reason=HandoffReason.SEVERE,
            detail="score 2 (at most 3)",
            urgency=3,
            state=HandoffState.WAITING,
            created_at=datetime.now(UTC),
        )
        session.add(handoff)
        session.commit()
        made = handoff.id
    engine.dispose()
    return made


@pytest.fixture
def console(browser: Browser, dashboard_url: tuple[str, Settings]) -> Iterator[tuple[Page, str]]:
    """The agent console, logged in, with a hand-off waiting."""
    base, settings = dashboard_url
    handoff_id = waiting_handoff(settings)
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    log_in(page, base, AGENT, then="/agent")
    expect(page.locator(f"[data-handoff='{handoff_id}']")).to_be_visible()
    yield page, handoff_id
    context.close()  # (before the app stops: the console's event stream ends)


def test_the_agent_console_has_no_accessibility_violation(console: tuple[Page, str]) -> None:
    page, handoff_id = console
    assert_accessible(page, "agent-queue")
    page.locator(f"[data-handoff='{handoff_id}'] button").click()
    expect(page.get_by_test_id("agent-transcript")).to_be_visible()
    assert_accessible(page, "agent-handoff")


def test_a_keyboard_only_agent_opens_claims_and_answers_a_handoff(
    console: tuple[Page, str], dashboard_url: tuple[str, Settings]
) -> None:
    """No mouse: Tab to the hand-off, Enter opens it; Tab to Claim; a saved
    reply chosen with the arrow keys, edited, and sent with Enter."""
    page, handoff_id = console
    _, settings = dashboard_url
    expect(page).to_have_title(re.compile(r"^\(\d+\) Agent console"))  # waiting: counted

    def tab_to(selector: str, presses: int = 60) -> None:
        for _ in range(presses):
            page.keyboard.press("Tab")
            if page.evaluate(f"document.activeElement.matches({selector!r})"):
                return
        raise AssertionError(f"Tab never reached {selector}")

    tab_to(f"[data-handoff='{handoff_id}'] button")
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("agent-transcript")).to_be_visible()
    tab_to("[data-testid=claim]")
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("claim")).to_be_disabled()
    tab_to("[data-testid=canned]")
    page.keyboard.press("ArrowDown")  # "Introduce yourself"
    expect(page.get_by_test_id("reply-text")).to_have_value(re.compile(r"^Hi, I'm agent from"))
    expect(page.get_by_test_id("reply-text")).to_be_focused()
    page.keyboard.press("End")
    page.keyboard.type(" Back soon.")
    tab_to("[data-testid=reply-send]")
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("agent-transcript-agent").last).to_contain_text(
        "I've read what you told us and I'm looking into it now. Back soon."
    )
    engine = sync_engine(settings.database_url)
    with Session(engine) as session:
        handoff = session.get(Handoff, handoff_id)
        assert handoff is not None and handoff.first_reply_at is not None
        assert handoff.claimed_by == "agent"
    engine.dispose()
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "agent-keyboard.png"), full_page=True)
