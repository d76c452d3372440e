"""The SMS channel end to end: the survey API, the real `twilio` library
talking to a fake Twilio API, signed webhooks, keywords and opt-outs."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator

from bot.app import create_app
from bot.sms.keywords import Keyword, keyword_of
from bot.sms.webhooks import handle_lapsed
from feedbot.store.models import InboundSms, Message, OptOut
from tests.chat import CONFIG, about, follow_up, response_texts
from tests.conftest import API_TOKEN, settings_for
from tests.fake_twilio import AUTH_TOKEN, FakeTwilio
from tests.system import System

pytestmark = pytest.mark.system
_numbers = count(100)


def new_number() -> str:
    """A different valid UK mobile number for every test."""
    return f"+4479111{next(_numbers):05d}"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def create(
    http: aiohttp.ClientSession, system: System, token: str | None = API_TOKEN, **body: object
) -> tuple[int, dict]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with http.post(f"{system.base_url}/api/surveys", json=body, headers=headers) as resp:
        return resp.status, await resp.json()


async def text_in(
    http: aiohttp.ClientSession,
    system: System,
    phone: str,
    body: str,
    sid: str | None = None,
    signature: str | None = None,
) -> int:
    """POST a text as Twilio would, signed with the account's auth token."""
    form = {"MessageSid": sid or "SM" + uuid.uuid4().hex, "From": phone, "Body": body}
    url = f"{system.base_url}/sms/inbound"
    signed = RequestValidator(AUTH_TOKEN).compute_signature(url, form)
    async with http.post(
        url, data=form, headers={"X-Twilio-Signature": signature or signed}
    ) as resp:
        assert resp.status != 200 or "<Response>" in await resp.text()
        return resp.status


async def wait_for(fake: FakeTwilio, phone: str, n: int) -> list[str]:
    return await asyncio.to_thread(fake.wait_for, phone, n)


async def surveyed(
    http: aiohttp.ClientSession, system: System, fake: FakeTwilio, touchpoint: str
) -> tuple[str, dict]:
    """A new number sent an SMS survey: (the number, the API's answer) once
    its first text has arrived."""
    phone = new_number()
    status, body = await create(http, system, channel="sms", phone=phone, touchpoint=touchpoint)
    assert status == 201 and body["status"] == "sent", body
    await wait_for(fake, phone, 1)
    return phone, body


async def test_a_survey_by_sms_from_api_call_to_stored_response(
    http: aiohttp.ClientSession, system: System, fake_twilio: FakeTwilio
) -> None:
    phone = new_number()
    status, body = await create(
        http,
        system,
        channel="sms",
        phone=phone.replace("+44", "0"),
        touchpoint="delivery",
        location="store-12",
        interaction_id=f"order-{phone}",
    )
    assert status == 201 and body["status"] == "sent"
    # One first text (to the number normalised to E.164): who is writing, the
    # greeting and the question, and how to stop.
    (opening,) = await wait_for(fake_twilio, phone, 1)
    assert opening.startswith("Northwind Goods: ") and opening.endswith("Reply STOP to opt out.")
    assert "your recent delivery" in opening and "0" in opening and "10" in opening

    assert await text_in(http, system, phone, "8") == 200
    assert (await wait_for(fake_twilio, phone, 2))[1] == follow_up("delivery", "passive")
    await text_in(http, system, phone, "The driver left it in the rain")
    thanks = (await wait_for(fake_twilio, phone, 3))[2]
    assert thanks in response_texts("utter_thanks")

    survey = system.survey(body["survey_id"])
    assert (survey.channel, survey.customer_ref, survey.state) == ("sms", phone, "completed")
    assert survey.response is not None and survey.response.score == 8
    assert survey.response.reason == "The driver left it in the rain"
    assert survey.sent_at is not None
    transcript = system.transcript(survey.id)
    assert [a for a, _ in transcript] == ["bot", "customer", "bot", "customer", "bot"]
    assert transcript[0] == ("bot", opening)  # the transcript holds what was texted

    # Twilio reports delivery; the message's status follows.
    sid = next(m["sid"] for m in fake_twilio.messages if m["Body"] == thanks and m["To"] == phone)
    form = {"MessageSid": sid, "MessageStatus": "delivered"}
    url = f"{system.base_url}/sms/status"
    signature = RequestValidator(AUTH_TOKEN).compute_signature(url, form)
    async with http.post(url, data=form, headers={"X-Twilio-Signature": signature}) as resp:
        assert resp.status == 204
    with Session(system.engine) as session:
        message = session.scalar(select(Message).where(Message.external_id == f"sms:{sid}"))
        assert message is not None and message.delivery_status == "delivered"


