"""Reading and writing surveys, responses and transcripts.

Each method is one unit of work with its own session. Times are passed in by
the caller (the edge owns the clock), so the store never reads the clock.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import joinedload, selectinload

from feedbot.nps import category_of
from feedbot.store.database import claim_each
from feedbot.store.models import (
    Author,
    Direction,
    Message,
    Response,
    ResponseTheme,
    Survey,
    SurveyState,
)
from feedbot.store.report_facts import theme_facts_update
from feedbot.store.survey_states import Transition, transition


def new_survey_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class NewSurvey:
    channel: str
    touchpoint: str
    location: str | None = None
    customer_ref: str | None = None
    interaction_id: str | None = None
    locale: str | None = None


class SurveyStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    async def close(self) -> None:
        """Close pooled connections (aiosqlite's worker threads keep a process alive)."""
        await self._engine.dispose()

    async def ping(self) -> None:
        async with self._engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def create_survey(
        self, new: NewSurvey, at: datetime, survey_id: str | None = None
    ) -> Survey:
        survey = Survey(
            id=survey_id or new_survey_id(),
            channel=new.channel,
            touchpoint=new.touchpoint,
            location=new.location,
            customer_ref=new.customer_ref,
            interaction_id=new.interaction_id,
            locale=new.locale,
            state=SurveyState.STARTED,
            created_at=at,
        )
        async with self._sessions.begin() as session:
            session.add(survey)
        return survey

    async def get_survey(self, survey_id: str) -> Survey | None:
        async with self._sessions() as session:
            # One query with its response (a join), not two.
            return await session.get(Survey, survey_id, options=[joinedload(Survey.response)])

    async def start_survey(self, survey_id: str, new: NewSurvey, at: datetime) -> None:
        """The survey marked started at ``at`` (the first start is kept),
        created first if the app has not created it (a conversation started
        straight on Rasa, as in `rasa shell`). One conditional UPDATE in the
        usual case, where the app created it."""
        if await self.mark_started(survey_id, at) or await self.get_survey(survey_id):
            return
        try:
            await self.create_survey(new, at, survey_id=survey_id)
        except IntegrityError:
            pass  # created meanwhile by the other process
        await self.mark_started(survey_id, at)

    async def mark_started(self, survey_id: str, at: datetime) -> bool:
        """Whether the survey was marked started now (False: it had started
        before, or there is no such survey)."""
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(Survey)
                .where(Survey.id == survey_id, Survey.started_at.is_(None))
                .values(started_at=at)
            )
        return bool(result.rowcount)

    async def record_score(self, survey_id: str, score: int, at: datetime) -> None:
        """The score, its category and when, on the survey's response (made
        if there is none yet), and the report facts, in one transaction: plain
        statements, no ORM objects (the action server's busiest write)."""
        values = {"score": score, "category": category_of(score).value, "scored_at": at}
        async with self._engine.begin() as conn:
            updated = await conn.execute(
                update(Response).where(Response.survey_id == survey_id).values(values)
            )
            if not updated.rowcount:
                await conn.execute(insert(Response).values(survey_id=survey_id, **values))
            await _note_answer(conn, survey_id, at, score)

    async def record_reason(
        self, survey_id: str, reason: str, at: datetime, understood: ReasonTags | None = None
    ) -> Response:
        async with self._sessions.begin() as session:
            response = await self._response_for_update(session, survey_id)
            response.reason = reason
            response.reason_at = at
            _set_understanding(response, understood)
            await session.flush()  # new theme rows first
            await _note_answer(await session.connection(), survey_id, at)
        return response

    async def record_follow_up(
        self, survey_id: str, text: str, at: datetime, understood: ReasonTags | None = None
    ) -> Response:
        """The answer to the probing question; ``understood`` is of the reason
        and this answer together."""
        async with self._sessions.begin() as session:
            response = await self._response_for_update(session, survey_id)
            response.follow_up = text
            response.follow_up_at = at
            _set_understanding(response, understood)
            await session.flush()  # new theme rows first
            await _note_answer(await session.connection(), survey_id, at)
        return response

    async def themes(self, survey_id: str) -> list[str]:
        async with self._sessions() as session:
            result = await session.scalars(
                select(ResponseTheme.theme)
                .where(ResponseTheme.survey_id == survey_id)
                .order_by(ResponseTheme.theme)
            )
            return list(result)

    async def theme_readings(self, survey_id: str) -> dict[str, ThemeTag]:
        """Each theme of the answer (alphabetical) with its own sentiment and words."""
        async with self._sessions() as session:
            result = await session.execute(
                select(ResponseTheme.theme, ResponseTheme.sentiment, ResponseTheme.words)
                .where(ResponseTheme.survey_id == survey_id)
                .order_by(ResponseTheme.theme)
            )
            return {theme: ThemeTag(sentiment, words) for theme, sentiment, words in result}

    async def change(self, survey_id: str, change: Transition) -> bool:
        """Make one change of state (feedbot.store.survey_states); False when
        the survey is not in a state it may come from."""
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(Survey).where(Survey.id == survey_id, change.where).values(**change.values)
            )
        return bool(result.rowcount)

    async def finish(
        self, survey_id: str, state: SurveyState, at: datetime, reason: str | None = None
    ) -> None:
        """Close the conversation; a finished survey keeps its first ending."""
        await self.change(survey_id, transition(state, at, reason))

    async def add_message(
        self,
        survey_id: str | None,
        direction: Direction,
        author: Author,
        text: str,
        at: datetime,
        *,
        external_id: str | None = None,
        buttons: list[dict[str, str]] | None = None,
        peer: str | None = None,
        held_until: datetime | None = None,
    ) -> int | None:
        """Append to the transcript; the message's id, or None when
        ``external_id`` was stored before. ``held_until``: a customer's
        message whose turn begins now, held by it until then (see
        ``take_awaiting_bot``)."""
        row = _message_row(
            survey_id,
            direction,
            author,
            text,
            at,
            buttons=buttons,
            external_id=external_id,
            peer=peer,
            awaiting_bot_since=held_until,
        )
        try:
            async with self._engine.begin() as conn:
                return await _insert_message(conn, row)
        except IntegrityError:
            if external_id is None:
                raise
            return None

    async def add_customer_message(
        self,
        survey_id: str,
        text: str,
        at: datetime,
        *,
        held_until: datetime,
        external_id: str | None = None,
        peer: str | None = None,
    ) -> CustomerMessage | None:
        """A customer's message of a survey, held by the turn it begins (see
        ``add_message``), and in the same transaction whether an earlier
        message of the survey still waits for the bot (its turn is running,
        or no Rasa took it); None when ``external_id`` was stored before."""
        row = _message_row(
            survey_id,
            Direction.INBOUND,
            Author.CUSTOMER,
            text,
            at,
            external_id=external_id,
            peer=peer,
            awaiting_bot_since=held_until,
        )

        try:
            async with self._engine.begin() as conn:
                message_id = await _insert_message(conn, row)
                earlier = await conn.scalar(
                    select(Message.id)
                    .where(
                        Message.survey_id == survey_id,
                        Message.awaiting_bot_since.is_not(None),
                        Message.id < message_id,
                    )
                    .limit(1)
                )
        except IntegrityError:
            if external_id is None:
                raise
            return None
        return CustomerMessage(message_id, behind_waiting_words=earlier is not None)

    async def mark_awaiting_bot(self, message_id: int, due: datetime) -> None:
        """This customer's message waits for the bot: a scheduler round
        answers it from ``due`` on (now when no Rasa took it; later while a
        turn that may still be running holds it)."""
        async with self._sessions.begin() as session:
            await session.execute(
                update(Message).where(Message.id == message_id).values(awaiting_bot_since=due)
            )

    async def answered(self, message_id: int) -> None:
        """The bot's answer to this message is stored (or handed to the outbox)."""
        async with self._sessions.begin() as session:
            await session.execute(
                update(Message).where(Message.id == message_id).values(awaiting_bot_since=None)
            )

    async def count_bot_try(self, message_id: int) -> int:
        """One more failed turn for this customer's message; how many so far."""
        async with self._sessions.begin() as session:
            await session.execute(
                update(Message)
                .where(Message.id == message_id)
                .values(delivery_attempts=Message.delivery_attempts + 1)
            )
            tries = await session.scalar(
                select(Message.delivery_attempts).where(Message.id == message_id)
            )
        return tries or 0

    async def surveys_awaiting_bot(self, now: datetime, limit: int = 100) -> list[str]:
        """Surveys with a message the bot is due to answer, the longest-waiting first."""
        async with self._sessions() as session:
            rows = await session.execute(
                select(Message.survey_id, func.min(Message.awaiting_bot_since))
                .where(Message.awaiting_bot_since <= now, Message.survey_id.is_not(None))
                .group_by(Message.survey_id)
                .order_by(func.min(Message.awaiting_bot_since))
                .limit(limit)
            )
            return [survey_id for survey_id, _ in rows]

    async def take_awaiting_bot(
        self, survey_id: str, now: datetime, hold_until: datetime
    ) -> Message | None:
        """The survey's oldest message waiting for the bot, if it is due,
        held by this caller until ``hold_until`` (a conditional update: one
        caller only). None when there is none, or the oldest is held by a
        turn (the ones behind it wait: the bot answers in order). A caller
        that stops before ``answered`` leaves it to be taken again then."""
        while True:
            async with self._sessions() as session:
                message = await session.scalar(
                    select(Message)
                    .where(Message.survey_id == survey_id, Message.awaiting_bot_since.is_not(None))
                    .order_by(Message.id)
                    .limit(1)
                )
            if message is None or message.awaiting_bot_since is None:
                return None
            if message.awaiting_bot_since > now:
                return None
            async with self._sessions.begin() as session:
                taken = await session.execute(
                    update(Message)
                    .where(
                        Message.id == message.id,
                        Message.awaiting_bot_since == message.awaiting_bot_since,
                    )
                    .values(awaiting_bot_since=hold_until)
                )
            if taken.rowcount:
                return message

    async def add_bot_replies(
        self,
        survey_id: str,
        replies: list[tuple[str, list[dict[str, str]] | None]],
        at: datetime,
        answering: int | None = None,
    ) -> None:
        """The bot's replies of one turn (text, buttons), in order, in one
        transaction; with the customer's message they answer marked answered."""
        if not replies and answering is None:
            return
        async with self._engine.begin() as conn:
            if replies:
                await conn.execute(
                    insert(Message),
                    [
                        _message_row(
                            survey_id, Direction.OUTBOUND, Author.BOT, text, at, buttons=buttons
                        )
                        for text, buttons in replies
                    ],
                )
            if answering is not None:
                await conn.execute(
                    update(Message).where(Message.id == answering).values(awaiting_bot_since=None)
                )

    async def answer_to(
        self, external_id: str, excluding: Collection[str] = ()
    ) -> list[str] | None:
        """What the bot said to the customer's message with this id (but
        ``excluding``), or None while it waits for the bot (or is not stored)."""
        async with self._sessions() as session:
            message = await session.scalar(
                select(Message).where(Message.external_id == external_id)
            )
        if message is None or message.awaiting_bot_since is not None or not message.survey_id:
            return None
        return await self.bot_replies_after(message.survey_id, message.id, excluding)

    async def bot_replies_after(
        self, survey_id: str, message_id: int, excluding: Collection[str] = ()
    ) -> list[str]:
        """What the bot said after this message of the customer's, up to
        their next message: the answer to it already stored. ``excluding``:
        what the app itself says meanwhile ("I'll reply as soon as I can")."""
        async with self._sessions() as session:
            rows = list(
                await session.execute(
                    select(Message.author, Message.text)
                    .where(Message.survey_id == survey_id, Message.id > message_id)
                    .order_by(Message.id)
                )
            )
        said = []
        for author, words in rows:
            if author == Author.CUSTOMER:
                break
            if author == Author.BOT and words not in excluding:
                said.append(words)
        return said

    async def survey_for_interaction(self, interaction_id: str) -> Survey | None:
        async with self._sessions() as session:
            return await session.scalar(
                select(Survey)
                .where(Survey.interaction_id == interaction_id)
                .options(selectinload(Survey.response))
            )

    async def open_survey_for(self, channel: str, customer_ref: str) -> Survey | None:
        """The customer's latest survey still in conversation on this channel."""
        async with self._sessions() as session:
            return await session.scalar(
                select(Survey)
                .where(
                    Survey.channel == channel,
                    Survey.customer_ref == customer_ref,
                    Survey.state == SurveyState.STARTED,
                )
                .order_by(Survey.created_at.desc())
                .limit(1)
            )

    async def last_surveyed_at(self, customer_ref: str) -> datetime | None:
        """When this customer was last sent a survey, on any channel."""
        async with self._sessions() as session:
            latest = await session.scalar(
                select(func.max(Survey.sent_at)).where(Survey.customer_ref == customer_ref)
            )
        return (
            latest.replace(tzinfo=UTC) if latest is not None and latest.tzinfo is None else latest
        )

    async def schedule(self, survey_id: str, send_at: datetime, reason: str) -> None:
        held = transition(SurveyState.SCHEDULED, None, reason, send_at=send_at)
        await self.change(survey_id, held)

    async def suppress(self, survey_id: str, reason: str) -> None:
        await self.change(survey_id, transition(SurveyState.SUPPRESSED, None, reason))

    async def claim_due(self, now: datetime, limit: int = 100) -> list[Survey]:
        """Scheduled surveys whose time has come, each claimed by one caller
        only (a conditional update), so several app instances never double-send."""
        async with self._sessions() as session:
            due = list(
                await session.scalars(
                    select(Survey.id)
                    .where(Survey.state == SurveyState.SCHEDULED, Survey.send_at <= now)
                    .order_by(Survey.send_at)
                    .limit(limit)
                )
            )
        # started_at is the claim's time until the bot starts it
        claim = transition(SurveyState.STARTED, now, started_at=now)
        won = await claim_each(
            self._sessions,
            due,
            lambda survey_id: (
                update(Survey).where(Survey.id == survey_id, claim.where).values(**claim.values)
            ),
        )
        claimed = []
        for survey_id in won:
            survey = await self.get_survey(survey_id)
            if survey is not None:
                claimed.append(survey)
        return claimed

    async def requeue_unsent(self, claimed_before: datetime) -> int:
        """Scheduled surveys claimed before this time whose first text never
        left (the instance that claimed them stopped mid-way): scheduled again,
        so a later round sends them. One whose text went out is not touched."""
        went_out = select(Message.survey_id).where(
            Message.survey_id.is_not(None),
            Message.direction == Direction.OUTBOUND,
            Message.delivery_status.in_(["pending", "sending", "queued", "sent", "delivered"]),
        )
        again = transition(
            SurveyState.SCHEDULED,
            claimed_before,
            "its first text never left: sent again",
            came_from=frozenset({SurveyState.STARTED}),
            started_at=None,
        )
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(Survey)
                .where(
                    again.where,
                    Survey.send_at.is_not(None),
                    Survey.sent_at.is_(None),
                    Survey.started_at < claimed_before,
                    Survey.id.not_in(went_out),
                )
                .values(**again.values)
            )
        return result.rowcount

    async def expire(self, sent_before: datetime, at: datetime) -> int:
        """Close surveys still in conversation that were sent before this time."""
        expired = transition(SurveyState.EXPIRED, at, f"no answer by {at:%Y-%m-%d %H:%M} UTC")
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(Survey)
                .where(expired.where, Survey.sent_at < sent_before)
                .values(**expired.values)
            )
            return result.rowcount or 0

    async def reminder_candidates(
        self, sent_before: datetime, channels: Collection[str]
    ) -> list[Survey]:
        """Surveys on these channels sent before this time, still open, with
        no word from the customer and no reminder yet."""
        answered = select(Message.survey_id).where(
            Message.survey_id == Survey.id, Message.direction == Direction.INBOUND
        )
        async with self._sessions() as session:
            return list(
                await session.scalars(
                    select(Survey).where(
                        Survey.channel.in_(list(channels)),
                        Survey.state == SurveyState.STARTED,
                        Survey.sent_at < sent_before,
                        Survey.reminded_at.is_(None),
                        ~answered.exists(),
                    )
                )
            )

    async def claim_reminder(self, survey_id: str, at: datetime) -> bool:
        """True for exactly one caller: reminders are sent at most once."""
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(Survey)
                .where(Survey.id == survey_id, Survey.reminded_at.is_(None))
                .values(reminded_at=at)
            )
        return bool(result.rowcount)

    async def mark_sent(self, survey_id: str, at: datetime) -> None:
        async with self._sessions.begin() as session:
            survey = await session.get(Survey, survey_id)
            if survey is not None and survey.sent_at is None:
                survey.sent_at = at

    async def set_delivery(
        self,
        at: datetime,
        status: str,
        *,
        message_id: int | None = None,
        external_id: str | None = None,
        new_external_id: str | None = None,
        error: str | None = None,
    ) -> bool:
        """Record a delivery status for a message found by id or external id."""
        async with self._sessions.begin() as session:
            if message_id is not None:
                message = await session.get(Message, message_id)
            else:
                message = await session.scalar(
                    select(Message).where(Message.external_id == external_id)
                )
            if message is None:
                return False
            message.delivery_status = status
            message.status_at = at
            if new_external_id is not None:
                message.external_id = new_external_id
            if error is not None:
                message.delivery_error = error
            return True

    async def transcript(self, survey_id: str) -> list[Message]:
        async with self._sessions() as session:
            result = await session.scalars(
                select(Message).where(Message.survey_id == survey_id).order_by(Message.id)
            )
            return list(result)

    @staticmethod
    async def _response_for_update(session: AsyncSession, survey_id: str) -> Response:
        response = await session.get(
            Response, survey_id, options=[selectinload(Response.themes)], populate_existing=True
        )
        if response is None:
            response = Response(survey_id=survey_id, themes=[])
            session.add(response)
        return response


