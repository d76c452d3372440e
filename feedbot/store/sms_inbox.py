"""Inbound texts, stored before Twilio is told they arrived.

The webhook stores the text and claims it, answers Twilio, then handles it.
A text whose handling never finished (the app stopped, the process was
killed) is claimed again by a later scheduler round once its claim has
lapsed; handling is idempotent (the MessageSid is the transcript message's
external id), so a text is handled once however often it is tried.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from feedbot.store.database import claim_each
from feedbot.store.models import InboundSms

# A claim this old has lapsed: whoever took it is gone (FEEDBOT_CLAIM_SECONDS).
CLAIM_LAPSES_AFTER = timedelta(minutes=2)
# A text whose handling failed this often is left for a person to look at
# (it stays in the inbox, unhandled), rather than tried for ever.
MAX_ATTEMPTS = 5


class SmsInbox:
    def __init__(self, engine: AsyncEngine, claim: timedelta = CLAIM_LAPSES_AFTER) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._claim = claim

    async def receive(self, sid: str, phone: str, body: str, at: datetime) -> bool:
        """Store a text and claim it for this instance; False when the same
        MessageSid was stored before (Twilio retried)."""
        try:
            async with self._sessions.begin() as session:
                session.add(
                    InboundSms(
                        sid=sid, phone=phone, body=body, received_at=at, claimed_at=at, attempts=1
                    )
                )
        except IntegrityError:
            return False
        return True

    async def handled(self, sid: str, at: datetime) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                update(InboundSms).where(InboundSms.sid == sid).values(handled_at=at)
            )

    async def claim_unhandled(self, now: datetime, limit: int = 100) -> list[InboundSms]:
        """Texts not handled whose claim has lapsed, oldest first, each
        claimed now by one instance only (a conditional update)."""
        lapsed = now - self._claim
        async with self._sessions() as session:
            candidates = list(
                await session.scalars(
                    select(InboundSms)
                    .where(
                        InboundSms.handled_at.is_(None),
                        InboundSms.claimed_at < lapsed,
                        InboundSms.attempts < MAX_ATTEMPTS,
                    )
                    .order_by(InboundSms.received_at)
                    .limit(limit)
                )
            )
        return await claim_each(
            self._sessions,
            candidates,
            lambda text: (
                update(InboundSms)
                .where(
                    InboundSms.sid == text.sid,
                    InboundSms.handled_at.is_(None),
                    or_(InboundSms.claimed_at.is_(None), InboundSms.claimed_at < lapsed),
                )
                .values(claimed_at=now, attempts=InboundSms.attempts + 1)
            ),
        )