async def test_a_forged_webhook_is_refused_and_nothing_stored(
    http: aiohttp.ClientSession, system: System, fake_twilio: FakeTwilio
) -> None:
    phone = new_number()
    sid = "SM" + uuid.uuid4().hex
    assert await text_in(http, system, phone, "STOP", sid=sid, signature="forged") == 403
    await asyncio.sleep(0.5)
    with Session(system.engine) as session:
        assert session.scalar(select(Message).where(Message.external_id == f"sms:{sid}")) is None
        assert session.get(OptOut, phone) is None
    assert fake_twilio.to(phone) == []


async def test_the_same_message_sid_twice_is_one_turn(
    http: aiohttp.ClientSession, system: System, fake_twilio: FakeTwilio
) -> None:
    phone, body = await surveyed(http, system, fake_twilio, "support")
    sid = "SM" + uuid.uuid4().hex
    await text_in(http, system, phone, "9", sid=sid)
    await text_in(http, system, phone, "9", sid=sid)  # Twilio retried
    await wait_for(fake_twilio, phone, 2)
    await asyncio.sleep(1.5)
    assert len(fake_twilio.to(phone)) == 2  # one follow-up, not two
    customer = [t for a, t in system.transcript(body["survey_id"]) if a == "customer"]
    assert customer == ["9"]


async def test_stop_start_help_and_yes(
    http: aiohttp.ClientSession, system: System, fake_twilio: FakeTwilio
) -> None:
    phone, _ = await surveyed(http, system, fake_twilio, "support")
    await text_in(http, system, phone, "  stop ")
    assert "START" in (await wait_for(fake_twilio, phone, 2))[1]  # confirmed once
    await text_in(http, system, phone, "STOP")
    await text_in(http, system, phone, "hello?")
    await asyncio.sleep(1.5)
    assert len(fake_twilio.to(phone)) == 2  # then silence

    status, body = await create(http, system, channel="sms", phone=phone, touchpoint="checkout")
    assert (status, body["status"], body["reason"]) == (201, "suppressed", "opted out")

    await text_in(http, system, phone, "Help")  # help is answered even when opted out
    helped = (await wait_for(fake_twilio, phone, 3))[2]
    assert helped.startswith("Northwind Goods: ") and "STOP" in helped
    assert "your recent experience with us" in helped  # no survey open: nothing particular
    await text_in(http, system, phone, "yes")  # YES opts back in an opted-out number
    assert "opted back in" in (await wait_for(fake_twilio, phone, 4))[3]
    # Opted in again, but surveyed minutes ago: the minimum gap holds.
    status, body = await create(http, system, channel="sms", phone=phone, touchpoint="checkout")
    assert (body["status"], body["state"]) == ("suppressed", "suppressed")
    assert "minimum gap is 30 days" in body["reason"]


async def test_help_says_who_is_writing_and_what_the_open_survey_is_about(
    http: aiohttp.ClientSession, system: System, fake_twilio: FakeTwilio
) -> None:
    phone, _ = await surveyed(http, system, fake_twilio, "checkout")
    await text_in(http, system, phone, "HELP")
    helped = (await wait_for(fake_twilio, phone, 2))[1]
    assert helped == (
        "Northwind Goods: a short feedback survey about your recent checkout on our website. "
        "Reply to this text to answer, or STOP to stop all messages."
    )


async def test_a_text_with_no_open_survey_gets_a_short_answer(
    http: aiohttp.ClientSession, system: System, fake_twilio: FakeTwilio
) -> None:
    phone = new_number()
    await text_in(http, system, phone, "hi, who is this?")
    (reply,) = await wait_for(fake_twilio, phone, 1)
    assert "no open survey" in reply


