"""Customers talking through an outage, over the widget or by SMS (through
the fake Twilio), and counting afterwards what was stored and sent: shared
by the fault tests (tests/test_faults.py) and the reliability benchmark
(bench/faults.py)."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import signal
import time
import urllib.request
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator

from bot.conversations import APP_NOTICES, BOT_WILL_REPLY
from feedbot.store.database import sync_engine
from feedbot.store.models import Direction, Message, Response, Survey
from feedbot.store.sms_outbox import UNFINISHED
from tests.fake_twilio import AUTH_TOKEN, FakeTwilio
from tests.helpers.config import touchpoints_for_tests
from tests.helpers.stack import Stack

WebSocket = aiohttp.ClientWebSocketResponse

# The API token of the stacks these customers talk to (sms_stack_env).
API_TOKEN = "outage-api-token"


@dataclass
class Outcome:
    """What the customers said and were told, across an outage."""

    waited: list[str] = field(default_factory=list)  # turns told "I'll reply as soon as I can"
    reconnected: int = 0  # widgets whose socket broke (the app died) and that connected again
    texts_taken: int = 0  # customers' texts the app answered 200 to


WIDGET_PATIENCE = 200.0  # seconds a widget customer waits for one answer


class Widget:
    """A customer's widget as widget.js behaves: when the socket breaks it
    connects again, reads the conversation back, and sends again (with the
    same id) what the bot has not answered."""

    def __init__(
        self, http: aiohttp.ClientSession, ws_url: str, survey_id: str, ws: WebSocket
    ) -> None:
        self._http, self._ws_url, self._survey_id, self._ws = http, ws_url, survey_id, ws

    async def say(self, text: str, ident: str, outcome: Outcome) -> list[str]:
        """Say this; the bot's answer, however long it takes (Rasa down, the
        app restarted): "I'll reply as soon as I can" is noted, not an answer."""
        await self._send(text, ident)
        replies: list[str] = []
        seen: list[str] = []  # what came meanwhile, to say where it stuck
        # Within the test's own timeout (300 s, stack start included), so a
        # customer left without an answer is named rather than cut off.
        deadline = time.monotonic() + WIDGET_PATIENCE
        while time.monotonic() < deadline:
            # Once the answer has begun, a quiet second ends it (a pushed
            # answer is not followed by "ready").
            frame = await self._frame(1.0 if replies else 20.0)
            seen.append(frame if isinstance(frame, str) else str(frame.get("type")))
            if frame == "quiet":
                if replies:
                    return replies
                continue
            if frame == "broken":
                outcome.reconnected += 1
                history = await self._reconnect()
                stored, answer = _answer_in(history, ident)
                if answer:
                    return answer
                if not stored:  # as widget.js: only what the history lacks is sent again
                    await self._send(text, ident)
                continue
            assert isinstance(frame, dict)
            if frame["type"] == "error" and frame.get("retry"):  # as widget.js does
                await asyncio.sleep(1)
                await self._send(text, ident)
            elif frame["type"] == "bot":
                if frame["text"] == BOT_WILL_REPLY:
                    outcome.waited.append(ident)
                else:
                    replies.append(frame["text"])
            elif frame["type"] == "ready" and replies:
                return replies
            elif frame["type"] == "history":  # a resync (pushes may have been missed)
                _, answer = _answer_in(frame["messages"], ident)
                if answer:
                    return answer
        raise AssertionError(
            f"survey {self._survey_id}: no answer to {text!r} (id {ident}) within "
            f"{WIDGET_PATIENCE:.0f} s; frames meanwhile: {seen[-30:]}"
        )

    async def close(self) -> None:
        await self._ws.close()

    async def _send(self, text: str, ident: str) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError):  # broken: found on reading
            await self._ws.send_json({"type": "message", "text": text, "id": ident})

    async def _frame(self, within: float) -> dict[str, Any] | str:
        try:
            message = await self._ws.receive(timeout=within)
        except TimeoutError:
            return "quiet"
        except (ConnectionError, aiohttp.ClientError):
            return "broken"
        if message.type != aiohttp.WSMsgType.TEXT:
            return "broken"  # closed by the app's death
        frame: dict[str, Any] = json.loads(message.data)
        return frame

    async def _reconnect(self, within: float = 180) -> list[dict[str, str]]:
        """Connected again to the survey; its history."""
        deadline = time.monotonic() + within
        while True:
            try:
                self._ws = await self._http.ws_connect(self._ws_url)
                await self._ws.send_json({"type": "start", "survey_id": self._survey_id})
                history: list[dict[str, str]] = []
                while True:
                    frame = await self._ws.receive_json(timeout=30)
                    if frame["type"] == "history":
                        history = frame["messages"]
                    elif frame["type"] == "ready":
                        return history
            except (ConnectionError, aiohttp.ClientError, TimeoutError, TypeError):
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)


def _answer_in(history: list[dict[str, str]], ident: str) -> tuple[bool, list[str]]:
    """Whether the message with this id is stored, as read back, and the
    bot's answer to it so far."""
    said = [i for i, m in enumerate(history) if m.get("id") == ident]
    if not said:
        return False, []
    answer = []
    for m in history[said[0] + 1 :]:
        if m["author"] == "customer":
            break
        if m["author"] == "bot" and m["text"] != BOT_WILL_REPLY:
            answer.append(m["text"])
    return True, answer


