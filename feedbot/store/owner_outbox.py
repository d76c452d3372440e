"""What owners are told (alerts, digests), stored before it is sent.

An ended detractor's survey has ``alert_state = "due"`` (set with its
ending). A round queues one ``owner_alerts`` row per owner who wants it, and
clears the state in the same transaction. Waiting alerts of one owner are
told in one batch: the batch's messages (e-mail, Slack) are written with
their whole text, the alerts marked with the batch, and the owner's clock
moved on by the minimum gap, all in one transaction that only one instance
can win. The messages are then sent from ``owner_messages`` (the outbox):
``pending`` → ``sending`` (one instance) → ``sent``, or back to ``pending``
with a later ``next_attempt_at`` after a failure, ``failed`` in the end. A
``sending`` claim that lapsed (its instance stopped) is taken again: an
e-mail can then arrive twice, never not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from feedbot.store.database import claim_each
from feedbot.store.models import OwnerAlert, OwnerMessage, Survey
from feedbot.store.survey_states import ALERT_DUE
from feedbot.store.turn_clocks import next_turn, take_turn

PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"
ALERT = "alert"
DIGEST = "digest"


class _Lost(Exception):
    """Another round took the turn or the alerts: roll back."""


@dataclass(frozen=True)
class Draft:
    """A message to store: its channel and its whole text."""

    channel: str  # email, slack
    subject: str
    text: str
    html: str | None = None


@dataclass(frozen=True)
class Outgoing:
    """A message taken for sending."""

    id: int
    owner: str
    kind: str
    channel: str
    subject: str
    text: str
    html: str | None
    attempts: int  # including this one
    created_at: datetime


class OwnerOutbox:
    def __init__(self, engine: AsyncEngine, claim: timedelta = timedelta(minutes=2)) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._claim = claim

    # --- alerts ---

    async def due_surveys(self, limit: int = 200) -> list[str]:
        """Ended detractors' surveys whose owners' alerts are not queued yet."""
        async with self._sessions() as session:
            found = await session.scalars(
                select(Survey.id).where(Survey.alert_state == ALERT_DUE).limit(limit)
            )
            return list(found)

    async def queue_alerts(self, survey_id: str, owners: Sequence[str], at: datetime) -> bool:
        """One alert per owner for this survey, once: False when another
        round queued them first."""
        async with self._sessions.begin() as session:
            taken = await session.execute(
                update(Survey)
                .where(Survey.id == survey_id, Survey.alert_state == ALERT_DUE)
                .values(alert_state=None)
            )
            if not taken.rowcount:
                return False
            session.add_all(
                OwnerAlert(owner=owner, survey_id=survey_id, created_at=at) for owner in owners
            )
        return True

    async def owners_waiting(self) -> list[str]:
        async with self._sessions() as session:
            found = await session.scalars(
                select(OwnerAlert.owner).where(OwnerAlert.batch.is_(None)).distinct()
            )
            return list(found)

    async def waiting(self, owner: str) -> list[tuple[int, str]]:
        """The owner's alerts not told yet, oldest first: (alert id, survey id)."""
        async with self._sessions() as session:
            found = await session.execute(
                select(OwnerAlert.id, OwnerAlert.survey_id)
                .where(OwnerAlert.owner == owner, OwnerAlert.batch.is_(None))
                .order_by(OwnerAlert.id)
            )
            return [(row.id, row.survey_id) for row in found]

    async def next_turn(self, owner: str, kind: str) -> datetime:
        """When the owner may next get a message of this kind."""
        async with self._sessions() as session:
            return await next_turn(session, owner, kind)

    async def commit_batch(
        self,
        owner: str,
        batch: str,
        alert_ids: Sequence[int],
        drafts: Sequence[Draft],
        now: datetime,
        gap: timedelta,
    ) -> bool:
        """Store a batch's messages and mark its alerts told, if the owner's
        turn has come and no other round took these alerts; else nothing."""
        try:
            async with self._sessions.begin() as session:
                if not await take_turn(session, owner, ALERT, now, gap):
                    raise _Lost
                marked = await session.execute(
                    update(OwnerAlert)
                    .where(OwnerAlert.id.in_(alert_ids), OwnerAlert.batch.is_(None))
                    .values(batch=batch)
                )
                if marked.rowcount != len(alert_ids):
                    raise _Lost
                session.add_all(_message(owner, ALERT, d, now, batch=batch) for d in drafts)
        except _Lost:  # rolled back
            return False
        return True

    async def batch_of(self, survey_id: str, owner: str) -> str | None:
        async with self._sessions() as session:
            return await session.scalar(
                select(OwnerAlert.batch).where(
                    OwnerAlert.survey_id == survey_id, OwnerAlert.owner == owner
                )
            )

    # --- digests and other messages made once ---

    async def add_once(
        self, owner: str, kind: str, dedupe_key: str, drafts: Sequence[Draft], at: datetime
    ) -> bool:
        """Store these messages unless a message with this key was stored
        before (by any instance): True when this call stored them."""
        try:
            async with self._sessions.begin() as session:
                session.add_all(
                    _message(owner, kind, d, at, dedupe_key=f"{dedupe_key}/{d.channel}")
                    for d in drafts
                )
        except IntegrityError:
            return False
        return True

    async def has_key(self, dedupe_key: str) -> bool:
        async with self._sessions() as session:
            found = await session.scalar(
                select(OwnerMessage.id).where(OwnerMessage.dedupe_key == dedupe_key)
            )
        return found is not None

    async def add_sent(self, owner: str, kind: str, draft: Draft, at: datetime) -> None:
        """A message sent outside the outbox (``feedbot digest send``), recorded."""
        message = _message(owner, kind, draft, at)
        message.status, message.sent_at, message.attempts = SENT, at, 1
        message.next_attempt_at = None
        async with self._sessions.begin() as session:
            session.add(message)

    # --- sending ---

    async def take_ready(self, now: datetime, limit: int = 50) -> list[Outgoing]:
        """Messages due for a try, each claimed by this instance."""
        lapsed = now - self._claim
        ready = or_(
            and_(
                OwnerMessage.status == PENDING,
                or_(OwnerMessage.next_attempt_at.is_(None), OwnerMessage.next_attempt_at <= now),
            ),
            and_(OwnerMessage.status == SENDING, OwnerMessage.claimed_at < lapsed),
        )
        async with self._sessions() as session:
            candidates = list(
                await session.scalars(
                    select(OwnerMessage).where(ready).order_by(OwnerMessage.id).limit(limit)
                )
            )
        won = await claim_each(
            self._sessions,
            candidates,
            lambda m: (
                update(OwnerMessage)
                .where(OwnerMessage.id == m.id, OwnerMessage.status == m.status)
                .where(
                    OwnerMessage.claimed_at.is_(None)
                    if m.claimed_at is None
                    else OwnerMessage.claimed_at == m.claimed_at
                )
                .values(status=SENDING, claimed_at=now, attempts=OwnerMessage.attempts + 1)
            ),
        )
        return [
            Outgoing(
                m.id,
                m.owner,
                m.kind,
                m.channel,
                m.subject,
                m.text,
                m.html,
                m.attempts + 1,
                m.created_at,
            )
            for m in won
        ]

    async def sent(self, message_id: int, at: datetime) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                update(OwnerMessage)
                .where(OwnerMessage.id == message_id)
                .values(status=SENT, sent_at=at, next_attempt_at=None)
            )

    async def failed(self, message_id: int, error: str, retry_at: datetime | None) -> None:
        """A try failed: again at ``retry_at``, or given up (None)."""
        async with self._sessions.begin() as session:
            await session.execute(
                update(OwnerMessage)
                .where(OwnerMessage.id == message_id)
                .values(
                    status=PENDING if retry_at else FAILED,
                    next_attempt_at=retry_at,
                    last_error=error[:1000],
                    claimed_at=None,
                )
            )

    async def next_due(self) -> datetime | None:
        """When the earliest pending message is due (for a sender that waits)."""
        async with self._sessions() as session:
            return await session.scalar(
                select(OwnerMessage.next_attempt_at)
                .where(OwnerMessage.status == PENDING)
                .order_by(OwnerMessage.next_attempt_at)
                .limit(1)
            )


def _message(
    owner: str,
    kind: str,
    draft: Draft,
    at: datetime,
    *,
    batch: str | None = None,
    dedupe_key: str | None = None,
) -> OwnerMessage:
    return OwnerMessage(
        owner=owner,
        kind=kind,
        channel=draft.channel,
        batch=batch,
        dedupe_key=dedupe_key,
        subject=draft.subject,
        text=draft.text,
        html=draft.html,
        status=PENDING,
        attempts=0,
        created_at=at,
        next_attempt_at=at,
    )