async def test_an_sms_with_no_words_gets_a_polite_re_ask(
    http: aiohttp.ClientSession, system: System, fake_twilio: FakeTwilio
) -> None:
    phone, _ = await surveyed(http, system, fake_twilio, "support")
    await text_in(http, system, phone, "   ")  # a picture with no words, say
    assert (await wait_for(fake_twilio, phone, 2))[1] == "Please type a message before sending."
    await text_in(http, system, phone, "9")  # and the survey carries on
    assert len(await wait_for(fake_twilio, phone, 3)) == 3


async def test_a_stray_text_is_stored_within_the_length_limit(
    http: aiohttp.ClientSession, system: System, fake_twilio: FakeTwilio
) -> None:
    phone = new_number()
    await text_in(http, system, phone, "x" * 5000)  # no open survey
    await wait_for(fake_twilio, phone, 1)
    with Session(system.engine) as session:
        stored = session.scalars(select(Message.text).where(Message.peer == phone)).all()
    assert [len(t) for t in stored if t.startswith("x")] == [2000]


async def test_a_text_is_stored_before_twilio_is_answered_and_handled_after_a_crash(
    http: aiohttp.ClientSession, system: System, fake_twilio: FakeTwilio
) -> None:
    phone, body = await surveyed(http, system, fake_twilio, "support")
    # Acknowledged: already in the inbox by the time Twilio has its 200.
    sid = "SM" + uuid.uuid4().hex
    assert await text_in(http, system, phone, "I'd say 8", sid=sid) == 200
    with Session(system.engine) as session:
        stored = session.get(InboundSms, sid)
        assert stored is not None and (stored.phone, stored.body) == (phone, "I'd say 8")
    await wait_for(fake_twilio, phone, 2)
    # A text that an app stopped before handling (stored, claimed, never
    # handled) is handled by a later round of another app: once.
    lost = "SM" + uuid.uuid4().hex
    long_ago = datetime.now(UTC) - timedelta(minutes=10)
    with Session(system.engine) as session, session.begin():
        session.add(
            InboundSms(
                sid=lost, phone=phone, body="the hold music", received_at=long_ago,
                claimed_at=long_ago, attempts=1,
            )
        )  # fmt: skip
    app = create_app(settings_for(system, fake_twilio), run_scheduler=False)
    async with TestClient(TestServer(app)):
        assert await handle_lapsed(app) == 1
        assert await handle_lapsed(app) == 0  # handled: not again
    await wait_for(fake_twilio, phone, 3)
    customer = [t for a, t in system.transcript(body["survey_id"]) if a == "customer"]
    assert customer == ["I'd say 8", "the hold music"]
    with Session(system.engine) as session:
        assert session.get(InboundSms, lost).handled_at is not None  # type: ignore[union-attr]


async def test_twilio_failing_twice_then_succeeding_delivers_once(
    http: aiohttp.ClientSession, system: System, fake_twilio: FakeTwilio
) -> None:
    phone = new_number()
    before = fake_twilio.attempts
    fake_twilio.fail_next(500, 429)
    _, body = await create(http, system, channel="sms", phone=phone, touchpoint="support")
    assert body["status"] == "sent"
    await wait_for(fake_twilio, phone, 1)
    await asyncio.sleep(1)
    assert len(fake_twilio.to(phone)) == 1  # once
    assert fake_twilio.attempts - before == 3  # 2 failures + the one first text


async def test_a_permanent_twilio_failure_is_recorded(
    http: aiohttp.ClientSession, system: System, fake_twilio: FakeTwilio
) -> None:
    fake_twilio.fail_next(400)
    status, body = await create(
        http, system, channel="sms", phone=new_number(), touchpoint="support"
    )
    assert (status, body["status"]) == (201, "failed")
    assert "Twilio 400" in body["reason"]
    with Session(system.engine) as session:
        sent = session.scalars(select(Message).where(Message.survey_id == body["survey_id"]))
        assert [m.delivery_status for m in sent] == ["error"]


