"""Improvements ("you said, we did") and the notices that tell customers.

Logging an improvement stores it and one ``improvement_notices`` row per
customer to tell, in one transaction. Notices are then sent by rounds of
any instance (bot.improvement_notices): each is claimed (``sending``),
then ``sent`` or ``skipped`` (with why), or put back with a later
``next_attempt_at`` (quiet hours, a failed webhook). A claim that lapsed
(its instance stopped) is taken again.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from feedbot.store.models import (
    Improvement,
    ImprovementNotice,
    Message,
    OptOut,
    ResponseTheme,
    Survey,
    TurnClock,
)

QUEUED, SENDING, SENT, SKIPPED = "queued", "sending", "sent", "skipped"
# A customer is told of at most one improvement in this time.
NOTICE_GAP = timedelta(days=30)
NOTICE = "improvement"


@dataclass(frozen=True)
class Customer:
    channel: str
    customer_ref: str
    survey_id: str  # their latest survey whose reason raised the theme


@dataclass(frozen=True)
class NoticeReach:
    """What the channels say about telling their customers of an
    improvement (bot.channels: each channel's `untold`): the channels that
    tell, the ones that cannot now (by the key their customers are counted
    under, e.g. "web_without_webhook"), and every such key (reported even
    when 0)."""

    channels: frozenset[str]
    untold: dict[str, str] = field(default_factory=dict)
    keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class Audience:
    """Who an improvement would reach, and who not and why."""

    reach: list[Customer]
    excluded: dict[str, int]

    def by_channel(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for customer in self.reach:
            counts[customer.channel] = counts.get(customer.channel, 0) + 1
        return counts


@dataclass(frozen=True)
class Notice:
    id: int
    improvement_id: str
    survey_id: str
    channel: str
    customer_ref: str
    attempts: int  # including this one


def notice_subject(channel: str, customer_ref: str) -> str:
    """The turn clock's subject for a customer (TurnClock.subject)."""
    return f"{channel}:{customer_ref}"


class ImprovementStore:
    def __init__(self, engine: AsyncEngine, claim: timedelta = timedelta(minutes=2)) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._claim = claim

    async def audience(
        self,
        theme: str,
        touchpoint: str | None,
        location: str | None,
        since: datetime,
        now: datetime,
        *,
        reach: NoticeReach,
    ) -> Audience:
        """Customers whose reason in this scope since then was tagged with the
        theme, on a channel that tells them (``reach``); one each, by their
        latest such survey. Excluded: customers who opted out, customers told
        of an improvement in the last 30 days, and those of a channel that
        cannot tell them now, counted by why."""
        conditions = [
            ResponseTheme.theme == theme,
            ResponseTheme.created_day >= since.date().isoformat(),
            Survey.customer_ref.is_not(None),
            Survey.anonymised_at.is_(None),
        ]
        if touchpoint:
            conditions.append(ResponseTheme.touchpoint == touchpoint)
        if location:
            conditions.append(ResponseTheme.location == location)
        query = (
            select(Survey.channel, Survey.customer_ref, Survey.id)
            .join(ResponseTheme, ResponseTheme.survey_id == Survey.id)
            .where(*conditions, Survey.created_at >= since)
            .order_by(Survey.created_at.desc())
        )
        async with self._sessions() as session:
            rows = (await session.execute(query)).all()
            opted_out = set(
                await session.scalars(
                    select(OptOut.phone).where(OptOut.phone.in_({r.customer_ref for r in rows}))
                )
            )
            told = set(
                await session.scalars(
                    select(TurnClock.subject).where(
                        TurnClock.kind == NOTICE, TurnClock.next_at > now
                    )
                )
            )
        seen: set[tuple[str, str]] = set()
        excluded = {"opted_out": 0, "told_in_last_30_days": 0, **dict.fromkeys(reach.keys, 0)}
        told_of_it: list[Customer] = []
        for channel, ref, survey_id in rows:
            if (channel, ref) in seen:
                continue
            seen.add((channel, ref))
            if ref in opted_out:  # (an opt-out is the customer's, on any channel)
                excluded["opted_out"] += 1
            elif notice_subject(channel, ref) in told:
                excluded["told_in_last_30_days"] += 1
            elif channel in reach.untold:
                key = reach.untold[channel]
                excluded[key] = excluded.get(key, 0) + 1
            elif channel in reach.channels:
                told_of_it.append(Customer(channel, ref, survey_id))
        return Audience(told_of_it, excluded)

    async def log(
        self,
        *,
        theme: str,
        touchpoint: str | None,
        location: str | None,
        title: str,
        message: str,
        lookback_days: int,
        by: str,
        at: datetime,
        customers: Iterable[Customer],
    ) -> Improvement:
        """The improvement and its notices, stored together."""
        improvement = Improvement(
            id=uuid.uuid4().hex,
            theme=theme,
            touchpoint=touchpoint,
            location=location,
            title=title,
            message=message,
            lookback_days=lookback_days,
            created_at=at,
            created_by=by,
        )
        rows = [
            {
                "improvement_id": improvement.id,
                "survey_id": c.survey_id,
                "channel": c.channel,
                "customer_ref": c.customer_ref,
                "status": QUEUED,
                "attempts": 0,
                "next_attempt_at": at,
            }
            for c in customers
        ]
        improvement.recipients = len(rows)
        async with self._sessions.begin() as session:
            session.add(improvement)
            await session.flush()
            for start in range(0, len(rows), 1000):
                await session.execute(insert(ImprovementNotice), rows[start : start + 1000])
        return improvement

    async def get(self, improvement_id: str) -> Improvement | None:
        async with self._sessions() as session:
            return await session.get(Improvement, improvement_id)

    async def status_counts(self, improvement_id: str) -> dict[str, int]:
        async with self._sessions() as session:
            rows = await session.execute(
                select(ImprovementNotice.status, func.count())
                .where(ImprovementNotice.improvement_id == improvement_id)
                .group_by(ImprovementNotice.status)
            )
            return {status: int(count) for status, count in rows}

    async def take_due(self, now: datetime, limit: int = 200) -> list[Notice]:
        """Notices due now, each claimed by this instance (oldest first)."""
        lapsed = now - self._claim
        due = or_(
            and_(ImprovementNotice.status == QUEUED, ImprovementNotice.next_attempt_at <= now),
            and_(ImprovementNotice.status == SENDING, ImprovementNotice.claimed_at < lapsed),
        )
        # Most rounds find nothing: a read says so without a write transaction.
        async with self._sessions() as session:
            if await session.scalar(select(ImprovementNotice.id).where(due).limit(1)) is None:
                return []
        # One conditional update takes a batch (RETURNING says which rows
        # this instance won): a round's claims cost one write, not one each.
        async with self._sessions.begin() as session:
            chosen = (
                select(ImprovementNotice.id)
                .where(due)
                .order_by(ImprovementNotice.id)
                .limit(limit)
                .scalar_subquery()
            )
            won = await session.execute(
                update(ImprovementNotice)
                .where(ImprovementNotice.id.in_(chosen), due)
                .values(status=SENDING, claimed_at=now, attempts=ImprovementNotice.attempts + 1)
                .returning(
                    ImprovementNotice.id,
                    ImprovementNotice.improvement_id,
                    ImprovementNotice.survey_id,
                    ImprovementNotice.channel,
                    ImprovementNotice.customer_ref,
                    ImprovementNotice.attempts,
                )
                .execution_options(synchronize_session=False)
            )
            return sorted((Notice(*row) for row in won), key=lambda n: n.id)

    async def has_due(self, now: datetime) -> bool:
        async with self._sessions() as session:
            found = await session.scalar(
                select(ImprovementNotice.id)
                .where(ImprovementNotice.status == QUEUED, ImprovementNotice.next_attempt_at <= now)
                .limit(1)
            )
        return found is not None

    async def later(self, notice_id: int, at: datetime, why: str | None = None) -> None:
        """Not now (quiet hours, a failed try): queued again for ``at``."""
        async with self._sessions.begin() as session:
            await session.execute(
                update(ImprovementNotice)
                .where(ImprovementNotice.id == notice_id)
                .values(status=QUEUED, next_attempt_at=at, claimed_at=None, why=why)
            )

    async def skip(self, notice_id: int, why: str) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                update(ImprovementNotice)
                .where(ImprovementNotice.id == notice_id)
                .values(status=SKIPPED, why=why, next_attempt_at=None)
            )

    async def finish(
        self, session: AsyncSession, notice: Notice, at: datetime, messages: Iterable[Message]
    ) -> None:
        """In the caller's transaction: the notice sent, with the messages
        that carry it (the SMS outbox's parts, or the transcript's copy)."""
        session.add_all(messages)
        await session.execute(
            update(ImprovementNotice)
            .where(ImprovementNotice.id == notice.id)
            .values(status=SENT, sent_at=at, next_attempt_at=None, why=None)
        )

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]:
        return self._sessions

    async def recent_notice(self, channel: str, customer_ref: str, since: datetime) -> str | None:
        """The survey of the latest notice sent to this customer since then:
        a reply to it goes to the agents."""
        async with self._sessions() as session:
            return await session.scalar(
                select(ImprovementNotice.survey_id)
                .where(
                    ImprovementNotice.channel == channel,
                    ImprovementNotice.customer_ref == customer_ref,
                    ImprovementNotice.status == SENT,
                    ImprovementNotice.sent_at >= since,
                )
                .order_by(ImprovementNotice.sent_at.desc())
                .limit(1)
            )
