"""Turns: when someone may next get a message of a kind (an owner's alert
batch, a customer's "you said, we did"). Taken with a conditional update
inside the caller's transaction, so of several instances one wins."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from feedbot.store.models import TurnClock

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


async def ensure_clock(sessions: async_sessionmaker[AsyncSession], subject: str, kind: str) -> None:
    """The clock row exists (its first turn is at once)."""
    async with sessions() as session:
        if await session.get(TurnClock, (subject, kind)) is not None:
            return
    try:
        async with sessions.begin() as session:
            session.add(TurnClock(subject=subject, kind=kind, next_at=EPOCH))
    except IntegrityError:
        pass  # another round made it


async def next_turn(session: AsyncSession, subject: str, kind: str) -> datetime:
    clock = await session.get(TurnClock, (subject, kind))
    return clock.next_at if clock is not None else EPOCH


async def take_turn(
    session: AsyncSession, subject: str, kind: str, now: datetime, gap: timedelta
) -> bool:
    """In the caller's transaction: True, and the next turn ``gap`` from now,
    when the turn has come (the row must exist: ``ensure_clock``)."""
    taken = await session.execute(
        update(TurnClock)
        .where(TurnClock.subject == subject, TurnClock.kind == kind, TurnClock.next_at <= now)
        .values(next_at=now + gap)
    )
    return bool(taken.rowcount)