def score_of(n: int) -> int:
    return n % 11


def reason_of(n: int) -> str:
    return f"customer {n}: the call dropped twice"


# Conversations begun at once: more would time out their first turn on this
# machine's two cores before any fault (docs/reliability.md).
STARTING_AT_ONCE = 20


async def web_customer(
    stack: Stack, n: int, started: asyncio.Barrier, outcome: Outcome, starting: asyncio.Semaphore
) -> str:
    """One widget customer: begins, waits for everyone (the fault comes
    then), answers the score and the why; returns the survey id."""
    ws_url = stack.app_urls[0].replace("http://", "ws://") + "/chat"
    async with aiohttp.ClientSession() as http:
        async with starting:
            ws = await http.ws_connect(ws_url)
            await ws.send_json({"type": "start", "touchpoint": "support"})
            survey_id = ""
            while True:
                frame = await ws.receive_json(timeout=60)
                if frame["type"] == "survey":
                    survey_id = frame["survey_id"]
                if frame["type"] == "ready":
                    break
        widget = Widget(http, ws_url, survey_id, ws)
        try:
            await started.wait()
            assert await widget.say(str(score_of(n)), f"s{n}", outcome)  # the why question
            await widget.say(reason_of(n), f"r{n}", outcome)
        finally:
            await widget.close()
        return survey_id


def phone_of(n: int) -> str:
    return f"+4479111{n:05d}"


async def _texts(twilio: FakeTwilio, phone: str, count: int, within: float = 180) -> list[str]:
    """The texts to this number once there are ``count`` of them."""
    deadline = time.monotonic() + within
    while len(bodies := twilio.to(phone)) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"{phone} got {bodies}, expected {count} texts")
        await asyncio.sleep(0.1)
    return bodies


async def _text_in(http: aiohttp.ClientSession, app_url: str, phone: str, body: str) -> None:
    """A text from the customer, as Twilio posts it (signed). A request the
    app did not take (it died, or answered 5xx) is posted again with the
    same MessageSid until it is taken, as Twilio's fallback URL pointing at
    another live instance would: with a single instance, a text that
    arrives while it is down is refused, and stays in Twilio's log
    (docs/reliability.md)."""
    form = {"MessageSid": "SM" + uuid.uuid4().hex, "From": phone, "Body": body}
    url = f"{app_url}/sms/inbound"
    signature = RequestValidator(AUTH_TOKEN).compute_signature(url, form)
    deadline = time.monotonic() + 180
    while True:
        try:
            async with http.post(url, data=form, headers={"X-Twilio-Signature": signature}) as resp:
                if resp.status == 200:
                    return
                assert resp.status >= 500, f"the webhook answered {resp.status}"
        except aiohttp.ClientConnectionError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"a text from {phone} was never taken")
        await asyncio.sleep(0.5)


async def _text(
    http: aiohttp.ClientSession,
    stack: Stack,
    twilio: FakeTwilio,
    phone: str,
    body: str,
    ident: str,
    outcome: Outcome,
) -> None:
    """Text this and wait for the bot's answer; when the bot is down, wait
    for the answer that follows "I'll reply as soon as I can"."""
    before = len(twilio.to(phone))
    await _text_in(http, stack.app_urls[0], phone, body)
    outcome.texts_taken += 1
    if (await _texts(twilio, phone, before + 1))[before] == BOT_WILL_REPLY:
        outcome.waited.append(ident)
        await _texts(twilio, phone, before + 2)


