"""The demo page and widget in headless Chromium (Debian's package, driven by
Playwright; no browser download), answered as a customer would."""

from __future__ import annotations

import functools
import json
import re
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, WebSocketRoute, expect

from feedbot.nps import Category
from tests.chat import about, follow_up, response_texts
from tests.conftest import SCREENSHOTS
from tests.helpers.a11y import assert_accessible
from tests.system import System

pytestmark = pytest.mark.browser


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


def bot_messages(page: Page) -> list[str]:
    return page.get_by_test_id("bot-message").all_inner_texts()


def wait_for_bot_messages(page: Page, count: int) -> list[str]:
    expect(page.get_by_test_id("bot-message")).to_have_count(count, timeout=30_000)
    return bot_messages(page)


def send(page: Page, text: str) -> None:
    page.get_by_test_id("chat-input").fill(text)
    page.get_by_test_id("chat-send").click()


def test_a_customer_answers_the_survey_in_the_widget(system: System, page: Page) -> None:
    page.goto(f"{system.base_url}/")
    greeting, question = wait_for_bot_messages(page, 2)
    assert about("support") in greeting
    assert "0" in question and "10" in question

    choices = page.get_by_test_id("chat-choice")
    expect(choices).to_have_count(11)
    assert choices.all_inner_texts() == [str(n) for n in range(11)]
    assert_accessible(page, "widget-question")
    choices.nth(9).click()
    expect(page.get_by_test_id("customer-message")).to_have_text(["9"])
    expect(page.get_by_test_id("chat-choice")).to_have_count(0)  # quick replies are gone
    assert wait_for_bot_messages(page, 3)[-1] == follow_up("support", Category.PROMOTER)

    reason = (
        "<b>Sam</b> was great <script>window.__pwned = 1</script>"
        '<img src=x onerror="window.__pwned = 2">'
    )
    send(page, reason)
    assert wait_for_bot_messages(page, 4)[-1] in response_texts("utter_thanks")

    # What the customer typed is shown as text, and nothing in it ran.
    expect(page.get_by_test_id("customer-message").last).to_have_text(reason)
    assert page.locator("[data-testid=chat-log] b, [data-testid=chat-log] img").count() == 0
    assert page.evaluate("window.__pwned") is None
    expect(page.get_by_test_id("chat-input")).to_have_value("")

    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "widget-completed.png"), full_page=True)
    assert_accessible(page, "widget-completed")
    # A screen reader hears who said each message, not only the words.
    heard = page.get_by_test_id("chat-log").aria_snapshot()
    assert "You: 9 Feedbot: " + follow_up("support", Category.PROMOTER) in heard

    survey_id = page.evaluate("Object.values(sessionStorage)[0]")
    survey = system.survey(survey_id)
    assert survey.state == "completed"
    assert survey.response is not None
    assert (survey.response.score, survey.response.reason) == (9, reason)


def test_the_touchpoint_comes_from_the_page_address(system: System, page: Page) -> None:
    page.goto(f"{system.base_url}/?touchpoint=store_visit&location=store-12")
    greeting, _ = wait_for_bot_messages(page, 2)
    assert about("store_visit") in greeting
    send(page, "5")
    assert wait_for_bot_messages(page, 3)[-1] == follow_up("store_visit", Category.DETRACTOR)
    survey = system.survey(page.evaluate("Object.values(sessionStorage)[0]"))
    assert (survey.touchpoint, survey.location) == ("store_visit", "store-12")


def test_the_widget_says_its_language_lang_first_then_the_page_then_the_browser(
    system: System, browser: Browser
) -> None:
    for url, browser_locale, expected in [
        ("/?touchpoint=support&lang=es", "en-GB", "es"),  # ?lang= wins
        ("/?touchpoint=support", "es-ES", "en"),  # the page says lang="en"
    ]:
        context = browser.new_context(locale=browser_locale)
        page = context.new_page()
        page.goto(f"{system.base_url}{url}")
        wait_for_bot_messages(page, 2)
        survey_id = page.evaluate("Object.values(sessionStorage)[0]")
        assert system.survey(survey_id).locale == expected, url
        context.close()


