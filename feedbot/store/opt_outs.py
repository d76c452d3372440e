"""Opt-outs: numbers that texted STOP, never messaged until they opt back in."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from feedbot.store.models import OptOut


class OptOutStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def is_opted_out(self, phone: str) -> bool:
        async with self._sessions() as session:
            return (
                await session.scalar(select(OptOut.phone).where(OptOut.phone == phone)) is not None
            )

    async def opt_out(self, phone: str, keyword: str, at: datetime) -> bool:
        """Record the opt-out; False if the number had already opted out."""
        try:
            async with self._sessions.begin() as session:
                session.add(OptOut(phone=phone, keyword=keyword, opted_out_at=at))
        except IntegrityError:
            return False
        return True

    async def opt_in(self, phone: str) -> bool:
        """Remove the opt-out; False if the number was not opted out."""
        async with self._sessions.begin() as session:
            result = await session.execute(delete(OptOut).where(OptOut.phone == phone))
            return bool(result.rowcount)