async def sms_customer(
    stack: Stack,
    twilio: FakeTwilio,
    n: int,
    started: asyncio.Barrier,
    outcome: Outcome,
    starting: asyncio.Semaphore,
) -> str:
    """One SMS customer: a survey asked for through the API (greeting and
    question in one text), then, once everyone has theirs, the score and the why."""
    phone = phone_of(n)
    async with aiohttp.ClientSession() as http:
        async with starting:
            async with http.post(
                f"{stack.app_urls[0]}/api/surveys",
                json={"channel": "sms", "phone": phone, "touchpoint": "support"},
                headers={"Authorization": f"Bearer {API_TOKEN}"},
            ) as resp:
                body = await resp.json()
                assert resp.status == 201 and body["status"] == "sent", body
        await _texts(twilio, phone, 1)  # the first text: greeting and question
        await started.wait()
        await _text(http, stack, twilio, phone, str(score_of(n)), f"s{n}", outcome)
        await _text(http, stack, twilio, phone, reason_of(n), f"r{n}", outcome)
        return str(body["survey_id"])


def sms_stack_env(workdir: Path, twilio: FakeTwilio) -> dict[str, str]:
    """The app's environment for the customers: the fake Twilio, the API
    token, no quiet hours; the scheduler every second (texts that wait in the
    outbox, and messages that wait for the bot, go soon)."""
    return {
        **twilio.app_env(),
        "FEEDBOT_API_TOKEN": API_TOKEN,
        "FEEDBOT_TOUCHPOINTS": str(touchpoints_for_tests(workdir)),
        "FEEDBOT_SCHEDULER_INTERVAL_SECONDS": "1",
        # Work an app instance held when it died is taken over after 30 s
        # (2 min by default), so a turn must end within 20 s.
        "RASA_TIMEOUT_SECONDS": "20",
        "FEEDBOT_CLAIM_SECONDS": "30",
    }


def wait_for_url(url: str, within: float = 120) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except (OSError, http.client.HTTPException):
            pass  # (HTTPException: a port connected to itself before the server listened)
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
    texts_twice: int = 0  # SMS: a text the customer got more than once
    texts_unsent: int = 0  # SMS: a stored text Twilio never took
    # Which texts came twice, and to whom (shown when a count is wrong).
    doubled: tuple[str, ...] = field(default=(), compare=False)


def count(database_url: str, survey_ids: list[str], twilio: FakeTwilio | None = None) -> Counts:
    """What the store holds for customer n = survey_ids[n], against what
    they said; by SMS, what they were sent against what was stored."""
    stored = lost = twice = incomplete = texts_twice = unsent = 0
    doubled: tuple[str, ...] = ()
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
            if twilio is not None:
                doubles, doubled_here = _texts_twice(session, twilio, phone_of(n), len(said))
                texts_twice += doubles
                doubled += doubled_here
                sent = set(
                    session.scalars(
                        select(Message.external_id).where(
                            Message.survey_id == survey_id, Message.author != "customer"
                        )
                    )
                )
                made = {f"sms:{m['sid']}" for m in twilio.messages if m["To"] == phone_of(n)}
                unsent += len(sent - made)
        waiting = session.scalar(
            select(func.count()).where(
                Message.survey_id.in_(survey_ids), Message.awaiting_bot_since.is_not(None)
            )
        )
    engine.dispose()
    return Counts(
        len(survey_ids),
        stored,
        lost,
        twice,
        incomplete,
        waiting or 0,
        texts_twice,
        unsent,
        doubled,
    )


def _texts_twice(
    session: Session, twilio: FakeTwilio, phone: str, texted: int
) -> tuple[int, tuple[str, ...]]:
    """Texts this customer got more than once, and what they were: a
    message Twilio made that no stored text claims (the sender lost track of
    a send and sent again), or the same words twice (a turn answered twice).
    The app's notices ("I'll reply as soon as I can") are said once for each
    of the customer's messages that waits, so each may come once per message
    the customer sent (``texted``)."""
    made = [m for m in twilio.messages if m["To"] == phone]
    claimed = set(
        session.scalars(
            select(Message.external_id).where(
                Message.peer == phone, Message.direction == Direction.OUTBOUND
            )
        )
    )
    unclaimed = [m["Body"] for m in made if f"sms:{m['sid']}" not in claimed]
    got = [m["Body"] for m in made]
    repeated = {body: got.count(body) - (texted if body in APP_NOTICES else 1) for body in set(got)}
    doubled = tuple(f"{phone} got {body!r} again" for body in unclaimed) + tuple(
        f"{phone} got {body!r} {extra} time(s) too many"
        for body, extra in sorted(repeated.items())
        if extra > 0
    )
    return len(unclaimed) + sum(extra for extra in repeated.values() if extra > 0), doubled


