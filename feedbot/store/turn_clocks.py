"""Turns: when someone may next get a message of a kind (an owner's alert
batch, a customer's "you said, we did"). Taken with a conditional upsert
inside the caller's transaction, so of several instances one wins."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from feedbot.store.models import TurnClock

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


async def next_turn(session: AsyncSession, subject: str, kind: str) -> datetime:
    clock = await session.get(TurnClock, (subject, kind))
    return clock.next_at if clock is not None else EPOCH


async def take_turn(
    session: AsyncSession, subject: str, kind: str, now: datetime, gap: timedelta
) -> bool:
    """In the caller's transaction: True, and the next turn ``gap`` from now,
    when the turn has come. One statement: the clock is made on the first
    turn, moved on a later one only if its time has come (an upsert with a
    condition; SQLite and PostgreSQL both have it)."""
    upsert = postgresql.insert if session.bind.dialect.name == "postgresql" else sqlite.insert
    statement = upsert(TurnClock).values(subject=subject, kind=kind, next_at=now + gap)
    taken = await session.execute(
        statement.on_conflict_do_update(
            index_elements=[TurnClock.subject, TurnClock.kind],
            set_={"next_at": now + gap},
            where=TurnClock.next_at <= now,
        )
    )
    return bool(taken.rowcount)