@pytest.mark.parametrize(
    ("token", "body", "status", "message"),
    [
        (None, {"channel": "web", "touchpoint": "support"}, 401, "API token"),
        ("wrong", {"channel": "web", "touchpoint": "support"}, 401, "API token"),
        (API_TOKEN, {"channel": "fax", "touchpoint": "support"}, 400, "channel"),
        (API_TOKEN, {"channel": "web", "touchpoint": "moon"}, 400, "Unknown touchpoint"),
        (API_TOKEN, {"channel": "sms", "touchpoint": "support"}, 400, "phone number"),
        (API_TOKEN, {"channel": "sms", "touchpoint": "support", "phone": "12"}, 400, "'12'"),
        (API_TOKEN, {"channel": "web", "touchpoint": "support", "colour": 1}, 400, "colour"),
    ],
)
async def test_bad_api_requests_get_clear_4xx(
    http: aiohttp.ClientSession,
    system: System,
    token: str | None,
    body: dict,
    status: int,
    message: str,
) -> None:
    got_status, got = await create(http, system, token=token, **body)
    assert got_status == status
    assert message in got["error"]


async def test_a_web_survey_gets_a_link_and_an_interaction_is_surveyed_once(
    http: aiohttp.ClientSession, system: System
) -> None:
    interaction = f"ticket-{uuid.uuid4().hex[:8]}"
    status, first = await create(
        http,
        system,
        channel="web",
        touchpoint="support",
        customer_id="C-1",
        interaction_id=interaction,
    )
    assert status == 201 and first["link"].endswith(f"/s/{first['survey_id']}")
    status, again = await create(
        http, system, channel="web", touchpoint="support", interaction_id=interaction
    )
    assert status == 200 and again["duplicate"] is True
    assert again["survey_id"] == first["survey_id"]
    async with http.get(first["link"]) as resp:
        assert resp.status == 200
    async with http.post(
        f"{system.base_url}/api/surveys",
        data="{not json",
        headers={"Authorization": f"Bearer {API_TOKEN}"},
    ) as resp:
        assert resp.status == 400 and "JSON" in (await resp.json())["error"]


async def test_contact_rules_gap_across_channels_and_sampling(
    http: aiohttp.ClientSession, system: System, fake_twilio: FakeTwilio
) -> None:
    phone = new_number()
    _, first = await create(http, system, channel="sms", phone=phone, touchpoint="delivery")
    assert first["status"] == "sent"
    _, second = await create(http, system, channel="sms", phone=phone, touchpoint="support")
    assert second["status"] == "suppressed" and "minimum gap" in second["reason"]
    assert len(await wait_for(fake_twilio, phone, 1)) == 1  # nothing more was sent
    # The same customer reference on the web channel is held to the same gap.
    _, web = await create(http, system, channel="web", touchpoint="support", customer_id="C-77")
    assert web["status"] == "sent" and "link" in web
    _, again = await create(http, system, channel="web", touchpoint="checkout", customer_id="C-77")
    assert again["status"] == "suppressed" and "link" not in again
    # store_visit samples 0% in the test configuration.
    _, unsampled = await create(
        http, system, channel="sms", phone=new_number(), touchpoint="store_visit"
    )
    assert unsampled["status"] == "suppressed" and "not sampled" in unsampled["reason"]


async def test_every_decision_can_be_read_back(
    http: aiohttp.ClientSession, system: System, fake_twilio: FakeTwilio
) -> None:
    phone, sent = await surveyed(http, system, fake_twilio, "support")
    _, held = await create(http, system, channel="sms", phone=phone, touchpoint="delivery")
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    async with http.get(f"{system.base_url}/api/surveys/{sent['survey_id']}", headers=headers) as r:
        body = await r.json()
    assert (r.status, body["status"], body["sent_at"] is not None) == (200, "sent", True)
    assert [m["delivery_status"] for m in body["messages"]] == ["queued"]
    async with http.get(f"{system.base_url}/api/surveys/{held['survey_id']}", headers=headers) as r:
        body = await r.json()
    assert body["status"] == "suppressed" and "minimum gap" in body["reason"]
    assert body["messages"] == []
    async with http.get(f"{system.base_url}/api/surveys/nope", headers=headers) as r:
        assert r.status == 404 and "No survey" in (await r.json())["error"]
    async with http.get(f"{system.base_url}/api/surveys/{sent['survey_id']}") as r:
        assert r.status == 401