def test_a_reload_resumes_the_same_conversation(system: System, page: Page) -> None:
    page.goto(f"{system.base_url}/?touchpoint=delivery")
    wait_for_bot_messages(page, 2)
    send(page, "pretty likely")
    reask = wait_for_bot_messages(page, 3)[-1]
    assert "0" in reask and "10" in reask
    page.reload()
    expect(page.get_by_test_id("bot-message").last).to_have_text(reask, timeout=30_000)
    expect(page.get_by_test_id("customer-message")).to_have_text(["pretty likely"])
    send(page, "8")
    assert wait_for_bot_messages(page, 4)[-1] == follow_up("delivery", Category.PASSIVE)


def test_an_answer_lost_on_the_way_is_read_back_once_and_nothing_is_sent_twice(
    system: System, page: Page
) -> None:
    """The socket breaks after the app stored the customer's "8" and
    answered it, before the ack and the answer reached the page (the frames
    are dropped on the way, then the page's socket is closed). The widget
    connects again and reads the conversation back: the "8" (with its id,
    so it is not sent again) and its answer, each shown once."""
    state = {"lost": False}
    sent: list[dict[str, object]] = []

    def route(ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()

        def from_page(message: str | bytes) -> None:
            sent.append(json.loads(message))
            server.send(message)

        def from_server(message: str | bytes) -> None:
            frame = json.loads(message)
            answering = any(f.get("type") == "message" for f in sent)
            if answering and not state["lost"]:
                if frame["type"] == "ready":  # the whole answer dropped: now the break
                    state["lost"] = True
                    ws.close()
                return
            ws.send(message)

        ws.on_message(from_page)
        server.on_message(from_server)

    page.route_web_socket(re.compile(r".*/chat$"), route)
    page.goto(f"{system.base_url}/?touchpoint=delivery")
    wait_for_bot_messages(page, 2)
    send(page, "8")
    answer = wait_for_bot_messages(page, 3)[-1]
    assert answer == follow_up("delivery", Category.PASSIVE)
    assert state["lost"]  # the answer came from the history
    expect(page.get_by_test_id("customer-message")).to_have_text(["8"])
    page.wait_for_timeout(1500)  # time enough for a resend that should not come
    assert [f["text"] for f in sent if f["type"] == "message"] == ["8"]
    assert bot_messages(page)[-1] == answer and len(bot_messages(page)) == 3


def test_an_outage_is_said_and_what_the_customer_wrote_stays_and_is_sent(
    system: System, page: Page
) -> None:
    """#16: while the app cannot be reached the widget says so (not "…" for
    ever), and a message written meanwhile keeps its bubble when the widget
    reconnects and reads the conversation back, and is sent then."""
    down = {"now": False}
    sockets: list[WebSocketRoute] = []

    def route(ws: WebSocketRoute) -> None:
        if down["now"]:
            ws.close()  # as if the app were down: every reconnection fails
            return
        sockets.append(ws)
        server = ws.connect_to_server()
        ws.on_message(server.send)
        server.on_message(ws.send)

    page.route_web_socket(re.compile(r".*/chat$"), route)
    page.goto(f"{system.base_url}/?touchpoint=delivery")
    wait_for_bot_messages(page, 2)
    status = page.get_by_test_id("chat-status")
    expect(status).to_be_hidden()
    down["now"] = True
    sockets[-1].close()
    expect(status).to_contain_text("Connection lost. Reconnecting")
    send(page, "7")
    expect(page.get_by_test_id("customer-message")).to_have_text(["7"])
    page.screenshot(path=str(SCREENSHOTS / "widget-outage.png"))
    down["now"] = False
    answer = wait_for_bot_messages(page, 3)[-1]
    assert answer == follow_up("delivery", Category.PASSIVE)
    expect(page.get_by_test_id("customer-message")).to_have_text(["7"])  # kept, once
    expect(status).to_be_hidden()


@pytest.fixture
def other_site(system: System, tmp_path: Path) -> Iterator[str]:
    """A company's own page on another origin, embedding the widget from Feedbot."""
    (tmp_path / "index.html").write_text(
        "<!doctype html><html><body><h1>Acme</h1>"
        '<div class="feedbot-widget" data-feedbot-touchpoint="checkout"></div>'
        f'<script src="{system.base_url}/static/widget.js" defer></script>'
        "</body></html>"
    )
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/index.html"
    server.shutdown()
    server.server_close()


def test_the_widget_works_embedded_in_another_site(
    system: System, page: Page, other_site: str
) -> None:
    page.goto(other_site)
    greeting, _ = wait_for_bot_messages(page, 2)
    assert about("checkout") in greeting
    send(page, "10")
    assert wait_for_bot_messages(page, 3)[-1] == follow_up("checkout", Category.PROMOTER)


def test_on_a_page_without_lang_the_widget_takes_the_browsers_language(
    system: System, browser: Browser, other_site: str
) -> None:
    context = browser.new_context(locale="es-MX")
    page = context.new_page()
    page.goto(other_site)  # the company's page says no lang
    wait_for_bot_messages(page, 2)
    survey_id = page.evaluate("Object.values(sessionStorage)[0]")
    assert system.survey(survey_id).locale == "es-MX"
    context.close()


def test_the_widget_fits_a_phone_screen(system: System, browser: Browser) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    page.goto(f"{system.base_url}/?touchpoint=checkout")
    wait_for_bot_messages(page, 2)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    for test_id in ("chat-input", "chat-send", "chat-log"):
        box = page.get_by_test_id(test_id).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
    assert_accessible(page, "widget-phone")
    expect(page.get_by_label("Your answer")).to_be_visible()  # the input has a label
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "widget-phone.png"), full_page=True)
    context.close()


