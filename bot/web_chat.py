"""The web widget's WebSocket: JSON frames in and out (docs/web-widget.md)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from aiohttp import WSMsgType, web
from sqlalchemy.exc import SQLAlchemyError

from bot.conversations import Conversations, CustomerMessageRejected
from bot.json_input import InputRefused, read_json
from bot.keys import CLOCK, CONVERSATIONS, LIVE_CHATS, LIVE_EVENTS, RASA, STORE, SURVEY_CONFIG
from bot.limits import LIMITS
from bot.rasa_client import BotMessage
from feedbot.locales import DEFAULT, UnknownLocale, language_of, normalised
from feedbot.store.models import Author, Channel, Message, Survey
from feedbot.store.surveys import NewSurvey, SurveyStore
from feedbot.touchpoints import SurveyConfig

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

# A widget's own id for each message it sends, so a resend is stored once.
_CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
MAX_FRAME_BYTES = 16 * 1024


# When handling a frame failed on our side (the database, say): nothing was
# answered, and a message sent again with the same id is stored once.
# Said with "retry": true; the widget then sends its unacknowledged messages
# again by itself (with their ids: stored once however often they come).
SEND_AGAIN = "Sorry, something went wrong on our side. Trying again…"


class FrameError(ValueError):
    """A frame the widget should not have sent; the message is for the sender."""


@routes.get("/chat")
async def chat(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(heartbeat=30, max_msg_size=MAX_FRAME_BYTES)
    await ws.prepare(request)
    app = request.app
    live: dict[str, set[ChatSession]] = app[LIVE_CHATS]
    session = ChatSession(
        ws,
        app[STORE],
        app[CONVERSATIONS],
        app[SURVEY_CONFIG],
        app[CLOCK],
        new_survey_allowed=lambda: app[LIMITS].new_web_survey(request.remote or "unknown"),
        joined=lambda survey_id: live.setdefault(survey_id, set()).add(session),
        spoken=app[RASA].languages,
    )
    try:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                if msg.type == WSMsgType.BINARY:
                    await session.error("Send JSON text frames, not binary ones.")
                continue
            try:
                await session.handle(_parse_frame(msg.data))
            except FrameError as exc:
                await session.error(str(exc))
            except (SQLAlchemyError, OSError):
                # A dropped database connection, say: the customer is told
                # and the socket stays open; the pool replaces the connection.
                log.exception("survey %s: a widget frame failed", session.survey_id)
                await session.error(SEND_AGAIN, retry=True)
            if session.survey_id:
                live.setdefault(session.survey_id, set()).add(session)
    finally:
        if session.survey_id and session.survey_id in live:
            live[session.survey_id].discard(session)
            if not live[session.survey_id]:
                del live[session.survey_id]
    if ws.exception() is not None:
        log.info("chat socket closed: %s", ws.exception())
    return ws


# Messages for a widget from outside its own turns (an agent's reply, the
# recovery question) travel as live events: the widget may be connected to
# another instance of the app.
PUSH_TOPIC = "chat"


def push_to_widget(app: web.Application, survey_id: str, kind: str, text: str) -> None:
    """Show this in the survey's open widget, on whichever instance it is."""
    app[LIVE_EVENTS].publish(PUSH_TOPIC, {"survey_id": survey_id, "kind": kind, "text": text})


async def widget_pushes(app: web.Application) -> AsyncIterator[None]:
    """Hands pushed messages to the widgets connected to this instance."""

    async def deliver() -> None:
        async with app[LIVE_EVENTS].listen(PUSH_TOPIC) as queue:
            while True:
                event = await queue.get()
                if "survey_id" not in event:
                    # Pushes may have been missed: every widget here reads
                    # its conversation again, from the store.
                    sessions = [s for chats in app[LIVE_CHATS].values() for s in chats]
                    log.info("live events resynced: %d widget(s) read again", len(sessions))
                    for session in sessions:
                        await _safely(session.resync(), session.survey_id)
                    continue
                for session in list(app[LIVE_CHATS].get(event["survey_id"], ())):
                    await _safely(session.push(event["kind"], event["text"]), event["survey_id"])

    task = asyncio.create_task(deliver(), name="pushes to widgets")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _safely(push: Awaitable[None], survey_id: str | None) -> None:
    """One widget's push; a widget that went away, or any failure, is
    logged and does not stop the pushes to the others."""
    try:
        await push
    except ConnectionError:
        log.info("survey %s: widget went away during a push", survey_id)
    except Exception:  # the loop that pushes to every widget must live on
        log.exception("survey %s: a push to the widget failed", survey_id)