def test_bulk_send_from_a_csv_is_safe_to_re_run(
    system: System, fake_twilio: FakeTwilio, tmp_path: Path
) -> None:
    a, b = new_number(), new_number()
    tag = uuid.uuid4().hex[:6]
    csv_file = tmp_path / "interactions.csv"
    csv_file.write_text(
        "channel,phone,customer_id,touchpoint,location,interaction_id\n"
        f"sms,{a},,delivery,store-12,{tag}-1\n"
        f"sms,{b},,support,,{tag}-2\n"
        f"web,,C-{tag},checkout,,{tag}-3\n"
        f"sms,12,,support,,{tag}-4\n"
        f"sms,{new_number()},,moon,,{tag}-5\n"
        f"sms,{new_number()},,support,,\n"
    )
    env = {**os.environ, "FEEDBOT_API_TOKEN": API_TOKEN}
    command = [sys.executable, "-m", "commands.cli", "survey", "send", "--csv", str(csv_file)]
    first = subprocess.run(
        [*command, "--url", system.base_url], env=env, capture_output=True, text=True, timeout=120
    )
    assert first.returncode == 1  # some rows were invalid
    assert "6 rows: 3 sent, 0 scheduled, 0 suppressed, 0 already sent, 0 failed, 3 invalid" in (
        first.stderr
    )
    assert "line 5: invalid" in first.stderr and "line 6: invalid" in first.stderr
    assert "no interaction_id" in first.stderr
    assert len(fake_twilio.wait_for(a, 1)) == 1 and len(fake_twilio.wait_for(b, 1)) == 1

    again = subprocess.run(
        [*command, "--url", system.base_url], env=env, capture_output=True, text=True, timeout=120
    )
    assert "3 already sent" in again.stderr and "0 sent" in again.stderr
    assert len(fake_twilio.to(a)) == 1 and len(fake_twilio.to(b)) == 1  # nothing sent twice


