"""End to end: a customer on the web widget's WebSocket, through the real app,
Rasa (trained model) and action server, checked in the database."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from feedbot.settings import PROJECT_ROOT
from tests.chat import ChatClient, follow_up, response_texts, response_variations
from tests.system import System, free_port

pytestmark = pytest.mark.system


@pytest.fixture
async def chat(system: System) -> AsyncIterator[ChatClient]:
    async with aiohttp.ClientSession() as http, http.ws_connect(system.ws_url) as ws:
        yield ChatClient(ws)


async def test_a_promoter_is_stored_with_reason_and_transcript(
    system: System, chat: ChatClient
) -> None:
    opening = await chat.start(touchpoint="delivery", location="store-12")
    assert len(opening) == 2
    assert "your recent delivery" in opening[0]
    assert "0" in opening[1] and "10" in opening[1]

    assert await chat.say("9") == [follow_up("delivery", "promoter")]
    thanks = await chat.say("The driver was lovely and early")
    assert len(thanks) == 1 and thanks[0] in response_texts("utter_thanks")

    survey = system.survey(chat.survey_id or "")
    assert (survey.channel, survey.touchpoint, survey.location) == ("web", "delivery", "store-12")
    assert survey.state == "completed"
    assert survey.response is not None
    assert (survey.response.score, survey.response.category) == (9, "promoter")
    assert survey.response.reason == "The driver was lovely and early"
    assert survey.started_at is not None and survey.completed_at is not None
    assert survey.response.scored_at is not None and survey.response.reason_at is not None
    assert (
        survey.created_at
        <= survey.started_at
        <= survey.response.scored_at
        <= survey.response.reason_at
        <= survey.completed_at
    )
    assert system.transcript(survey.id) == [
        ("bot", opening[0]),
        ("bot", opening[1]),
        ("customer", "9"),
        ("bot", follow_up("delivery", "promoter")),
        ("customer", "The driver was lovely and early"),
        ("bot", thanks[0]),
    ]


@pytest.mark.parametrize(
    ("touchpoint", "score", "category"),
    [
        ("support", "2", "detractor"),
        ("support", "8", "passive"),
        ("store_visit", "6", "detractor"),
        ("checkout", "7", "passive"),
        ("checkout", "10", "promoter"),
    ],
)
async def test_the_why_question_fits_category_and_touchpoint(
    system: System, chat: ChatClient, touchpoint: str, score: str, category: str
) -> None:
    await chat.start(touchpoint=touchpoint)
    assert await chat.say(score) == [follow_up(touchpoint, category)]
    survey = system.survey(chat.survey_id or "")
    assert survey.response is not None and survey.response.category == category


async def test_leaving_halfway_keeps_the_score_as_a_partial_response(
    system: System, chat: ChatClient
) -> None:
    await chat.start(touchpoint="support")
    await chat.say("4")
    await chat.ws.close()
    survey = system.survey(chat.survey_id or "")
    assert survey.state == "started"
    assert survey.response is not None
    assert (survey.response.score, survey.response.category) == (4, "detractor")
    assert survey.response.reason is None and survey.completed_at is None


@pytest.mark.parametrize("ask_again", ["I'd like to give feedback", "can I rate you"])
async def test_asking_again_after_finishing_does_not_replay_the_survey(
    system: System, chat: ChatClient, ask_again: str
) -> None:
    await chat.start(touchpoint="support")
    await chat.say("8")
    await chat.say("quick answer")
    (reply,) = await chat.say(ask_again)
    assert reply in response_texts("utter_survey_over")
    survey = system.survey(chat.survey_id or "")
    assert survey.state == "completed"
    assert survey.response is not None and survey.response.reason == "quick answer"


async def test_a_vague_reason_gets_one_probing_question(system: System, chat: ChatClient) -> None:
    await chat.start(touchpoint="store_visit")
    await chat.say("5")
    (probe,) = await chat.say("idk")
    detractor_probe = [
        v["text"]
        for v in response_variations("utter_ask_follow_up")
        if v.get("condition", [{}])[0].get("value") == "detractor"
    ]
    assert probe in detractor_probe
    (thanks,) = await chat.say("the fitting rooms were filthy and nobody helped")
    assert thanks in response_texts("utter_thanks")
    survey = system.survey(chat.survey_id or "")
    assert survey.state == "completed"
    assert survey.response is not None
    assert (survey.response.reason, survey.response.follow_up) == (
        "idk",
        "the fitting rooms were filthy and nobody helped",
    )
    assert system.themes(survey.id) == ["facilities", "staff"]
    assert survey.response.sentiment == "negative"


async def test_the_probing_question_can_be_skipped(system: System, chat: ChatClient) -> None:
    await chat.start(touchpoint="support")
    await chat.say("9")
    await chat.say("just because")
    (reply,) = await chat.say("skip")
    assert reply in response_texts("utter_thanks")
    survey = system.survey(chat.survey_id or "")
    assert survey.state == "completed"
    assert survey.response is not None and survey.response.follow_up is None


async def test_a_score_and_reason_in_one_message_are_not_asked_why_again(
    system: System, chat: ChatClient
) -> None:
    await chat.start(touchpoint="support")
    # (4: a detractor, but not severe, so no offer of a person follows the thanks)
    (reply,) = await chat.say("4. Waited 40 minutes on hold")
    assert reply in response_texts("utter_thanks")
    survey = system.survey(chat.survey_id or "")
    assert survey.state == "completed"
    assert survey.response is not None
    assert (survey.response.score, survey.response.reason) == (4, "Waited 40 minutes on hold")
    assert system.themes(survey.id) == ["wait_time"]
    assert survey.response.sentiment == "negative"


async def test_saying_goodbye_halfway_is_recorded_as_left(system: System, chat: ChatClient) -> None:
    await chat.start(touchpoint="support")
    await chat.say("5")
    (goodbye,) = await chat.say("sorry, gotta go")
    assert goodbye in response_texts("utter_goodbye")
    survey = system.survey(chat.survey_id or "")
    assert survey.state == "left"
    assert survey.response is not None and survey.response.score == 5


async def test_declining_ends_the_survey_politely(system: System, chat: ChatClient) -> None:
    await chat.start(touchpoint="store_visit")
    (reply,) = await chat.say("I'd rather not answer")
    # One of the wordings for "no score given" (the last variation is for "score given").
    declined = [v for v in response_variations("utter_survey_declined") if v.get("condition")]
    assert reply in {v["text"] for v in declined}
    (after,) = await chat.say("ok")
    assert after in response_texts("utter_survey_over")  # answers, without asking again
    survey = system.survey(chat.survey_id or "")
    assert survey.state == "declined"
    assert survey.response is None


async def test_asking_what_this_is_explains_and_asks_again(
    system: System, chat: ChatClient
) -> None:
    await chat.start(touchpoint="support")
    explanation, question = await chat.say("what is this?")
    assert "survey" in explanation.lower()
    assert "0" in question and "10" in question
    assert await chat.say("10") == [follow_up("support", "promoter")]


async def test_bad_frames_get_clear_errors_and_the_chat_goes_on(
    system: System, chat: ChatClient
) -> None:
    ws = chat.ws
    await ws.send_json({"type": "message", "text": "hello", "id": "early"})
    assert "start" in (await chat.frames_until("error"))[-1]["message"].lower()
    await chat.start(touchpoint="support")
    bad = [
        ("not json at all", "valid JSON"),
        ('["a list"]', '"type"'),
        ('{"type": "dance"}', "Unknown frame type"),
        ('{"type": "message", "text": 42, "id": "x1"}', '"text"'),
        ('{"type": "message", "text": "", "id": "x2"}', "type a message"),
        ('{"type": "message", "text": "   ", "id": "x3"}', "type a message"),
        ('{"type": "message", "text": "' + "a" * 5000 + '", "id": "x4"}', "too long"),
        ('{"type": "message", "text": "hi", "id": "bad id with spaces"}', '"id"'),
        ('{"type": "start"}', "already started"),
        ("[" * 1000 + "]" * 1000, "deeper than 32"),  # a RecursionError before
        ('{"type": "message", "text": "\\ud800", "id": "x5"}', "not valid Unicode"),
    ]
    for frame, expected in bad:
        await ws.send_str(frame)
        error = (await chat.frames_until("error"))[-1]
        assert expected in error["message"], (frame[:40], error)
    await ws.send_bytes(b"\x00\xff")
    assert "JSON text" in (await chat.frames_until("error"))[-1]["message"]
    # Nothing above reached the transcript, and the conversation still works.
    customer_lines = [t for a, t in system.transcript(chat.survey_id or "") if a == "customer"]
    assert customer_lines == []
    assert await chat.say("8") == [follow_up("support", "passive")]


async def test_html_is_stored_and_echoed_as_plain_text(system: System, chat: ChatClient) -> None:
    await chat.start(touchpoint="support")
    await chat.say("3")
    payload = "<img src=x onerror=alert(1)> <b>rude</b> staff"
    await chat.say(payload)
    survey = system.survey(chat.survey_id or "")
    assert survey.response is not None and survey.response.reason == payload


async def test_the_same_message_delivered_twice_is_one_turn_answered_alike(
    system: System, chat: ChatClient
) -> None:
    await chat.start(touchpoint="support")
    first = await chat.say("7", message_id="same-id")
    await chat.ws.send_json({"type": "message", "text": "7", "id": "same-id"})
    frames = await chat.frames_until("ready")
    assert [f for f in frames if f["type"] == "ack"] == [
        {"type": "ack", "id": "same-id", "duplicate": True}
    ]
    # Sent again because the first answer may not have arrived: the stored
    # answer again, not a second turn.
    assert [f["text"] for f in frames if f["type"] == "bot"] == first
    assert first == [follow_up("support", "passive")]
    said = system.transcript(chat.survey_id or "")
    assert [t for a, t in said if a == "customer"] == ["7"]
    assert [t for a, t in said if a == "bot"].count(first[0]) == 1


async def test_a_typed_intent_cannot_steer_the_bot(system: System, chat: ChatClient) -> None:
    await chat.start(touchpoint="support")
    (reask,) = await chat.say("/decline")
    assert "0" in reask and "10" in reask  # read as a (bad) answer, not as an intent
    await chat.say("9")
    await chat.say("/restart was my favourite part")
    survey = system.survey(chat.survey_id or "")
    assert survey.state == "completed"
    assert survey.response is not None
    assert survey.response.reason == "/restart was my favourite part"


async def test_a_survey_link_resumes_with_the_history(system: System) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(system.ws_url) as ws:
            first = ChatClient(ws)
            opening = await first.start(touchpoint="delivery")
            await first.say("6")
        survey_id = first.survey_id
        async with http.get(f"{system.base_url}/s/{survey_id}") as resp:
            assert resp.status == 200
            assert f'data-feedbot-survey="{survey_id}"' in await resp.text()
        async with http.ws_connect(system.ws_url) as ws:
            again = ChatClient(ws)
            await ws.send_json({"type": "start", "survey_id": survey_id})
            frames = await again.frames_until("ready")
            (history,) = [f for f in frames if f["type"] == "history"]
            texts = [m["text"] for m in history["messages"]]
            assert texts == [*opening, "6", follow_up("delivery", "detractor")]
            await again.say("It came a day late")
        async with http.get(f"{system.base_url}/s/not-a-survey") as resp:
            assert resp.status == 404
            assert "not valid" in await resp.text()
    survey = system.survey(survey_id or "")
    assert survey.state == "completed"
    assert survey.response is not None and survey.response.reason == "It came a day late"


async def test_unknown_touchpoints_are_refused_clearly(system: System, chat: ChatClient) -> None:
    await chat.ws.send_json({"type": "start", "touchpoint": "spaceship"})
    error = (await chat.frames_until("error"))[-1]
    assert "spaceship" in error["message"] and "support" in error["message"]
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{system.base_url}/?touchpoint=spaceship") as resp:
            assert resp.status == 400
            assert "Unknown touchpoint" in await resp.text()


async def test_health_is_ok_when_everything_answers(system: System) -> None:
    async with aiohttp.ClientSession() as http, http.get(f"{system.base_url}/healthz") as resp:
        assert resp.status == 200
        body = await resp.json()
    assert body["checks"] == {
        "app": "ok",
        "rasa": "ok",
        "actions": "ok",
        "database": "ok",
        "live_events": "ok",  # in process: one instance, no Redis
        # Each Rasa instance, of every language (the session's speaks two).
        "rasa_instances": {system.rasa_url: "ok", system.spanish_rasa_url: "ok"},
    }


async def app_alone(database: Path, **more_env: str) -> tuple[asyncio.subprocess.Process, int]:
    """`feedbot serve` on SQLite at ``database``, with nothing listening
    where Rasa and the actions should be; the process and its port."""
    port = free_port()
    env = dict(
        os.environ,
        DATABASE_URL=f"sqlite:///{database}",
        PORT=str(port),
        RASA_URL=f"http://127.0.0.1:{free_port()}",
        ACTION_SERVER_URL=f"http://127.0.0.1:{free_port()}",
        **more_env,
    )
    app = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "commands.cli",
        "serve",
        env=env,
        cwd=PROJECT_ROOT,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    return app, port


async def first_health(port: int, tries: int) -> tuple[int, dict[str, Any]]:
    """The app's first answer to /healthz, asked every 0.1 s up to ``tries`` times."""
    async with aiohttp.ClientSession() as http:
        for _ in range(tries):
            try:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                    return resp.status, await resp.json()
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.1)
    raise AssertionError(f"no answer on port {port} after {tries} tries")