def _parse_frame(data: str) -> dict[str, Any]:
    try:
        frame = read_json(data)
    except InputRefused as exc:
        log.info("refused a widget frame: %s", exc)  # one line, the socket stays open
        raise FrameError(str(exc)) from None
    if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
        raise FrameError('Each frame must be a JSON object with a "type".')
    return frame


class ChatSession:
    """One widget's connection: which survey it is on, and its turns."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        store: SurveyStore,
        conversations: Conversations,
        config: SurveyConfig,
        clock: Callable[[], datetime],
        new_survey_allowed: Callable[[], Awaitable[bool]],
        joined: Callable[[str], None] = lambda survey_id: None,
        spoken: Sequence[str] = (DEFAULT,),
    ) -> None:
        """``joined`` is told the survey as soon as this connection is on it,
        before its transcript is read: a message pushed meanwhile (the
        bot's answer to words that waited) reaches it."""
        self._ws = ws
        self._joined = joined
        self._clock = clock
        self._store = store
        self._conversations = conversations
        self._config = config
        self._spoken = spoken  # the languages a survey may be in here
        self._survey: Survey | None = None
        # While the stored conversation is being read back to the widget, a
        # push would land before the history that redraws it (and be wiped):
        # it is noted instead, and the conversation read again afterwards.
        self._reading_back = False
        self._pushed_meanwhile = False
        # Whether this client may begin one more survey (bot.limits).
        self._new_survey_allowed = new_survey_allowed

    async def handle(self, frame: dict[str, Any]) -> None:
        kind = frame["type"]
        if kind == "start":
            await self._start(frame)
        elif kind == "message":
            await self._message(frame)
        else:
            raise FrameError(f"Unknown frame type {kind!r}; expected 'start' or 'message'.")

    @property
    def survey_id(self) -> str | None:
        return self._survey.id if self._survey else None

    async def error(self, message: str, retry: bool = False) -> None:
        """``retry``: the failure was ours and passing; the widget sends again."""
        await self._send(
            {"type": "error", "message": message, "retry": True}
            if retry
            else {"type": "error", "message": message}
        )

    async def push(self, kind: str, text: str) -> None:
        """A message from outside this connection's turns (an agent's reply,
        the bot's recovery question), pushed to the widget as it happens."""
        if self._reading_back:
            self._pushed_meanwhile = True
            return
        await self._send(
            {"type": kind, "text": text, "buttons": []}
            if kind == "bot"
            else {"type": kind, "text": text}
        )

    async def resync(self) -> None:
        """The conversation as stored, again (pushes may have been missed):
        the widget redraws it, keeping what it has not had acknowledged."""
        if self._reading_back:
            self._pushed_meanwhile = True
            return
        if self._survey is not None:
            await self._send(await self._history(self._survey))

    async def _start(self, frame: dict[str, Any]) -> None:
        if self._survey is not None:
            raise FrameError("This chat has already started.")
        survey_id = _optional_str(frame, "survey_id")
        if survey_id:
            await self._resume(survey_id)
            return
        touchpoint_id = _optional_str(frame, "touchpoint") or self._config.default_touchpoint
        location = _optional_str(frame, "location")
        refusal = self._config.refusal(touchpoint_id, location)
        if refusal:
            raise FrameError(refusal)
        if not await self._new_survey_allowed():
            raise FrameError(
                "Too many new surveys from your network just now. Please try again later."
            )
        survey = await self._store.create_survey(
            NewSurvey(
                channel=Channel.WEB,
                touchpoint=touchpoint_id,
                location=location,
                locale=_locale(frame, self._spoken),
            ),
            at=self._clock(),
        )
        await self._begin(survey)

    async def _resume(self, survey_id: str) -> None:
        survey = await self._store.get_survey(survey_id)
        if survey is None or survey.channel != Channel.WEB:
            raise FrameError("This survey link is not valid. It may have been mistyped.")
        self._survey = survey
        self._reading_back = True
        try:
            self._joined(survey.id)
            transcript = await self._store.transcript(survey.id)
            if not transcript:
                await self._begin(survey)
            else:
                await self._send(_survey_frame(survey))
                await self._send(_history_frame(transcript))
                await self._send({"type": "ready"})
        finally:
            self._reading_back = False
        if self._pushed_meanwhile:
            # Stored before it was pushed: the conversation as it is now.
            self._pushed_meanwhile = False
            await self.resync()

    async def _history(self, survey: Survey) -> dict[str, Any]:
        return _history_frame(await self._store.transcript(survey.id))

    async def _begin(self, survey: Survey) -> None:
        self._survey = survey
        await self._send(_survey_frame(survey))
        await self._replies(await self._conversations.start(survey))

    async def _message(self, frame: dict[str, Any]) -> None:
        if self._survey is None:
            raise FrameError("Start the chat before sending messages.")
        text = frame.get("text")
        if not isinstance(text, str):
            raise FrameError('A message frame needs "text" as a string.')
        client_id = _optional_str(frame, "id")
        if client_id is not None and not _CLIENT_ID.match(client_id):
            raise FrameError('A message "id" is 1–40 letters, digits, "-" or "_".')
        external_id = f"web:{self._survey.id}:{client_id}" if client_id else None
        try:
            turn = await self._conversations.customer_says(self._survey, text, external_id)
        except CustomerMessageRejected as exc:
            raise FrameError(str(exc)) from None
        if client_id:
            await self._send({"type": "ack", "id": client_id, "duplicate": turn.duplicate})
        await self._replies(turn.replies)

    async def _replies(self, replies: list[BotMessage]) -> None:
        for reply in replies:
            await self._send({"type": "bot", "text": reply.text, "buttons": reply.buttons})
        # The bot has said all it will say this turn; the customer's move.
        await self._send({"type": "ready"})

    async def _send(self, frame: dict[str, Any]) -> None:
        if not self._ws.closed:
            await self._ws.send_json(frame)


def _history_frame(transcript: list[Message]) -> dict[str, Any]:
    return {
        "type": "history",
        "messages": [
            {
                "author": m.author,
                "text": m.text,
                "buttons": (m.buttons or []) if m.author == Author.BOT else [],
                # The widget's own id of a message it sent: stored.
                **({"id": client} if (client := _client_id(m.external_id)) else {}),
            }
            for m in transcript
        ],
    }


def _survey_frame(survey: Survey) -> dict[str, Any]:
    """Which survey the widget is on, and the language it is in (the
    widget's own words follow it)."""
    return {
        "type": "survey",
        "survey_id": survey.id,
        "touchpoint": survey.touchpoint,
        "language": language_of(survey.locale),
    }


def _client_id(external_id: str | None) -> str | None:
    """The widget's id of a message it sent ("web:<survey>:<id>")."""
    if external_id is None or not external_id.startswith("web:"):
        return None
    return external_id.rsplit(":", 1)[-1]


def _locale(frame: dict[str, Any], spoken: Sequence[str]) -> str | None:
    """The widget's language (?lang=, the page's lang, the browser's), as
    stored; one Feedbot does not speak is the default, not an error (a
    visitor's browser may be in any language)."""
    tag = _optional_str(frame, "locale")
    if tag is None:
        return None
    try:
        return normalised(tag, spoken)
    except UnknownLocale:
        return None


def _optional_str(frame: dict[str, Any], key: str) -> str | None:
    value = frame.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise FrameError(f'"{key}" must be a string.')
    return value.strip() or None
