"""Outbound texts, stored before Twilio is asked to send them.

Every part of every text is a transcript message (``messages``, direction
``outbound``) from the moment it is meant to be sent: ``pending`` until an
instance takes it, ``sending`` while that instance asks Twilio, then
Twilio's status (``queued``, ``sent``, ``delivered``...) or ``error``. A
transient failure (Twilio's 5xx or 429, a timeout, a dropped connection) puts
it back to ``pending`` with a later ``next_attempt_at``; a scheduler round
sends it then. A ``sending`` claim that lapsed belongs to an instance that
stopped mid-way: the sender asks Twilio whether the text arrived before it
sends it again (bot.sms.twilio_sender).

Texts to one number leave in the order they were stored: a text is taken
only when no older text to that number is pending or being sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from feedbot.store.database import claim_each
from feedbot.store.models import Author, Direction, Message

PENDING = "pending"
SENDING = "sending"
UNFINISHED = (PENDING, SENDING)
# A "sending" claim this old has lapsed: the instance that took it is gone
# (FEEDBOT_CLAIM_SECONDS).
CLAIM_LAPSES_AFTER = timedelta(minutes=2)
# A text still not sent this long after it was written is given up (the
# survey it belongs to has expired by then).
GIVE_UP_AFTER = timedelta(hours=24)


@dataclass(frozen=True)
class Outgoing:
    """A text taken for sending."""

    id: int
    peer: str
    text: str
    created_at: datetime
    attempts: int  # including this one
    despite_opt_out: bool


def _outgoing(message: Message) -> Outgoing:
    return Outgoing(
        message.id,
        message.peer or "",
        message.text,
        message.created_at,
        message.delivery_attempts,
        message.despite_opt_out,
    )


def outbox_rows(
    peer: str,
    parts: Sequence[str],
    at: datetime,
    survey_id: str | None,
    author: Author,
    despite_opt_out: bool = False,
) -> list[Message]:
    """The parts of one text as pending outbox messages (for a caller that
    stores them in its own transaction, then has the sender drain them)."""
    return [
        Message(
            survey_id=survey_id,
            peer=peer,
            direction=Direction.OUTBOUND,
            author=author,
            text=part,
            created_at=at,
            delivery_status=PENDING,
            status_at=at,
            next_attempt_at=at,
            delivery_attempts=0,
            despite_opt_out=despite_opt_out,
        )
        for part in parts
    ]


class SmsOutbox:
    def __init__(self, engine: AsyncEngine, claim: timedelta = CLAIM_LAPSES_AFTER) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._claim = claim

    async def enqueue(
        self,
        peer: str,
        parts: Sequence[str],
        at: datetime,
        *,
        survey_id: str | None,
        author: Author,
        despite_opt_out: bool = False,
    ) -> list[int]:
        """Store the parts of one text, in order, as pending; their ids."""
        messages = outbox_rows(peer, parts, at, survey_id, author, despite_opt_out)
        async with self._sessions.begin() as session:
            session.add_all(messages)
        return [m.id for m in messages]

    async def take_next(self, peer: str, now: datetime) -> Outgoing | None:
        """The oldest unfinished text to this number, claimed for sending, if
        it is due and no other instance has it; None otherwise."""
        async with self._sessions() as session:
            first = await session.scalar(
                select(Message)
                .where(
                    Message.peer == peer,
                    Message.direction == Direction.OUTBOUND,
                    Message.delivery_status.in_(UNFINISHED),
                )
                .order_by(Message.id)
                .limit(1)
            )
        if first is None or first.delivery_status != PENDING:
            return None
        if first.next_attempt_at is not None and first.next_attempt_at > now:
            return None
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(Message)
                .where(Message.id == first.id, Message.delivery_status == PENDING)
                .values(
                    delivery_status=SENDING,
                    status_at=now,
                    delivery_attempts=Message.delivery_attempts + 1,
                )
            )
        if not result.rowcount:
            return None  # another instance took it
        first.delivery_attempts += 1
        return _outgoing(first)

    async def sent(self, message_id: int, status: str, sid: str, at: datetime) -> None:
        await self._finish(message_id, at, delivery_status=status, external_id=f"sms:{sid}")

    async def failed(self, message_id: int, error: str, at: datetime) -> None:
        """Refused for good (a bad number), or given up."""
        await self._finish(message_id, at, delivery_status="error", delivery_error=error)

    async def retry_later(
        self, message: Outgoing, error: str, at: datetime, delay: timedelta
    ) -> bool:
        """Back to pending for another try after ``delay``; False (and
        failed) once it has waited longer than GIVE_UP_AFTER."""
        if at - message.created_at >= GIVE_UP_AFTER:
            await self.failed(message.id, f"gave up after {message.attempts} attempts: {error}", at)
            return False
        await self._finish(
            message.id,
            at,
            delivery_status=PENDING,
            delivery_error=error,
            next_attempt_at=at + delay,
        )
        return True

    async def drop_opted_out(self, message_id: int, at: datetime) -> None:
        """A text that waited while its number opted out: never sent."""
        await self._finish(
            message_id, at, delivery_status="error", delivery_error="the number opted out"
        )

    async def _finish(self, message_id: int, at: datetime, **values: object) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                update(Message)
                .where(Message.id == message_id, Message.delivery_status == SENDING)
                .values(**{"status_at": at, "next_attempt_at": None, **values})
            )

    async def peers_due(self, now: datetime, limit: int = 100) -> list[str]:
        """Numbers with a pending text whose time has come."""
        async with self._sessions() as session:
            rows = await session.scalars(
                select(Message.peer)
                .where(
                    Message.direction == Direction.OUTBOUND,
                    Message.delivery_status == PENDING,
                    Message.next_attempt_at <= now,
                )
                .group_by(Message.peer)
                .order_by(Message.peer)
                .limit(limit)
            )
        return [peer for peer in rows if peer]

    async def claim_lapsed(self, now: datetime, limit: int = 100) -> list[Outgoing]:
        """Texts an instance began to send and never finished (it stopped),
        each claimed now by one instance: whether Twilio has them is not known."""
        lapsed = now - self._claim
        async with self._sessions() as session:
            candidates = list(
                await session.scalars(
                    select(Message)
                    .where(
                        Message.direction == Direction.OUTBOUND,
                        Message.delivery_status == SENDING,
                        Message.status_at < lapsed,
                    )
                    .order_by(Message.id)
                    .limit(limit)
                )
            )
        won = await claim_each(
            self._sessions,
            candidates,
            lambda m: (
                update(Message)
                .where(
                    Message.id == m.id,
                    Message.delivery_status == SENDING,
                    Message.status_at < lapsed,
                )
                .values(status_at=now)
            ),
        )
        return [_outgoing(m) for m in won]

    async def sids_known(self, sids: Sequence[str]) -> set[str]:
        """Which of these Twilio message SIDs some stored text already has."""
        if not sids:
            return set()
        async with self._sessions() as session:
            rows = await session.scalars(
                select(Message.external_id).where(
                    Message.external_id.in_([f"sms:{sid}" for sid in sids])
                )
            )
        return {external.removeprefix("sms:") for external in rows if external}