async def test_the_app_stops_promptly_whatever_its_rounds_are_doing(tmp_path: Path) -> None:
    """SIGTERM while the scheduler's and the owners' rounds are in the middle
    of their queries (the scheduler runs every 50 ms here): the app stops
    within seconds, every time. A round cut off mid-query used to leave
    SQLite's connection thread running, and the process never exited (about
    one stop in five)."""
    for attempt in range(8):
        app, port = await app_alone(
            tmp_path / f"db{attempt}.sqlite", FEEDBOT_SCHEDULER_INTERVAL_SECONDS="0.05"
        )
        try:
            await first_health(port, tries=200)
            await asyncio.sleep(0.1 * (attempt % 4))  # land in different parts of a round
            app.terminate()
            returncode = await asyncio.wait_for(app.wait(), 15)
            assert returncode == 0, f"stop {attempt}: exit status {returncode}"
        finally:
            if app.returncode is None:
                app.kill()
                await app.wait()


async def test_health_names_what_is_down(tmp_path: Path) -> None:
    """The app alone, with nothing listening where Rasa and the actions should be."""
    app, port = await app_alone(tmp_path / "db.sqlite")
    try:
        status, body = await first_health(port, tries=100)
        assert status == 503
        assert body["checks"]["database"] == "ok"
        assert body["checks"]["rasa"].startswith("down")
        assert body["checks"]["actions"].startswith("down")
    finally:
        app.terminate()
        await asyncio.wait_for(app.wait(), 10)