def test_a_customer_answers_in_spanish_on_a_phone(system: System, browser: Browser) -> None:
    """?lang=es at phone size: the bot and the widget speak Spanish all the
    way, and the Spanish answers are read: "nueve" is a 9, "el personal fue
    muy amable" is about the staff, and positive."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{system.base_url}/?touchpoint=support&lang=es")
    greeting, question = wait_for_bot_messages(page, 2)
    assert greeting in {
        t.replace("{touchpoint_about}", about("support", "es"))
        for t in response_texts("utter_greet_survey", "es")
    }
    assert question in response_texts("utter_ask_score", "es")
    # The widget's own words are Spanish too, and say so to screen readers.
    expect(page.get_by_label("Su respuesta")).to_be_visible()
    expect(page.get_by_test_id("chat-input")).to_have_attribute(
        "placeholder", "Escriba su respuesta…"
    )
    expect(page.get_by_test_id("chat-send")).to_have_text("Enviar")
    expect(page.locator(".fb-panel")).to_have_attribute("lang", "es")
    expect(page.get_by_role("group", name="Respuestas rápidas")).to_be_visible()
    assert_accessible(page, "widget-phone-es")

    send(page, "nueve")
    assert wait_for_bot_messages(page, 3)[-1] == follow_up("support", Category.PROMOTER, "es")
    send(page, "el personal fue muy amable")
    assert wait_for_bot_messages(page, 4)[-1] in response_texts("utter_thanks", "es")
    heard = page.get_by_test_id("chat-log").aria_snapshot()
    assert "Usted: nueve" in heard
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "widget-phone-es.png"), full_page=True)
    assert_accessible(page, "widget-phone-es-completed")

    survey_id = page.evaluate("Object.values(sessionStorage)[0]")
    survey = system.survey(survey_id)
    assert survey.locale == "es" and survey.state == "completed"
    assert survey.response is not None
    assert (survey.response.score, survey.response.sentiment) == (9, "positive")
    assert system.themes(survey_id) == ["staff"]
    context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"
