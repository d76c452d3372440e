"""Customers talking through an outage, and counting afterwards what was
stored: shared by the fault tests (tests/test_faults.py) and the reliability
benchmark (bench/faults.py)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import urllib.request
from dataclasses import dataclass, field

import aiohttp
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.conversations import BOT_WILL_REPLY
from feedbot.store.database import sync_engine
from feedbot.store.models import Message, Response, Survey
from tests.helpers.stack import Stack


@dataclass
class Outcome:
    """What the customers said and were told, across an outage."""

    waited: list[str] = field(default_factory=list)  # turns told "I'll reply as soon as I can"


async def _bot_frames_until_ready(ws: aiohttp.ClientWebSocketResponse) -> list[str]:
    texts = []
    while True:
        frame = await ws.receive_json(timeout=60)
        if frame["type"] == "bot":
            texts.append(frame["text"])
        elif frame["type"] == "ready":
            return texts


async def _answer(
    ws: aiohttp.ClientWebSocketResponse, text: str, ident: str, outcome: Outcome
) -> list[str]:
    """Say this; when the bot is down, wait for its answer to come later."""
    await ws.send_json({"type": "message", "text": text, "id": ident})
    replies = await _bot_frames_until_ready(ws)
    if replies == [BOT_WILL_REPLY]:
        outcome.waited.append(ident)
        frame = await ws.receive_json(timeout=180)  # pushed once Rasa is back
        assert frame["type"] == "bot", frame
        replies = [frame["text"]]
    return replies


def score_of(n: int) -> int:
    return n % 11


def reason_of(n: int) -> str:
    return f"customer {n}: the call dropped twice"


# Conversations begun at once: more would time out their first turn on this
# machine's two cores before any fault (docs/reliability.md).
STARTING_AT_ONCE = 20


async def customer(
    ws_url: str, n: int, started: asyncio.Barrier, outcome: Outcome, starting: asyncio.Semaphore
) -> str:
    """One widget customer: begins, waits for everyone (the fault comes
    then), answers the score and the why; returns the survey id."""
    async with aiohttp.ClientSession() as http, http.ws_connect(ws_url) as ws:
        async with starting:
            await ws.send_json({"type": "start", "touchpoint": "support"})
            survey_id = ""
            while True:
                frame = await ws.receive_json(timeout=60)
                if frame["type"] == "survey":
                    survey_id = frame["survey_id"]
                if frame["type"] == "ready":
                    break
        await started.wait()
        assert await _answer(ws, str(score_of(n)), f"s{n}", outcome)  # the why question
        await _answer(ws, reason_of(n), f"r{n}", outcome)
        return survey_id


def wait_for_url(url: str, within: float = 120) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"{url} did not come back")


@dataclass(frozen=True)
class Counts:
    surveys: int
    answers_stored: int  # score and reason as said
    answers_lost: int
    messages_twice: int  # customers' messages stored more than once
    incomplete: int
    still_waiting: int


def count(database_url: str, survey_ids: list[str]) -> Counts:
    """What the store holds for customer n = survey_ids[n], against what they said."""
    stored = lost = twice = incomplete = 0
    engine = sync_engine(database_url)
    with Session(engine) as session:
        for n, survey_id in enumerate(survey_ids):
            response = session.get(Response, survey_id)
            if response is not None and (response.score, response.reason) == (
                score_of(n),
                reason_of(n),
            ):
                stored += 1
            else:
                lost += 1
            said = list(
                session.scalars(
                    select(Message.text).where(
                        Message.survey_id == survey_id, Message.author == "customer"
                    )
                )
            )
            twice += len(said) - len(set(said))
            survey = session.get(Survey, survey_id)
            incomplete += survey is None or survey.state != "completed"
        waiting = session.scalar(
            select(func.count()).where(
                Message.survey_id.in_(survey_ids), Message.awaiting_bot_since.is_not(None)
            )
        )
    engine.dispose()
    return Counts(len(survey_ids), stored, lost, twice, incomplete, waiting or 0)


@dataclass(frozen=True)
class Run:
    survey_ids: list[str]
    outcome: Outcome
    back_after: float  # seconds from the kill until it answered again
    all_answered_after: float


async def kill_midway(stack: Stack, customers: int, which: str = "rasa", pause: float = 2.0) -> Run:
    """Begin every conversation, SIGKILL one process (``rasa`` or
    ``actions``) while they answer, start it again after ``pause`` (as
    `feedbot run` would), and wait for them all."""
    victim = next(c for c in stack.children if c.name == which)
    ready = (
        stack.settings.rasa_url if which == "rasa" else f"{stack.settings.action_server_url}/health"
    )
    ws_url = stack.app_urls[0].replace("http://", "ws://") + "/chat"
    outcome = Outcome()
    started = asyncio.Barrier(customers + 1)
    starting = asyncio.Semaphore(STARTING_AT_ONCE)
    tasks = [
        asyncio.create_task(customer(ws_url, n, started, outcome, starting))
        for n in range(customers)
    ]
    await started.wait()
    await asyncio.sleep(0.3)  # turns under way
    killed = time.monotonic()
    os.killpg(victim.process.pid, signal.SIGKILL)
    victim.process.wait()
    await asyncio.sleep(pause)
    victim.start()
    await asyncio.to_thread(wait_for_url, ready, 180)
    back = time.monotonic()
    survey_ids = await asyncio.wait_for(asyncio.gather(*tasks), timeout=600)
    return Run(survey_ids, outcome, back - killed, time.monotonic() - killed)
