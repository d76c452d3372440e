"""Erasing a customer, and keeping answers no longer than the operator's
retention period (docs/privacy.md).

Erasure deletes everything stored about one customer (their surveys,
answers, themes, transcripts, hand-offs with their notes and webhook log,
stray texts from their number, and Rasa's copy of each conversation) and
records that it happened, without the identifier itself. Their opt-out, if
any, is kept: it is what keeps them from being texted again.

Retention anonymises instead of deleting: a survey older than the period
keeps its touchpoint, location, day, score, category, themes and sentiment
(so reports over the past stay right) and loses every word and identifier.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, MetaData, Table, delete, or_, select, update
from sqlalchemy.exc import NoSuchTableError
from sqlalchemy.orm import Session

from feedbot.settings import Settings
from feedbot.store.models import (
    Erasure,
    Handoff,
    HandoffNote,
    ImprovementNotice,
    InboundSms,
    Message,
    OwnerAlert,
    OwnerMessage,
    Response,
    ResponseTheme,
    Survey,
    TurnClock,
    WebhookDelivery,
)
from feedbot.store.rasa_tracker import RASA_EVENTS  # keyed by the conversation (survey) id

_BATCH = 500


@dataclass(frozen=True)
class Erased:
    surveys: int = 0
    messages: int = 0
    handoffs: int = 0
    conversation_events: int = 0  # in Rasa's tracker store

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def identifier_digest(identifier: str, key: str) -> str:
    """A keyed hash of the erased identifier: the record of an erasure can
    answer "was this number erased?" for whoever holds the key, and names
    nobody to anyone else."""
    return hmac.new(key.encode(), identifier.encode(), hashlib.sha256).hexdigest()[:32]


def erase_customer(
    engine: Engine,
    *,
    customer_ref: str,
    kind: str,
    by: str,
    at: datetime,
    key: str,
    tracker_engine: Engine | None = None,
) -> Erased:
    """Delete everything stored about the customer whose surveys carry
    ``customer_ref`` (an E.164 number for ``kind="phone"``, a company's own
    id for ``kind="customer_id"``), in one transaction, and record it."""
    with Session(engine) as session, session.begin():
        survey_ids = list(
            session.scalars(select(Survey.id).where(Survey.customer_ref == customer_ref))
        )
        handoffs = _delete_handoffs(session, survey_ids)
        own_texts = [Message.survey_id.in_(survey_ids)] if survey_ids else []
        if kind == "phone":
            own_texts.append(Message.peer == customer_ref)  # texts outside any survey
        messages = (
            session.execute(delete(Message).where(or_(*own_texts))).rowcount if own_texts else 0
        )
        if kind == "phone":  # the inbox keeps each text as it came, too
            messages += session.execute(
                delete(InboundSms).where(InboundSms.phone == customer_ref)
            ).rowcount
        for table in (ResponseTheme, Response, OwnerAlert):
            session.execute(delete(table).where(table.survey_id.in_(survey_ids)))
        # "You said, we did": who was told, and when they may be told again.
        session.execute(
            delete(ImprovementNotice).where(
                or_(
                    ImprovementNotice.survey_id.in_(survey_ids),
                    ImprovementNotice.customer_ref == customer_ref,
                )
            )
        )
        session.execute(
            delete(TurnClock).where(
                TurnClock.subject.in_([f"sms:{customer_ref}", f"web:{customer_ref}"])
            )
        )
        session.execute(delete(Survey).where(Survey.id.in_(survey_ids)))
        events = _delete_conversations(session, tracker_engine, survey_ids)
        erased = Erased(len(survey_ids), messages, handoffs, events)
        session.add(
            Erasure(
                kind=kind,
                identifier_digest=identifier_digest(customer_ref, key),
                by=by,
                at=at,
                counts=erased.as_dict(),
            )
        )
    return erased


def _delete_handoffs(session: Session, survey_ids: list[str]) -> int:
    handoff_ids = list(session.scalars(select(Handoff.id).where(Handoff.survey_id.in_(survey_ids))))
    for table in (WebhookDelivery, HandoffNote):
        session.execute(delete(table).where(table.handoff_id.in_(handoff_ids)))
    session.execute(delete(Handoff).where(Handoff.id.in_(handoff_ids)))
    return len(handoff_ids)


def _delete_conversations(
    session: Session, tracker_engine: Engine | None, survey_ids: list[str]
) -> int:
    """Rasa's events of these conversations (its tracker store is its own
    database beside an SQLite store; tables in the same database on
    PostgreSQL, deleted then in the session's own transaction)."""
    if tracker_engine is None or not survey_ids:
        return 0
    same = tracker_engine.url == session.get_bind().engine.url
    try:
        events = Table(RASA_EVENTS, MetaData(), autoload_with=tracker_engine)
    except NoSuchTableError:  # Rasa has not stored a conversation yet
        return 0
    with contextlib.ExitStack() as stack:
        conn = session.connection() if same else stack.enter_context(tracker_engine.begin())
        return sum(
            conn.execute(delete(events).where(events.c.sender_id.in_(batch))).rowcount
            for batch in _batches(survey_ids)
        )


