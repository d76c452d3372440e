"""Owners' views on a seeded demo store: the improvements page in headless
Chromium (log, preview, list), the digest page of one's own scope, and a
store manager who cannot read another store's answers through any page or
API. Screenshots land in test-output/."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from analytics.demo import write_demo_data
from bot.app import create_app
from feedbot.settings import PROJECT_ROOT, Settings
from feedbot.store.accounts import add_user
from feedbot.store.database import sync_engine
from feedbot.store.migrate import upgrade
from feedbot.store.models import Handoff, Improvement, ResponseTheme, Survey
from feedbot.understanding.reader import Understanding
from tests.conftest import SCREENSHOTS
from tests.helpers.served import served

pytestmark = pytest.mark.browser
ANALYST = "owner-views-analyst-token"
AGENT = "owner-views-agent-token"
MANAGER, PASSWORD = "leeds.manager@example.com", "leeds manager password"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    url = f"sqlite:///{tmp_path_factory.mktemp('owners') / 'demo.db'}"
    upgrade(url)
    engine = sync_engine(url)
    understanding = Understanding.from_taxonomy(PROJECT_ROOT / "themes.yml")
    write_demo_data(engine, understanding, 2500, seed=5)
    add_user(
        engine,
        email=MANAGER,
        name="Leeds manager",
        role="analyst",
        password=PASSWORD,
        at=datetime.now(UTC),
        locations=["leeds"],
    )
    engine.dispose()
    settings = Settings(database_url=url, analyst_token=ANALYST, agent_token=AGENT)
    with served(create_app(settings, run_scheduler=False)) as base:
        yield base, url


def log_in(base: str, email: str, password: str) -> requests.Session:
    session = requests.Session()
    resp = session.post(
        base + "/login",
        data={"email": email, "password": password},
        allow_redirects=False,
        timeout=30,
    )
    assert resp.status_code == 302, resp.text[:300]
    session.headers["Origin"] = base
    return session


def audience(url: str, theme: str, location: str, days: int = 90) -> int:
    """Who an improvement would reach, counted here from the tables."""
    engine = sync_engine(url)
    since = datetime.now(UTC) - timedelta(days=days)
    with Session(engine) as session:
        refs = set(
            session.execute(
                select(Survey.channel, Survey.customer_ref)
                .join(ResponseTheme, ResponseTheme.survey_id == Survey.id)
                .where(
                    ResponseTheme.theme == theme,
                    Survey.location == location,
                    Survey.created_at >= since,
                    Survey.customer_ref.is_not(None),
                    Survey.channel == "sms",  # no webhook configured: web customers are not
                )
            ).all()
        )
    engine.dispose()
    return len(refs)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    yield page
    context.close()
    assert problems == [], f"errors in the page: {problems}"


def test_an_analyst_previews_logs_and_sees_an_improvement(
    site: tuple[str, str], page: Page
) -> None:
    base, url = site
    page.goto(base + "/login?next=/dashboard/improvements")
    page.get_by_text("Log in with a role token instead").click()
    page.get_by_test_id("login-token").fill(ANALYST)
    page.get_by_test_id("login-submit").click()
    page.wait_for_url(base + "/dashboard/improvements")
    page.select_option("[data-testid=improvement-theme]", "wait_time")
    page.fill("[data-testid=improvement-location]", "leeds")
    page.fill("[data-testid=improvement-title]", "Two more tills at lunch")
    page.fill(
        "[data-testid=improvement-message]",
        "You told us lunch queues were long: we added two tills.",
    )
    page.click("[data-testid=improvement-preview]")
    expected = audience(url, "wait_time", "leeds")
    assert expected > 0
    expect(page.get_by_test_id("improvement-result")).to_contain_text(
        f"{expected} customer(s) would be told ({expected} by SMS)"
    )
    page.screenshot(path=str(SCREENSHOTS / "improvements-preview.png"), full_page=True)
    page.click("[data-testid=improvement-send]")
    expect(page.get_by_test_id("improvement-result")).to_contain_text(f"Telling {expected}")
    row = page.get_by_test_id("improvement-row").filter(has_text="Two more tills at lunch")
    expect(row).to_have_count(1, timeout=10_000)
    expect(row).to_contain_text("Wait time")  # the label from themes.yml, not the id
    expect(row).to_contain_text("logged today")
    page.screenshot(path=str(SCREENSHOTS / "improvements-logged.png"), full_page=True)


def test_a_store_manager_reads_only_their_store(site: tuple[str, str]) -> None:
    base, url = site
    engine = sync_engine(url)
    with Session(engine) as session:
        other = session.scalar(
            select(Survey.id).where(Survey.location == "bristol", Survey.score.is_not(None))
        )
        other_handoff = session.scalar(
            select(Handoff.id).join(Survey).where(Survey.location != "leeds")
        )
        session.add(
            Improvement(
                id="bristol-improvement",
                theme="staff",
                location="bristol",
                title="Bristol training",
                message="m",
                lookback_days=90,
                created_at=datetime.now(UTC),
                created_by="test",
                recipients=0,
            )
        )
        session.commit()
    engine.dispose()
    manager = log_in(base, MANAGER, PASSWORD)

    report = manager.get(base + "/api/report?by=location", timeout=30).json()
    assert {g["location"] for g in report["groups"]} == {"leeds"}
    assert "Bristol training" not in json.dumps(report["improvements"])
    export = manager.get(base + "/api/export?format=jsonl", timeout=60)
    rows = [json.loads(line) for line in export.text.splitlines() if line]
    assert rows and {r["location"] for r in rows} == {"leeds"}
    dashboard = manager.get(base + "/dashboard", timeout=30).text
    assert "bristol" not in dashboard.lower()
    assert manager.get(f"{base}/dashboard/surveys/{other}", timeout=30).status_code == 404
    improvements = manager.get(base + "/api/improvements", timeout=30).json()["improvements"]
    assert all(i["location"] in (None, "leeds") for i in improvements)
    page = manager.get(base + "/dashboard/improvements", timeout=30).text
    assert "Bristol training" not in page
    digest = manager.get(base + "/dashboard/digest", timeout=30)
    assert digest.status_code == 200 and "Net Promoter Score" in digest.text
    assert "for leeds" in digest.text and "at bristol" not in digest.text
    refused = manager.post(
        base + "/api/improvements",
        json={"theme": "staff", "location": "bristol", "title": "t", "message": "m"},
        timeout=30,
    )
    assert refused.status_code == 403
    # The agents' API is not an analyst's at all.
    assert manager.get(base + "/api/handoffs", timeout=30).status_code == 403
    assert manager.get(f"{base}/api/handoffs/{other_handoff}", timeout=30).status_code == 403
    # An admin token sees Bristol: the limits are the account's, not the data's.
    admin = requests.get(
        f"{base}/api/report?by=location",
        headers={"Authorization": f"Bearer {ANALYST}"},
        timeout=30,
    ).json()
    assert "bristol" in {g["location"] for g in admin["groups"]}


def test_the_digest_page_shows_the_email_as_sent(site: tuple[str, str], page: Page) -> None:
    base, _ = site
    page.goto(base + "/login?next=/dashboard/digest")
    page.fill("input[name=email]", MANAGER)
    page.fill("input[name=password]", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(base + "/dashboard/digest")
    expect(page.locator("h1")).to_contain_text("Weekly feedback for leeds")
    expect(page.locator("body")).to_contain_text("In their words")
    page.screenshot(path=str(SCREENSHOTS / "digest-page.png"), full_page=True)
    Path(SCREENSHOTS).mkdir(exist_ok=True)


def test_date_presets_and_an_export_of_what_is_shown(site: tuple[str, str], page: Page) -> None:
    """#16: the dashboard's periods in one click, and the CSV of the filters shown."""
    from analytics.export import count_surveys
    from analytics.query import Scope

    base, url = site
    page.goto(base + "/login?next=/dashboard?location=leeds")
    page.get_by_text("Log in with a role token instead").click()
    page.get_by_test_id("login-token").fill(ANALYST)
    page.get_by_test_id("login-submit").click()
    page.get_by_test_id("date-presets").get_by_text("Last 30 days").click()
    today = datetime.now(UTC).date()
    since = today - timedelta(days=29)
    expect(page).to_have_url(
        f"{base}/dashboard?location=leeds&since={since.isoformat()}&until={today.isoformat()}"
    )
    expect(page.get_by_test_id("date-presets").get_by_text("Last 30 days")).to_have_attribute(
        "aria-current", "page"
    )
    page.screenshot(path=str(SCREENSHOTS / "dashboard-presets.png"), full_page=True)
    href = page.get_by_test_id("export-csv").get_attribute("href") or ""
    assert href.startswith("/api/export?format=csv&")
    assert f"since={since.isoformat()}" in href and "location=leeds" in href
    exported = page.request.get(base + href)
    assert exported.status == 200
    rows = exported.text().lstrip("\ufeff").splitlines()[1:]
    engine = sync_engine(url)
    with engine.connect() as conn:
        expected = count_surveys(conn, Scope(since=since, until=today, location="leeds"))
    engine.dispose()
    assert len(rows) == expected > 0


def test_a_transcript_shows_its_hand_offs_outcome(site: tuple[str, str]) -> None:
    base, url = site
    engine = sync_engine(url)
    with Session(engine) as session:
        resolved = session.scalar(
            select(Handoff).where(Handoff.state == "resolved", Handoff.resolution_code.is_not(None))
        )
        assert resolved is not None
        survey_id, code = resolved.survey_id, resolved.resolution_code
    engine.dispose()
    page = requests.get(
        f"{base}/dashboard/surveys/{survey_id}",
        headers={"Authorization": f"Bearer {ANALYST}"},
        timeout=30,
    ).text
    assert 'data-testid="handoff-outcome"' in page
    assert f": {code}" in page and "Sorted out?" in page


def test_the_agent_consoles_logo_leads_to_the_console(site: tuple[str, str], page: Page) -> None:
    base, _ = site
    page.goto(base + "/login?next=/agent")
    page.get_by_text("Log in with a role token instead").click()
    page.get_by_test_id("login-token").fill(AGENT)
    page.get_by_test_id("login-submit").click()
    page.wait_for_url(base + "/agent")
    expect(page.get_by_test_id("brand")).to_have_attribute("href", "/agent")
    expect(page.get_by_test_id("nav-improvements")).to_have_count(0)
