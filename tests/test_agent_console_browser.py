"""The agent console in headless Chromium (Debian's package, driven by
Playwright), beside a customer's widget in a second page: a hand-off appears
live, the agent claims and replies, the widget shows the reply, and the
customer's answer reaches the console. Screenshots land in test-output/."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.conftest import AGENT_TOKEN, ANALYST_TOKEN, SCREENSHOTS
from tests.system import System
from tests.test_widget_browser import send, wait_for_bot_messages

pytestmark = pytest.mark.browser


@pytest.fixture
def pages(browser: Browser) -> Iterator[tuple[Page, Page]]:
    """The agent's page and the customer's, each in its own browser context."""
    contexts: list[BrowserContext] = []
    problems: list[str] = []
    made = []
    for _ in range(2):
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.on("pageerror", lambda exc: problems.append(str(exc)))
        contexts.append(context)
        made.append(page)
    yield made[0], made[1]
    for context in contexts:
        context.close()
    assert problems == [], f"JavaScript errors: {problems}"


def log_in(page: Page, base: str, token: str, then: str) -> None:
    page.goto(f"{base}{then}")
    page.get_by_text("Log in with a role token instead").click()
    page.get_by_test_id("login-token").fill(token)
    page.get_by_test_id("login-submit").click()


# Headless Chromium shows no system notifications and keeps every tab
# visible: the page's Notification is wrapped to record what it is asked to
# show (the real one still runs), and "in the background" is set by the test.
NOTIFICATION_SPY = """
(() => {
  const Real = window.Notification;
  window.__notes = [];
  window.Notification = class extends Real {
    constructor(title, options) { super(title, options); window.__notes.push(title); }
  };
  Object.defineProperty(Document.prototype, "hidden", { get: () => window.__background === true });
})();
"""


def test_a_handoff_appears_live_and_the_reply_reaches_the_widget(
    system: System, pages: tuple[Page, Page]
) -> None:
    console, customer = pages
    console.context.grant_permissions(["notifications"], origin=system.base_url)
    console.add_init_script(NOTIFICATION_SPY)
    log_in(console, system.base_url, AGENT_TOKEN, "/agent")
    expect(console).to_have_url(f"{system.base_url}/agent")
    expect(console.get_by_test_id("live-status")).to_have_text("live", timeout=15_000)
    expect(console.get_by_test_id("notify-state")).to_have_text("(on)")
    console.get_by_test_id("agent-name").fill("Sam")
    console.evaluate("window.__background = true")  # the agent is in another tab

    customer.goto(f"{system.base_url}/?touchpoint=store_visit&location=leeds")
    wait_for_bot_messages(customer, 2)
    send(customer, "2")
    wait_for_bot_messages(customer, 3)
    send(customer, "The cashier was rude to me")  # a severe detractor: offered a person
    wait_for_bot_messages(customer, 5)
    send(customer, "yes please")
    wait_for_bot_messages(customer, 6)
    survey_id = customer.evaluate("Object.values(sessionStorage)[0]")
    (handoff,) = [h for h in _handoffs(system) if h[1] == survey_id]

    # The console shows it without a reload.
    item = console.locator(f"[data-testid=queue-item][data-handoff='{handoff[0]}']")
    expect(item).to_be_visible(timeout=15_000)
    expect(item).to_contain_text("detractor (2)")
    expect(item).to_contain_text("Store visit / leeds")  # the touchpoint's name, not its id
    # In the background: a notification, and the count in the tab's title.
    assert console.evaluate("window.__notes") == ["New hand-off waiting"]
    expect(console).to_have_title(re.compile(r"^\(\d+\) Agent console"))
    console.evaluate("window.__background = false")
    item.click()
    expect(console.get_by_test_id("agent-transcript-customer").last).to_have_text(
        "Customer" + "yes please"
    )
    # Each theme (its label) with its own sentiment and the words that made it;
    # the reason in words, not its id.
    expect(console.locator("#detail-facts")).to_contain_text("Staff (negative: “cashier”, “rude”)")
    expect(console.locator("#detail-facts")).to_contain_text("a severe detractor who accepted")
    expect(console.locator("#detail-facts")).not_to_contain_text("severe_detractor")
    console.get_by_test_id("claim").click()
    expect(console.get_by_test_id("claim")).to_be_disabled()
    # Sam's to give back: release, and claim again.
    expect(console.get_by_test_id("release")).to_be_enabled()
    console.get_by_test_id("release").click()
    expect(console.get_by_test_id("claim")).to_be_enabled()
    expect(console.get_by_test_id("release")).to_be_disabled()
    console.get_by_test_id("claim").click()
    expect(console.get_by_test_id("claim")).to_be_disabled()
    reply = "Hello, I'm Sam, the store manager. I'm sorry about your visit."
    console.get_by_test_id("reply-text").fill(reply)
    console.get_by_test_id("reply-send").click()

    # The customer's widget shows the reply as the team's, at once.
    expect(customer.get_by_test_id("agent-message")).to_contain_text(reply, timeout=15_000)
    send(customer, "Thank you Sam, the staff ignored me at the till")
    expect(console.get_by_test_id("agent-transcript-customer").last).to_contain_text(
        "the staff ignored me at the till", timeout=15_000
    )
    SCREENSHOTS.mkdir(exist_ok=True)
    console.screenshot(path=str(SCREENSHOTS / "agent-console.png"), full_page=True)
    customer.screenshot(path=str(SCREENSHOTS / "widget-with-agent.png"), full_page=True)


def test_an_analyst_cannot_open_the_console(system: System, pages: tuple[Page, Page]) -> None:
    page, _ = pages
    log_in(page, system.base_url, ANALYST_TOKEN, "/agent")
    expect(page.locator("body")).to_contain_text("may not open this page")


def _handoffs(system: System) -> list[tuple[str, str]]:
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from feedbot.store.models import Handoff

    with Session(system.engine) as session:
        return [(h.id, h.survey_id) for h in session.scalars(select(Handoff))]