async def _note_answer(
    conn: AsyncConnection, survey_id: str, at: datetime, score: int | None = None
) -> None:
    """Keep the report facts (Survey.score, answered_at, answer_seconds, and
    the copies on the theme rows) in step with the response, in the same
    transaction (the response's theme rows written before)."""
    survey = (
        await conn.execute(
            select(Survey.answered_at, Survey.sent_at, Survey.started_at, Survey.created_at).where(
                Survey.id == survey_id
            )
        )
    ).first()
    if survey is None:
        return
    values: dict[str, Any] = {}
    if survey.answered_at is None:
        values["answered_at"] = at
    if score is not None:
        began = survey.sent_at or survey.started_at or survey.created_at
        values["score"] = score
        values["answer_seconds"] = (at - began).total_seconds()
    if values:
        await conn.execute(update(Survey).where(Survey.id == survey_id).values(values))
    await conn.execute(theme_facts_update([survey_id]))


@dataclass(frozen=True)
class ThemeTag:
    """One theme of an answer: its own sentiment and the words that made it."""

    sentiment: str | None = None
    words: list[str] | None = None


@dataclass(frozen=True)
class ReasonTags:
    """What was read out of the customer's words (see feedbot.understanding)."""

    themes: list[str]
    sentiment: str
    by_theme: dict[str, ThemeTag] = field(default_factory=dict)