def _batches(items: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(items), _BATCH):
        yield items[start : start + _BATCH]


@dataclass(frozen=True)
class Anonymised:
    surveys: int = 0
    messages: int = 0
    conversation_events: int = 0


def anonymise_before(
    engine: Engine, before: datetime, at: datetime, tracker_engine: Engine | None = None
) -> Anonymised:
    """Remove every word and identifier of the surveys made before ``before``
    (their figures stay), and texts outside any survey as old; a batch per
    transaction, so a large first run does not hold the database."""
    surveys = messages = events = 0
    while True:
        with Session(engine) as session, session.begin():
            ids = list(
                session.scalars(
                    select(Survey.id)
                    .where(Survey.created_at < before, Survey.anonymised_at.is_(None))
                    .limit(_BATCH)
                )
            )
            if not ids:
                break
            messages += session.execute(delete(Message).where(Message.survey_id.in_(ids))).rowcount
            session.execute(
                update(Response)
                .where(Response.survey_id.in_(ids))
                .values(reason=None, follow_up=None)
            )
            session.execute(
                update(ResponseTheme).where(ResponseTheme.survey_id.in_(ids)).values(words=None)
            )
            handoff_ids = select(Handoff.id).where(Handoff.survey_id.in_(ids))
            session.execute(delete(HandoffNote).where(HandoffNote.handoff_id.in_(handoff_ids)))
            session.execute(
                delete(WebhookDelivery).where(WebhookDelivery.handoff_id.in_(handoff_ids))
            )
            # The hand-off's detail quotes the customer; "yes"/"no" recovery
            # answers are figures, anything else is their words.
            session.execute(update(Handoff).where(Handoff.survey_id.in_(ids)).values(detail=None))
            session.execute(
                update(Handoff)
                .where(
                    Handoff.survey_id.in_(ids),
                    Handoff.recovery_answer.is_not(None),
                    Handoff.recovery_answer.not_in(["yes", "no"]),
                )
                .values(recovery_answer="other")
            )
            session.execute(delete(ImprovementNotice).where(ImprovementNotice.survey_id.in_(ids)))
            session.execute(
                update(Survey)
                .where(Survey.id.in_(ids))
                .values(customer_ref=None, interaction_id=None, anonymised_at=at)
            )
            events += _delete_conversations(session, tracker_engine, ids)
            surveys += len(ids)
    with Session(engine) as session, session.begin():
        messages += session.execute(
            delete(Message).where(Message.survey_id.is_(None), Message.created_at < before)
        ).rowcount
        messages += session.execute(
            delete(InboundSms).where(InboundSms.received_at < before)
        ).rowcount
        # Owners' alerts and digests quote customers (contacts masked).
        messages += session.execute(
            delete(OwnerMessage).where(
                OwnerMessage.created_at < before, OwnerMessage.status.in_(["sent", "failed"])
            )
        ).rowcount
    return Anonymised(surveys, messages, events)


@contextmanager
def _stores(settings: Settings) -> Iterator[tuple[Engine, Engine]]:
    """The deployment's store and Rasa's tracker store (the same database on
    PostgreSQL by default; a file of its own beside an SQLite store)."""
    from feedbot.rasa_env import tracker_url
    from feedbot.store.database import sync_engine

    engine = sync_engine(settings.database_url)
    tracker = tracker_url(settings, settings.var_dir)
    tracker_engine = engine if tracker == settings.database_url else sync_engine(tracker)
    try:
        yield engine, tracker_engine
    finally:
        if tracker_engine is not engine:
            tracker_engine.dispose()
        engine.dispose()


def erase_with_settings(
    settings: Settings, *, customer_ref: str, kind: str, by: str, at: datetime
) -> Erased:
    """`erase_customer` on the deployment's stores."""
    with _stores(settings) as (engine, tracker_engine):
        return erase_customer(
            engine,
            customer_ref=customer_ref,
            kind=kind,
            by=by,
            at=at,
            key=settings.erasure_key,
            tracker_engine=tracker_engine,
        )


def anonymise_with_settings(settings: Settings, at: datetime) -> Anonymised:
    """The retention period applied to the deployment's stores (nothing
    without FEEDBOT_RETENTION_DAYS)."""
    if settings.retention_days is None:
        return Anonymised()
    with _stores(settings) as (engine, tracker_engine):
        before = at - timedelta(days=settings.retention_days)
        return anonymise_before(engine, before, at, tracker_engine)