@dataclass(frozen=True)
class Run:
    survey_ids: list[str]
    outcome: Outcome
    back_after: float  # seconds from the kill until it answered again
    all_answered_after: float


async def converse(
    stack: Stack,
    customers: int,
    fault: Callable[[], Awaitable[None]] | None = None,
    twilio: FakeTwilio | None = None,
) -> tuple[list[str], Outcome]:
    """Begin every conversation (over the widget, or by SMS when a fake
    Twilio is given), run ``fault`` once they all answer, and wait for them
    all; the survey ids (customer n's at n) and what they were told."""
    outcome = Outcome()
    started = asyncio.Barrier(customers + 1)
    starting = asyncio.Semaphore(STARTING_AT_ONCE)

    async def one(n: int) -> str:
        try:
            if twilio is not None:
                return await sms_customer(stack, twilio, n, started, outcome, starting)
            return await web_customer(stack, n, started, outcome, starting)
        except BaseException:
            await started.abort()  # the others, and the fault, do not wait for this one
            raise

    tasks = [asyncio.create_task(one(n)) for n in range(customers)]
    try:
        await started.wait()
    except asyncio.BrokenBarrierError:
        await asyncio.gather(*tasks)  # raises the customer's failure
        raise
    if fault is not None:
        await asyncio.sleep(0.3)  # turns under way
        if twilio is not None:  # and half the first texts taken, their turns running
            for _ in range(600):  # 30 s at most
                if outcome.texts_taken >= customers // 2:
                    break
                await asyncio.sleep(0.05)
        await fault()
    survey_ids = await asyncio.wait_for(asyncio.gather(*tasks), timeout=600)
    if twilio is not None:  # texts after the last answer (the offer of a person) may wait
        await asyncio.to_thread(_outbox_empty, stack.settings.database_url)
    return survey_ids, outcome


def _outbox_empty(database_url: str, within: float = 120) -> None:
    """Once no text is left waiting in the SMS outbox (or raise)."""
    engine = sync_engine(database_url)
    deadline = time.monotonic() + within
    try:
        while True:
            with Session(engine) as session:
                waiting = session.scalar(
                    select(func.count()).where(Message.delivery_status.in_(UNFINISHED))
                )
            if not waiting:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"{waiting} text(s) still in the outbox after {within} s")
            time.sleep(0.5)
    finally:
        engine.dispose()


async def kill_midway(
    stack: Stack,
    customers: int,
    which: str = "rasa",
    pause: float = 2.0,
    twilio: FakeTwilio | None = None,
) -> Run:
    """Begin every conversation, SIGKILL one process (``rasa``,
    ``actions`` or the app, ``app-0``) while they answer, start it again
    after ``pause`` (as `feedbot run` would), and wait for them all."""
    victim = next(c for c in stack.children if c.name == which)
    ready = {
        "rasa": stack.settings.rasa_url,
        "actions": f"{stack.settings.action_server_url}/health",
        "app-0": f"{stack.app_urls[0]}/healthz",
    }[which]
    times: dict[str, float] = {}

    async def kill() -> None:
        times["killed"] = time.monotonic()
        os.killpg(victim.process.pid, signal.SIGKILL)
        victim.process.wait()
        await asyncio.sleep(pause)
        victim.start()
        await asyncio.to_thread(wait_for_url, ready, 180)
        times["back"] = time.monotonic()

    survey_ids, outcome = await converse(stack, customers, kill, twilio)
    killed = times["killed"]
    return Run(survey_ids, outcome, times["back"] - killed, time.monotonic() - killed)


def terminating_connections(
    database_url: str, times: int = 3, every: float = 0.7
) -> Callable[[], Awaitable[None]]:
    """A fault: every connection to this PostgreSQL database (the app's, the
    action server's, Rasa's tracker store's) terminated by the server
    (``pg_terminate_backend``), ``times`` times ``every`` seconds apart.
    Counts what it terminated in ``.terminated``."""
    name = make_url(database_url).database
    admin = make_url(database_url).set(database="postgres").render_as_string(hide_password=False)
    terminated: list[int] = []

    async def fault() -> None:
        for _ in range(times):
            with psycopg.connect(admin.replace("+psycopg", ""), autocommit=True) as conn:
                rows = conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()",
                    (name,),
                ).fetchall()
            terminated.append(len(rows))
            await asyncio.sleep(every)

    fault.terminated = terminated  # type: ignore[attr-defined]
    return fault
