"""End to end: a customer asks for a person, on the web widget and by SMS,
through the real app, Rasa and action server; from then on their messages go
to the agents, not to the bot."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.app import create_app
from feedbot.handoff_rules import HandoffConfig
from feedbot.store.models import AuditEvent, Handoff
from tests.chat import ChatClient, response_texts
from tests.conftest import ADMIN_TOKEN, AGENT_TOKEN, ANALYST_TOKEN, API_TOKEN, settings_for
from tests.fake_twilio import FakeTwilio
from tests.system import System
from tests.test_sms import create, new_number, text_in, wait_for

pytestmark = pytest.mark.system
RECOVERY = HandoffConfig()  # the test touchpoints.yml keeps the default wording
OPENED = sorted(t.split("{handoff_when}")[0] for t in response_texts("utter_handoff_opened"))
WHEN = ("shortly", "today at ", "tomorrow at ", "on ")  # business hours, real clock
# Words the model cannot place among its intents (nlu_fallback): "Sorry, I
# didn't quite get that" (asserted below). Most other free text after the
# survey is read as more feedback and answered "this survey is finished".
UNCLEAR = ("can you do that", "do you know")
NOT_UNDERSTOOD = sorted(
    t.split("{handoff_when}")[0] for t in response_texts("utter_handoff_not_understood")
)


def is_handoff_message(text: str, wordings: list[str] = OPENED) -> bool:
    """One of utter_handoff_opened's wordings (or others'), with an honest
    'when' filled in."""
    return any(text.startswith(s) and text[len(s) :].startswith(WHEN) for s in wordings)


def handoffs_of(system: System, survey_id: str) -> list[Handoff]:
    with Session(system.engine) as session:
        return list(session.scalars(select(Handoff).where(Handoff.survey_id == survey_id)))


async def sms_survey(
    http: aiohttp.ClientSession, system: System, fake: FakeTwilio, touchpoint: str
) -> tuple[str, dict]:
    """A new number sent a survey through the API: (the number, the API's answer)
    once the first text (greeting and question) has reached it."""
    phone = new_number()
    status, body = await create(
        http, system, channel="sms", phone=phone, touchpoint=touchpoint, interaction_id=phone
    )
    assert status == 201 and body["status"] == "sent", body
    await wait_for(fake, phone, 1)
    return phone, body


@pytest.fixture
async def chat(system: System) -> AsyncIterator[ChatClient]:
    async with aiohttp.ClientSession() as http, http.ws_connect(system.ws_url) as ws:
        yield ChatClient(ws)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_on_the_web_a_person_takes_over_and_the_bot_stops(
    system: System, chat: ChatClient
) -> None:
    await chat.start(touchpoint="support", location="chat")
    await chat.say("2")
    replies = await chat.say("can I talk to a real person please")
    assert len(replies) == 1 and is_handoff_message(replies[0]), replies

    survey_id = chat.survey_id or ""
    (handoff,) = handoffs_of(system, survey_id)
    assert (handoff.reason, handoff.state) == ("asked_for_person", "waiting")
    assert handoff.urgency == 3  # a score of 2: severe, whatever the wording
    survey = system.survey(survey_id)
    assert (survey.state, survey.state_reason) == ("completed", "handed to a person")

    # From now on the customer writes to the agent: stored, and no bot reply.
    assert await chat.say("My order number is 7781, it never came") == []
    transcript = system.transcript(survey_id)
    assert transcript[-1] == ("customer", "My order number is 7781, it never came")
    asking_again = await chat.say("hello? is anyone there")
    assert asking_again == [] and len(handoffs_of(system, survey_id)) == 1


async def test_by_sms_a_person_takes_over_and_texts_reach_them(
    system: System, fake_twilio: FakeTwilio, http: aiohttp.ClientSession
) -> None:
    phone, body = await sms_survey(http, system, fake_twilio, "delivery")
    await text_in(http, system, phone, "I want to speak to a manager")
    messages = await wait_for(fake_twilio, phone, 2)
    assert is_handoff_message(messages[1]), messages[1]
    (handoff,) = handoffs_of(system, body["survey_id"])
    assert (handoff.reason, handoff.urgency) == ("asked_for_person", 2)  # no score yet
    assert system.survey(body["survey_id"]).state == "left"

    await text_in(http, system, phone, "The parcel is at the wrong address")
    for _ in range(40):  # the turn is handled in the background
        if system.transcript(body["survey_id"])[-1][1] == "The parcel is at the wrong address":
            break
        await asyncio.sleep(0.1)
    assert system.transcript(body["survey_id"])[-1] == (
        "customer",
        "The parcel is at the wrong address",
    )
    await asyncio.sleep(1)
    assert len(fake_twilio.to(phone)) == 2  # no bot reply, no "no open survey" answer


def agent(token: str = AGENT_TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_an_agent_claims_replies_notes_and_resolves_on_the_web(
    system: System, chat: ChatClient, http: aiohttp.ClientSession
) -> None:
    await chat.start(touchpoint="delivery", location="north-hub")
    await chat.say("1")
    await chat.say("I need a human to sort this out")
    survey_id = chat.survey_id or ""
    (handoff,) = handoffs_of(system, survey_id)
    api = f"{system.base_url}/api/handoffs"

    async with http.get(api, headers=agent()) as resp:
        queued = {h["id"]: h for h in (await resp.json())["handoffs"]}
    card = queued[handoff.id]
    assert (card["survey_id"], card["score"], card["category"], card["urgency"]) == (
        survey_id,
        1,
        "detractor",
        3,
    )
    assert (card["touchpoint"], card["location"], card["state"]) == (
        "delivery",
        "north-hub",
        "waiting",
    )

    async with http.post(f"{api}/{handoff.id}/claim", json={"agent": "sam"}, headers=agent()) as r:
        assert r.status == 200
    async with http.post(f"{api}/{handoff.id}/claim", json={"agent": "alex"}, headers=agent()) as r:
        assert r.status == 409 and "claimed" in (await r.json())["error"]

    reply = "Hi, I'm Sam. I'm sorry about your delivery; I'm looking at it now."
    async with http.post(
        f"{api}/{handoff.id}/reply", json={"agent": "sam", "text": reply}, headers=agent()
    ) as r:
        assert r.status == 200
    pushed = await chat.ws.receive_json(timeout=10)  # the open widget gets it at once
    assert pushed == {"type": "agent", "text": reply}
    assert await chat.say("Thanks Sam, it is order 7781") == []  # to Sam, not the bot

    note = "Courier lost the parcel; refund issued."
    async with http.post(
        f"{api}/{handoff.id}/notes", json={"agent": "sam", "text": note}, headers=agent()
    ) as r:
        assert r.status == 201
    async with http.get(f"{api}/{handoff.id}", headers=agent()) as r:
        detail = await r.json()
    assert [m["author"] for m in detail["transcript"]][-2:] == ["agent", "customer"]
    assert detail["transcript"][-2]["text"] == reply
    assert [n["text"] for n in detail["notes"]] == [note]
    assert all(m["text"] != note for m in detail["transcript"])  # notes stay internal

    async with http.post(
        f"{api}/{handoff.id}/resolve", json={"agent": "sam", "code": "refunded"}, headers=agent()
    ) as r:
        assert r.status == 200
    async with http.post(
        f"{api}/{handoff.id}/resolve", json={"agent": "sam", "code": "refunded"}, headers=agent()
    ) as r:
        assert r.status == 409
    # The bot takes over again with one recovery question, and keeps the answer.
    question = await chat.ws.receive_json(timeout=10)
    assert question == {"type": "bot", "text": RECOVERY.recovery_question, "buttons": []}
    assert await chat.say("Yes, thanks!") == [RECOVERY.recovery_thanks]
    (done,) = handoffs_of(system, survey_id)
    assert (done.state, done.claimed_by, done.resolution_code) == ("resolved", "sam", "refunded")
    assert done.first_reply_at is not None and done.resolved_at is not None
    assert done.recovery_answer == "yes" and done.recovery_at is not None
    assert system.transcript(survey_id)[-3:] == [
        ("bot", RECOVERY.recovery_question),
        ("customer", "Yes, thanks!"),
        ("bot", RECOVERY.recovery_thanks),
    ]
    async with http.get(api, headers=agent()) as resp:
        assert handoff.id not in {h["id"] for h in (await resp.json())["handoffs"]}

    # Exports say so.
    async with http.get(
        f"{system.base_url}/api/export?format=jsonl&touchpoint=delivery",
        headers=agent(ANALYST_TOKEN),
    ) as resp:
        rows = {r["survey_id"]: r for r in map(json.loads, (await resp.text()).splitlines())}
    assert rows[survey_id]["handed_off"] is True
    assert rows[survey_id]["summary"].startswith("Detractor (1) · north-hub / Delivery")
    assert " · handed off, resolved in " in rows[survey_id]["summary"]


async def test_only_the_claiming_agent_answers_until_released_or_reassigned(
    system: System, chat: ChatClient, http: aiohttp.ClientSession
) -> None:
    await chat.start(touchpoint="support")
    await chat.say("talk to a human please")
    (handoff,) = handoffs_of(system, chat.survey_id or "")
    api = f"{system.base_url}/api/handoffs/{handoff.id}"

    async def post(action: str, body: dict, token: str = AGENT_TOKEN) -> tuple[int, dict]:
        async with http.post(f"{api}/{action}", json=body, headers=agent(token)) as r:
            return r.status, await r.json()

    # The first to reply takes a waiting hand-off.
    assert (await post("reply", {"agent": "sam", "text": "Hi, Sam here."}))[0] == 200
    assert (await chat.ws.receive_json(timeout=10))["type"] == "agent"
    status, answer = await post("reply", {"agent": "alex", "text": "Alex here too!"})
    assert status == 409 and "claimed by sam" in answer["error"]
    status, _ = await post("resolve", {"agent": "alex", "code": "refunded"})
    assert status == 409
    assert (await post("release", {"agent": "alex"}))[0] == 409  # not alex's to release
    assert (await post("notes", {"agent": "alex", "text": "I know this customer"}))[0] == 201

    assert (await post("release", {"agent": "sam"}))[0] == 200  # back to the queue
    assert (await post("claim", {"agent": "alex"}))[0] == 200
    # Agents may not reassign; an admin may.
    assert (await post("reassign", {"agent": "alex", "to": "sam"}))[0] == 403
    status, answer = await post("reassign", {"agent": "lee", "to": "sam"}, ADMIN_TOKEN)
    assert (status, answer["agent"]) == (200, "sam")
    assert (await post("reply", {"agent": "alex", "text": "still me"}))[0] == 409
    assert (await post("resolve", {"agent": "sam", "code": "refunded"}))[0] == 200

    # Who did what, in the audit log (no customer's or agent's words in it).
    with Session(system.engine) as session:
        rows = session.scalars(
            select(AuditEvent).where(AuditEvent.target == handoff.id).order_by(AuditEvent.id)
        ).all()
    assert [(e.actor, e.role, e.action) for e in rows] == [
        ("sam", "agent", "handoff.claim"),
        ("sam", "agent", "handoff.reply"),
        ("alex", "agent", "handoff.note"),
        ("sam", "agent", "handoff.release"),
        ("alex", "agent", "handoff.claim"),
        ("lee", "admin", "handoff.reassign"),
        ("sam", "agent", "handoff.resolve"),
    ]
    assert rows[5].detail == {"to": "sam", "from": "alex"}
    assert rows[6].detail == {"code": "refunded"}
    printed = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "commands.cli", "audit", "--limit", "200"],
        env={**os.environ, "DATABASE_URL": system.database_url},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert printed.returncode == 0, printed.stderr
    assert "handoff.reassign" in printed.stdout and "to=sam, from=alex" in printed.stdout
    assert "Sam here" not in printed.stdout


async def test_an_agents_reply_reaches_an_sms_customer(
    system: System, fake_twilio: FakeTwilio, http: aiohttp.ClientSession
) -> None:
    phone, body = await sms_survey(http, system, fake_twilio, "support")
    await text_in(http, system, phone, "please call me back")
    await wait_for(fake_twilio, phone, 2)
    (handoff,) = handoffs_of(system, body["survey_id"])
    reply = "Hello, this is Alex from support. When suits you for a call?"
    async with http.post(
        f"{system.base_url}/api/handoffs/{handoff.id}/reply",
        json={"agent": "alex", "text": reply},
        headers=agent(),
    ) as r:
        assert r.status == 200
    assert fake_twilio.to(phone)[-1] == reply
    transcript = system.transcript(body["survey_id"])
    assert ("agent", reply) in transcript

    async with http.post(
        f"{system.base_url}/api/handoffs/{handoff.id}/resolve",
        json={"agent": "alex", "code": "call_back_booked"},
        headers=agent(),
    ) as r:
        assert r.status == 200
    assert fake_twilio.to(phone)[-1] == RECOVERY.recovery_question
    await text_in(http, system, phone, "not really, nobody called")
    assert (await wait_for(fake_twilio, phone, 5))[-1] == RECOVERY.recovery_thanks
    (done,) = handoffs_of(system, body["survey_id"])
    assert done.recovery_answer == "no"


@pytest.mark.parametrize(
    ("token", "status"),
    [(None, 401), (API_TOKEN, 403), (ANALYST_TOKEN, 403), ("nonsense", 401)],
)
async def test_only_agents_may_use_the_agent_api(
    system: System, http: aiohttp.ClientSession, token: str | None, status: int
) -> None:
    headers = agent(token) if token else {}
    async with http.get(f"{system.base_url}/api/handoffs", headers=headers) as r:
        assert r.status == status
    async with http.post(
        f"{system.base_url}/api/handoffs/x/reply",
        json={"agent": "a", "text": "hi"},
        headers=headers,
    ) as r:
        assert r.status == status  # the analyst role cannot reply to customers


async def test_bad_agent_requests_are_clear(
    system: System, chat: ChatClient, http: aiohttp.ClientSession
) -> None:
    async with http.post(
        f"{system.base_url}/api/handoffs/nope/claim", json={"agent": "sam"}, headers=agent()
    ) as r:
        assert r.status == 404 and "No hand-off" in (await r.json())["error"]
    await chat.start(touchpoint="support")
    await chat.say("talk to a human please")
    (handoff,) = handoffs_of(system, chat.survey_id or "")
    url = f"{system.base_url}/api/handoffs/{handoff.id}/reply"
    async with http.post(url, json={"agent": "sam"}, headers=agent()) as r:
        assert r.status == 400 and "text: Field required" in (await r.json())["error"]
    async with http.post(url, data="not json", headers=agent()) as r:
        assert r.status == 400 and "must be JSON" in (await r.json())["error"]
    async with http.post(url, json={"agent": "sam", "text": "x" * 2001}, headers=agent()) as r:
        assert r.status == 400 and "at most 2000 characters" in (await r.json())["error"]


async def test_a_severe_detractor_is_offered_a_person_and_accepts(
    system: System, chat: ChatClient
) -> None:
    await chat.start(touchpoint="support")
    await chat.say("2")
    replies = await chat.say("The agent hung up on me twice")
    assert replies[-1] == RECOVERY.offer_question  # after the thanks
    assert replies[0] in response_texts("utter_thanks")
    accepted = await chat.say("yes please")
    assert len(accepted) == 1 and accepted[0].startswith("Thank you. A person from our team")
    (handoff,) = handoffs_of(system, chat.survey_id or "")
    assert (handoff.reason, handoff.state, handoff.urgency) == ("severe_detractor", "waiting", 3)
    assert handoff.detail == "score 2 (at most 3)"
    assert await chat.say("It was about my broken laptop") == []  # for the agent now


async def test_the_agent_and_the_analyst_see_why_each_theme_was_tagged(
    system: System, chat: ChatClient, http: aiohttp.ClientSession
) -> None:
    await chat.start(touchpoint="checkout")
    await chat.say("2")
    await chat.say("The pizza was lovely but the waiter was rude to us")
    await chat.say("yes please")  # a person, please
    survey_id = chat.survey_id or ""
    (handoff,) = handoffs_of(system, survey_id)
    async with http.get(f"{system.base_url}/api/handoffs/{handoff.id}", headers=agent()) as r:
        card = await r.json()
    assert card["themes"] == ["product", "staff"]
    assert card["theme_details"] == [
        {"theme": "product", "label": "Product", "sentiment": "positive", "words": ["pizza"]},
        {"theme": "staff", "label": "Staff", "sentiment": "negative", "words": ["waiter", "rude"]},
    ]
    assert card["reason"] == "severe_detractor"  # the id, for systems; and in words, for people
    assert card["reason_words"] == "a severe detractor who accepted the offer of a person"
    # The analyst's transcript page says the same.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as analyst:
        async with analyst.post(f"{system.base_url}/login", data={"token": ANALYST_TOKEN}) as r:
            assert r.status == 200
        async with analyst.get(f"{system.base_url}/dashboard/surveys/{survey_id}") as r:
            page = await r.text()
    themes = page.split('data-testid="survey-themes"', 1)[1].split("</ul>", 1)[0]
    assert "<strong>Product</strong> · positive · because: “pizza”" in themes
    assert "<strong>Staff</strong> · negative · because: “waiter”, “rude”" in themes


async def test_a_severe_detractor_may_decline_the_offer(system: System, chat: ChatClient) -> None:
    await chat.start(touchpoint="checkout")
    await chat.say("6")
    # Not a low score, but a serious subject: a refund.
    replies = await chat.say("I was charged twice and want a refund")
    assert replies[-1] == RECOVERY.offer_question
    assert await chat.say("No thanks") == [RECOVERY.offer_declined]
    (handoff,) = handoffs_of(system, chat.survey_id or "")
    assert (handoff.state, handoff.detail) == ("declined", "mentions 'refund'")
    after = await chat.say("bye")
    assert after and RECOVERY.offer_question not in after  # offered once only


async def test_no_offer_to_a_customer_who_is_not_severe(system: System, chat: ChatClient) -> None:
    await chat.start(touchpoint="delivery")
    await chat.say("5")
    replies = await chat.say("It came a day late")
    assert replies and all(r != RECOVERY.offer_question for r in replies)
    assert handoffs_of(system, chat.survey_id or "") == []


async def test_by_sms_a_severe_detractor_accepts_the_offer(
    system: System, fake_twilio: FakeTwilio, http: aiohttp.ClientSession
) -> None:
    phone, body = await sms_survey(http, system, fake_twilio, "support")
    await text_in(http, system, phone, "0, nobody ever called me back about my complaint")
    texts = await wait_for(fake_twilio, phone, 3)
    assert texts[2] == RECOVERY.offer_question
    await text_in(http, system, phone, "Yes")
    assert (await wait_for(fake_twilio, phone, 4))[3].startswith("Thank you. A person")
    (handoff,) = handoffs_of(system, body["survey_id"])
    assert (handoff.reason, handoff.state) == ("severe_detractor", "waiting")


async def accepts_the_offer(chat: ChatClient) -> str:
    await chat.say("1")
    assert (await chat.say("Nobody helped me at all"))[-1] == RECOVERY.offer_question
    (said,) = await chat.say("yes")
    assert said.startswith("Thank you. A person from our team will reply here ")
    return said


async def asks_for_a_person(chat: ChatClient) -> str:
    (said,) = await chat.say("Can I talk to a real person please")
    assert is_handoff_message(said), said
    return said


async def is_not_understood_twice(chat: ChatClient) -> str:
    await chat.say("very likely")
    (said,) = await chat.say("7 or 8")
    assert is_handoff_message(said, NOT_UNDERSTOOD), said
    return said


@pytest.mark.parametrize("path", [accepts_the_offer, asks_for_a_person, is_not_understood_twice])
@pytest.mark.parametrize(
    ("now", "when"),
    [
        (datetime(2026, 11, 21, 12, 0, tzinfo=UTC), "on Monday at 09:00"),  # a Saturday
        (datetime(2026, 11, 23, 7, 30, tzinfo=UTC), "today at 09:00"),  # Monday, early
        (datetime(2026, 11, 23, 10, 0, tzinfo=UTC), "shortly"),  # Monday, open
    ],
)
async def test_the_customer_is_told_when_a_person_will_reply(
    system: System,
    fake_twilio: FakeTwilio,
    now: datetime,
    when: str,
    path: Callable[[ChatClient], Awaitable[str]],
) -> None:
    """Business hours (Mon–Fri 09:00–17:30 London) with an injected clock, on
    each way to a person: the app in-process on that clock, against the running
    Rasa and action server, which keep the app's clock for the conversation."""
    app = create_app(settings_for(system, fake_twilio), clock=lambda: now, run_scheduler=False)
    async with TestClient(TestServer(app)) as client, client.ws_connect("/chat") as ws:
        chat = ChatClient(ws)  # type: ignore[arg-type]
        await chat.start(touchpoint="support")
        said = await path(chat)
        assert said.endswith(f" {when}."), said
        (handoff,) = handoffs_of(system, chat.survey_id or "")
        assert handoff.created_at == now


async def test_on_the_web_two_answers_not_understood_go_to_a_person_and_back(
    system: System, chat: ChatClient, http: aiohttp.ClientSession
) -> None:
    """The third trigger, the whole loop: two unclear answers to the score
    question, an agent replies in the widget, the customer answers the agent,
    the agent resolves, the bot asks the recovery question."""
    _, question = await chat.start(touchpoint="checkout")
    (reask,) = await chat.say("very likely")
    assert reask != question and "0" in reask and "10" in reask  # explains the scale
    (handed,) = await chat.say("7 or 8")
    assert is_handoff_message(handed, NOT_UNDERSTOOD), handed
    survey_id = chat.survey_id or ""
    (handoff,) = handoffs_of(system, survey_id)
    assert (handoff.reason, handoff.state, handoff.urgency) == ("not_understood", "waiting", 1)
    assert handoff.detail == "not understood: 'very likely' / '7 or 8'"
    assert (system.survey(survey_id).state, system.survey(survey_id).state_reason) == (
        "left",
        "handed to a person",
    )
    await agent_loop(system, http, handoff.id, chat=chat)
    assert await chat.say("yes it did") == [RECOVERY.recovery_thanks]
    (done,) = handoffs_of(system, survey_id)
    assert (done.state, done.recovery_answer) == ("resolved", "yes")


async def test_by_sms_two_answers_not_understood_go_to_a_person_and_back(
    system: System, fake_twilio: FakeTwilio, http: aiohttp.ClientSession
) -> None:
    phone, body = await sms_survey(http, system, fake_twilio, "delivery")
    await text_in(http, system, phone, "dunno")
    await wait_for(fake_twilio, phone, 2)  # re-asked
    await text_in(http, system, phone, "eleven out of ten")
    texts = await wait_for(fake_twilio, phone, 3)
    assert is_handoff_message(texts[2], NOT_UNDERSTOOD), texts[2]
    (handoff,) = handoffs_of(system, body["survey_id"])
    assert (handoff.reason, handoff.urgency) == ("not_understood", 1)
    await agent_loop(system, http, handoff.id, phone=phone, fake=fake_twilio)
    await text_in(http, system, phone, "no")
    assert (await wait_for(fake_twilio, phone, 6))[-1] == RECOVERY.recovery_thanks
    (done,) = handoffs_of(system, body["survey_id"])
    assert (done.state, done.recovery_answer) == ("resolved", "no")


async def test_after_the_survey_two_messages_not_understood_go_to_a_person(
    system: System, chat: ChatClient
) -> None:
    await chat.start(touchpoint="support")
    await chat.say("9")
    await chat.say("Quick and friendly")
    (first,) = await chat.say(UNCLEAR[0])
    assert first in response_texts("utter_default")
    (second,) = await chat.say(UNCLEAR[1])
    assert is_handoff_message(second, NOT_UNDERSTOOD), second
    (handoff,) = handoffs_of(system, chat.survey_id or "")
    assert handoff.reason == "not_understood"
    assert handoff.detail == f"not understood: {UNCLEAR[0]!r} / {UNCLEAR[1]!r}"
    assert system.survey(chat.survey_id or "").state == "completed"  # the answers stay


async def test_an_understood_message_breaks_the_run(system: System, chat: ChatClient) -> None:
    await chat.start(touchpoint="support")
    await chat.say("9")
    await chat.say("Quick and friendly")
    assert (await chat.say(UNCLEAR[0]))[0] in response_texts("utter_default")
    (explained,) = await chat.say("what is this?")
    assert explained.startswith("This is a short feedback survey about ")
    assert (await chat.say(UNCLEAR[1]))[0] in response_texts("utter_default")
    assert handoffs_of(system, chat.survey_id or "") == []


async def agent_loop(
    system: System,
    http: aiohttp.ClientSession,
    handoff_id: str,
    chat: ChatClient | None = None,
    phone: str = "",
    fake: FakeTwilio | None = None,
) -> None:
    """An agent claims and replies; the reply reaches the customer's channel;
    the customer's answer reaches the agent, not the bot; the agent resolves
    and the recovery question goes out."""
    api = f"{system.base_url}/api/handoffs/{handoff_id}"
    async with http.post(f"{api}/claim", json={"agent": "kim"}, headers=agent()) as r:
        assert r.status == 200
    reply = "Hi, Kim here. How can I help?"
    async with http.post(
        f"{api}/reply", json={"agent": "kim", "text": reply}, headers=agent()
    ) as r:
        assert r.status == 200
    answer = "I just wanted to say the checkout page froze"
    if chat is not None:
        assert await chat.ws.receive_json(timeout=10) == {"type": "agent", "text": reply}
        assert await chat.say(answer) == []  # to Kim, not the bot
    else:
        assert fake is not None and fake.to(phone)[-1] == reply
        sent = len(fake.to(phone))
        await text_in(http, system, phone, answer)
    for _ in range(50):  # an SMS turn is handled in the background
        async with http.get(api, headers=agent()) as r:
            transcript = (await r.json())["transcript"]
        if transcript[-1]["text"] == answer:
            break
        await asyncio.sleep(0.1)
    assert [(m["author"], m["text"]) for m in transcript[-2:]] == [
        ("agent", reply),
        ("customer", answer),
    ]
    async with http.post(
        f"{api}/resolve", json={"agent": "kim", "code": "answered"}, headers=agent()
    ) as r:
        assert r.status == 200
    if chat is not None:
        question = await chat.ws.receive_json(timeout=10)
        assert question == {"type": "bot", "text": RECOVERY.recovery_question, "buttons": []}
    else:
        assert fake is not None and fake.to(phone)[-1] == RECOVERY.recovery_question
        assert len(fake.to(phone)) == sent + 1  # no bot reply to the customer's answer