def test_bulk_send_names_a_bad_file(tmp_path: Path) -> None:
    csv_file = tmp_path / "bad.csv"
    csv_file.write_text("phone,touchpoint\n+447911100100,support\n")
    result = subprocess.run(
        [sys.executable, "-m", "commands.cli", "survey", "send", "--csv", str(csv_file)],
        env={**os.environ, "FEEDBOT_API_TOKEN": API_TOKEN},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "the header needs channel, interaction_id" in result.stderr


@pytest.mark.parametrize(
    ("body", "opted_out", "keyword"),
    [
        ("BAJA", False, Keyword.STOP),
        (" parar ", False, Keyword.STOP),
        ("Cancelar.", False, Keyword.STOP),
        ("ALTO", False, Keyword.STOP),
        ("ayuda", False, Keyword.HELP),
        ("ALTA", True, Keyword.START),
        ("Comenzar", True, Keyword.START),
        ("Sí", True, Keyword.START),  # like YES: only from a number that opted out
        ("si", True, Keyword.START),
        ("Sí", False, None),
        ("dame de baja", False, None),  # a whole message is a keyword, or none is
        ("STOP", False, Keyword.STOP),  # English still honoured
    ],
)
def test_spanish_carrier_keywords_are_honoured_in_any_survey(
    body: str, opted_out: bool, keyword: Keyword | None
) -> None:
    assert keyword_of(body, opted_out) == keyword


async def test_the_locale_is_kept_or_told_by_the_numbers_country(
    http: aiohttp.ClientSession, system: System, fake_twilio: FakeTwilio
) -> None:
    """Given: kept as a tag ("es-mx" -> "es-MX"). Not given, by SMS: Spanish
    for a number in Spain or Spanish-speaking Latin America, else the
    default. A language Feedbot does not speak is a 400 that says which it does."""
    status, body = await create(
        http, system, channel="web", touchpoint="support", customer_id="C-es", locale="es-mx"
    )
    assert (status, body["locale"]) == (201, "es-MX")
    assert system.survey(body["survey_id"]).locale == "es-MX"
    spain, mexico = "+34612345678", "+525512345678"
    for phone, expected in [(spain, "es"), (mexico, "es"), (new_number(), None)]:
        status, body = await create(http, system, channel="sms", phone=phone, touchpoint="support")
        assert status == 201, body
        assert system.survey(body["survey_id"]).locale == expected, phone
    status, body = await create(http, system, channel="web", touchpoint="support", locale="fr")
    assert status == 400 and "use one of en, es" in body["error"]


async def test_a_spanish_survey_by_sms_in_spanish_throughout(
    http: aiohttp.ClientSession, system: System, fake_twilio: FakeTwilio
) -> None:
    """A number in Spain, no locale given: the survey is Spanish, from the
    first text (the operator's Spanish frame, how to stop in Spanish) to the
    thanks; HELP and STOP are answered in Spanish; the answers are read in
    Spanish."""
    phone = f"+3461{next(_numbers):07d}"
    status, body = await create(http, system, channel="sms", phone=phone, touchpoint="delivery")
    assert (status, body["status"], body["locale"]) == (201, "sent", "es")
    (opening,) = await wait_for(fake_twilio, phone, 1)
    spanish = CONFIG.in_language("es")
    assert opening.startswith("Northwind Goods: ")
    assert opening.endswith("Responda STOP o BAJA para no recibir más mensajes.")
    assert about("delivery", "es") in opening and "nada probable" in opening

    await text_in(http, system, phone, "AYUDA")
    helped = (await wait_for(fake_twilio, phone, 2))[1]
    assert helped == spanish.sms.say("help", about=about("delivery", "es"))

    await text_in(http, system, phone, "le doy un 3")
    assert (await wait_for(fake_twilio, phone, 3))[2] == follow_up("delivery", "detractor", "es")
    await text_in(http, system, phone, "el paquete llegó roto y nadie contesta")
    replies = await wait_for(fake_twilio, phone, 5)
    assert replies[3] in response_texts("utter_thanks", "es")
    assert replies[4] == spanish.handoff.offer_question  # a severe detractor: a person offered
    survey = system.survey(body["survey_id"])
    assert survey.response is not None and survey.response.score == 3
    assert survey.response.sentiment == "negative"
    assert {"delivery", "communication"} <= set(system.themes(survey.id))

    await text_in(http, system, phone, "no, gracias")
    assert (await wait_for(fake_twilio, phone, 6))[5] == spanish.handoff.offer_declined
    await text_in(http, system, phone, "BAJA")
    stopped = (await wait_for(fake_twilio, phone, 7))[6]
    assert stopped == spanish.sms.say("stop_confirmation")


async def test_a_spanish_keyword_from_a_number_without_a_survey_is_answered_in_spanish(
    http: aiohttp.ClientSession, system: System, fake_twilio: FakeTwilio
) -> None:
    phone = new_number()  # a UK number: English, unless the keyword is Spanish
    await text_in(http, system, phone, "AYUDA")
    (helped,) = await wait_for(fake_twilio, phone, 1)
    assert "su experiencia reciente con nosotros" in helped and "STOP" in helped
    await text_in(http, system, phone, "HELP")
    assert "your recent experience with us" in (await wait_for(fake_twilio, phone, 2))[1]


async def test_a_language_this_deployment_does_not_run_is_refused_clearly(
    http: aiohttp.ClientSession, system: System, fake_twilio: FakeTwilio
) -> None:
    """A Feedbot started without its Spanish model (no RASA_URL_ES) refuses a
    Spanish survey with a 400 that says what to set, and guesses no Spanish
    from a number's country."""
    settings = dataclasses.replace(settings_for(system, fake_twilio), language_rasa_urls=())
    app = create_app(settings)
    async with TestClient(TestServer(app)) as client:
        headers = {"Authorization": f"Bearer {API_TOKEN}"}
        resp = await client.post(
            "/api/surveys",
            json={"channel": "web", "touchpoint": "support", "locale": "es"},
            headers=headers,
        )
        assert resp.status == 400
        assert "RASA_URL_ES" in (await resp.json())["error"]
        resp = await client.post(
            "/api/surveys",
            json={"channel": "web", "touchpoint": "support", "customer_id": "C-es-x"},
            headers=headers,
        )
        assert resp.status == 201 and (await resp.json())["locale"] is None
