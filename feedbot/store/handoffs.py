"""Hand-offs to agents: opening one (at most one open per survey), the queue,
claiming (a conditional update: two agents never both get it), replies,
internal notes, resolving, and the customer's answer to the recovery
question. Times come from the caller, as in the rest of the store."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlalchemy.orm import selectinload

from feedbot.store.database import claim_each
from feedbot.store.models import Handoff, HandoffNote, HandoffState, Survey, WebhookDelivery

OPEN = (HandoffState.WAITING, HandoffState.CLAIMED)
# A hand-off that still expects the customer's next words: offered (yes or
# no?), open (for the agent), or resolved with the recovery question unanswered.
EXPECTS_CUSTOMER = Handoff.state.in_((*OPEN, HandoffState.OFFERED)) | (
    (Handoff.state == HandoffState.RESOLVED) & Handoff.recovery_at.is_(None)
)


@dataclass(frozen=True)
class QueuedHandoff:
    handoff: Handoff
    survey: Survey


class HandoffStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def open(
        self, survey_id: str, reason: str, detail: str | None, urgency: int, at: datetime
    ) -> tuple[Handoff, bool]:
        """The survey's open hand-off, made now if it has none: (it, made now)."""
        async with self._sessions.begin() as session:
            existing = await session.scalar(
                select(Handoff).where(Handoff.survey_id == survey_id, Handoff.state.in_(OPEN))
            )
            if existing is not None:
                return existing, False
            handoff = Handoff(
                id=uuid.uuid4().hex,
                survey_id=survey_id,
                reason=reason,
                detail=detail,
                urgency=urgency,
                state=HandoffState.WAITING,
                created_at=at,
            )
            session.add(handoff)
        return handoff, True

    async def offer(self, survey_id: str, detail: str, at: datetime) -> Handoff | None:
        """Record that a person was offered to a severe detractor; None when
        this survey already has a hand-off of any kind (offered once only)."""
        async with self._sessions.begin() as session:
            if await session.scalar(select(Handoff.id).where(Handoff.survey_id == survey_id)):
                return None
            handoff = Handoff(
                id=uuid.uuid4().hex,
                survey_id=survey_id,
                reason="severe_detractor",
                detail=detail,
                urgency=3,
                state=HandoffState.OFFERED,
                created_at=at,
            )
            session.add(handoff)
        return handoff

    async def answer_offer(self, handoff_id: str, accepted: bool, at: datetime) -> bool:
        """Accepted: into the queue, waiting from now. Declined: closed."""
        values: dict[str, object] = (
            {"state": HandoffState.WAITING, "created_at": at}
            if accepted
            else {"state": HandoffState.DECLINED, "resolved_at": at}
        )
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(Handoff)
                .where(Handoff.id == handoff_id, Handoff.state == HandoffState.OFFERED)
                .values(values)
            )
        return bool(result.rowcount)

    async def get(self, handoff_id: str) -> Handoff | None:
        async with self._sessions() as session:
            return await session.get(Handoff, handoff_id)

    async def open_for_survey(self, survey_id: str) -> Handoff | None:
        """The hand-off that has the conversation now, if any."""
        async with self._sessions() as session:
            return await session.scalar(
                select(Handoff).where(Handoff.survey_id == survey_id, Handoff.state.in_(OPEN))
            )

    async def latest_for_survey(self, survey_id: str) -> Handoff | None:
        """The survey's most recent hand-off in any state (offered, declined…)."""
        async with self._sessions() as session:
            return await session.scalar(
                select(Handoff)
                .where(Handoff.survey_id == survey_id)
                .order_by(Handoff.created_at.desc())
                .limit(1)
            )

    async def current_for_survey(self, survey_id: str) -> Handoff | None:
        """The survey's hand-off that expects the customer's next words, if any
        (one query for every customer message)."""
        async with self._sessions() as session:
            return await session.scalar(
                select(Handoff)
                .where(Handoff.survey_id == survey_id, EXPECTS_CUSTOMER)
                .order_by(Handoff.created_at.desc())
                .limit(1)
            )

    async def open_for_customer(self, channel: str, customer_ref: str) -> QueuedHandoff | None:
        """The hand-off that still expects this customer's messages on this
        channel (an SMS number whose survey has ended): offered to a severe
        detractor, open, or resolved with the recovery question unanswered."""
        async with self._sessions() as session:
            row = (
                await session.execute(
                    select(Handoff, Survey)
                    .join(Survey, Survey.id == Handoff.survey_id)
                    .where(
                        Survey.channel == channel,
                        Survey.customer_ref == customer_ref,
                        EXPECTS_CUSTOMER,
                    )
                    .order_by(Handoff.created_at.desc())
                    .limit(1)
                )
            ).first()
        return QueuedHandoff(*row) if row else None

    async def queue(self) -> list[QueuedHandoff]:
        """Open hand-offs, most urgent first, then oldest first."""
        async with self._sessions() as session:
            rows = await session.execute(
                select(Handoff, Survey)
                .join(Survey, Survey.id == Handoff.survey_id)
                .where(Handoff.state.in_(OPEN))
                .options(selectinload(Survey.response))
                .order_by(Handoff.urgency.desc(), Handoff.created_at, Handoff.id)
            )
            return [QueuedHandoff(h, s) for h, s in rows.tuples()]

    async def claim(self, handoff_id: str, agent: str, at: datetime) -> bool:
        """Give a waiting hand-off to this agent; False if it was not waiting."""
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(Handoff)
                .where(Handoff.id == handoff_id, Handoff.state == HandoffState.WAITING)
                .values(state=HandoffState.CLAIMED, claimed_by=agent, claimed_at=at)
            )
        return bool(result.rowcount)

    async def replied(self, handoff_id: str, at: datetime) -> None:
        """An agent answered the customer: the first time is the service level."""
        async with self._sessions.begin() as session:
            await session.execute(
                update(Handoff)
                .where(Handoff.id == handoff_id, Handoff.first_reply_at.is_(None))
                .values(first_reply_at=at)
            )

    async def add_note(self, handoff_id: str, author: str, text: str, at: datetime) -> HandoffNote:
        note = HandoffNote(handoff_id=handoff_id, author=author, text=text, created_at=at)
        async with self._sessions.begin() as session:
            session.add(note)
        return note

    async def notes(self, handoff_id: str) -> list[HandoffNote]:
        async with self._sessions() as session:
            return list(
                await session.scalars(
                    select(HandoffNote)
                    .where(HandoffNote.handoff_id == handoff_id)
                    .order_by(HandoffNote.id)
                )
            )

    async def resolve(self, handoff_id: str, code: str, at: datetime, agent: str) -> bool:
        """Close an open hand-off with a resolution code; False if it was not
        open, or another agent has claimed it."""
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(Handoff)
                .where(
                    Handoff.id == handoff_id,
                    Handoff.state.in_(OPEN),
                    or_(Handoff.claimed_by.is_(None), Handoff.claimed_by == agent),
                )
                .values(state=HandoffState.RESOLVED, resolution_code=code, resolved_at=at)
            )
        return bool(result.rowcount)

    async def release(self, handoff_id: str, agent: str) -> bool:
        """The claiming agent gives a hand-off back to the queue; False if
        it was not claimed by them."""
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(Handoff)
                .where(
                    Handoff.id == handoff_id,
                    Handoff.state == HandoffState.CLAIMED,
                    Handoff.claimed_by == agent,
                )
                .values(state=HandoffState.WAITING, claimed_by=None, claimed_at=None)
            )
        return bool(result.rowcount)

    async def reassign(self, handoff_id: str, to: str, at: datetime) -> bool:
        """Give an open hand-off to this agent, whoever had it; False if it
        was not open."""
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(Handoff)
                .where(Handoff.id == handoff_id, Handoff.state.in_(OPEN))
                .values(state=HandoffState.CLAIMED, claimed_by=to, claimed_at=at)
            )
        return bool(result.rowcount)

    async def record_recovery(self, handoff_id: str, answer: str, at: datetime) -> bool:
        """The customer's answer to "Did we sort this out?", kept once."""
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(Handoff)
                .where(Handoff.id == handoff_id, Handoff.recovery_at.is_(None))
                .values(recovery_answer=answer, recovery_at=at)
            )
        return bool(result.rowcount)

    async def earlier_surveys(self, customer_ref: str, before: str) -> list[Survey]:
        """The customer's other surveys, newest first (for the summary card)."""
        async with self._sessions() as session:
            return list(
                await session.scalars(
                    select(Survey)
                    .where(Survey.customer_ref == customer_ref, Survey.id != before)
                    .options(selectinload(Survey.response))
                    .order_by(Survey.created_at.desc())
                    .limit(5)
                )
            )

    async def log_delivery(
        self, handoff_id: str, event: str, url: str, payload: str, at: datetime
    ) -> int:
        """A webhook delivery about to be tried; its id for the outcome."""
        delivery = WebhookDelivery(
            handoff_id=handoff_id,
            event=event,
            url=url,
            payload=payload,
            status="pending",
            attempts=0,
            created_at=at,
            claimed_at=at,
        )
        async with self._sessions.begin() as session:
            session.add(delivery)
        return delivery.id

    async def claim_stalled_deliveries(
        self, now: datetime, lapse: timedelta, limit: int = 100
    ) -> list[WebhookDelivery]:
        """Pending deliveries whose instance stopped before finishing them
        (claimed longer ago than ``lapse``), each taken on now by one caller."""
        lapsed = now - lapse
        async with self._sessions() as session:
            stalled = list(
                await session.scalars(
                    select(WebhookDelivery)
                    .where(WebhookDelivery.status == "pending", WebhookDelivery.claimed_at < lapsed)
                    .order_by(WebhookDelivery.id)
                    .limit(limit)
                )
            )
        return await claim_each(
            self._sessions,
            stalled,
            lambda delivery: (
                update(WebhookDelivery)
                .where(
                    WebhookDelivery.id == delivery.id,
                    WebhookDelivery.status == "pending",
                    WebhookDelivery.claimed_at < lapsed,
                )
                .values(claimed_at=now)
            ),
        )

    async def delivery_tried(
        self, delivery_id: int, status: str, attempts: int, error: str | None, at: datetime
    ) -> None:
        """pending (to be tried again), delivered or failed; a delivery keeps
        the last failure it had."""
        values: dict[str, object] = {
            "status": status,
            "attempts": attempts,
            "last_error": error,
            "claimed_at": at,  # still being worked on
        }
        if status == "delivered":
            values["delivered_at"] = at
        async with self._sessions.begin() as session:
            await session.execute(
                update(WebhookDelivery).where(WebhookDelivery.id == delivery_id).values(values)
            )
