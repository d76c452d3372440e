"""The audit log: one row per agent's or admin's action on customers' data
(claim, reply, note, release, reassign, resolve, an unmasked export, an
erasure), with who and when. Details are ids and codes, never what the
customer or the agent wrote."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlalchemy.orm import Session

from feedbot.store.models import AuditEvent


def _event(
    actor: str, role: str, action: str, at: datetime, target: str | None, detail: dict | None
) -> AuditEvent:
    return AuditEvent(
        actor=actor[:64], role=role, action=action, target=target, detail=detail, at=at
    )


class AuditLog:
    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def record(
        self,
        actor: str,
        role: str,
        action: str,
        at: datetime,
        target: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        async with self._sessions.begin() as session:
            session.add(_event(actor, role, action, at, target, detail))


def record_sync(
    engine: Engine,
    actor: str,
    role: str,
    action: str,
    at: datetime,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """The same, for the command line (a sync engine)."""
    with Session(engine) as session, session.begin():
        session.add(_event(actor, role, action, at, target, detail))


def recent(engine: Engine, limit: int = 100, since: datetime | None = None) -> list[AuditEvent]:
    """The newest events first."""
    query = select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(limit)
    if since is not None:
        query = query.where(AuditEvent.at >= since)
    with Session(engine) as session:
        return list(session.scalars(query))