def _set_understanding(response: Response, understood: ReasonTags | None) -> None:
    if understood is None:
        return
    response.sentiment = understood.sentiment
    set_themes(response, understood.themes, understood.by_theme)


def set_themes(
    response: Response, themes: list[str], by_theme: dict[str, ThemeTag] | None = None
) -> None:
    """Replace the response's themes, keeping rows that stay (no delete and
    re-insert of the same key). A theme without its own reading takes the
    answer's sentiment."""
    by_theme = by_theme or {}
    wanted = set(themes)
    for row in [r for r in response.themes if r.theme not in wanted]:
        response.themes.remove(row)
    have = {r.theme: r for r in response.themes}
    for theme in sorted(wanted):
        row = have.get(theme)
        if row is None:
            row = ResponseTheme(theme=theme)
            response.themes.append(row)
        tag = by_theme.get(theme, ThemeTag())
        row.sentiment = tag.sentiment or response.sentiment
        row.words = tag.words


@dataclass(frozen=True)
class CustomerMessage:
    """A customer's message just stored: its id, and whether earlier words
    of the survey still wait for the bot (these then wait behind them)."""

    id: int
    behind_waiting_words: bool


def _message_row(
    survey_id: str | None,
    direction: Direction,
    author: Author,
    text: str,
    at: datetime,
    *,
    buttons: list[dict[str, str]] | None = None,
    external_id: str | None = None,
    peer: str | None = None,
    awaiting_bot_since: datetime | None = None,
) -> dict[str, Any]:
    """A message's columns as the ORM would write them (its defaults too)."""
    return {
        "survey_id": survey_id,
        "direction": direction,
        "author": author,
        "text": text,
        "buttons": buttons,
        "created_at": at,
        "external_id": external_id,
        "peer": peer,
        "awaiting_bot_since": awaiting_bot_since,
    }


async def _insert_message(conn: AsyncConnection, row: dict[str, Any]) -> int:
    """A plain INSERT: the ORM's unit of work cost a turn more CPU than the
    statement (docs/performance.md)."""
    return (await conn.execute(insert(Message).values(row).returning(Message.id))).scalar_one()
