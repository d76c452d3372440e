"""ORM models. Every schema change comes with an Alembic migration."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC and always reads back an aware datetime, on SQLite too."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class Channel(StrEnum):
    WEB = "web"
    SMS = "sms"


class SurveyState(StrEnum):
    STARTED = "started"  # the conversation is open; partial once a score is known
    COMPLETED = "completed"  # the bot reached its thanks
    DECLINED = "declined"  # the customer said they would rather not answer
    LEFT = "left"  # the customer said goodbye before the end
    SCHEDULED = "scheduled"  # waiting for send_at (quiet hours); why in state_reason
    SUPPRESSED = "suppressed"  # not sent, by a contact rule; why in state_reason
    FAILED = "failed"  # could not be sent; why in state_reason
    EXPIRED = "expired"  # no answer before the survey's time ran out


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class Author(StrEnum):
    CUSTOMER = "customer"
    BOT = "bot"
    AGENT = "agent"  # a person answering a hand-off
    TEAM = "team"  # the company's own message: "you said, we did" (an improvement)


# Indexes that reports read (analytics.report; made by migration 0004): the
# counts scan one covering index in touchpoint × location × day order; the
# median time to answer of a group is found by walking that group's index to
# its middle instead of sorting; themes are counted from one index.
REPORT_INDEXES = {
    "surveys": {
        "ix_surveys_report": (
            "touchpoint",
            "location",
            "created_day",
            "state",
            "sent_at",
            "answered_at",
            "score",
            "answer_seconds",
        ),
        "ix_surveys_answer": ("answer_seconds", "created_day", "touchpoint", "location"),
        "ix_surveys_touchpoint_answer": ("touchpoint", "answer_seconds", "created_day", "location"),
        "ix_surveys_location_answer": ("location", "answer_seconds", "created_day", "touchpoint"),
        "ix_surveys_place_answer": ("touchpoint", "location", "answer_seconds", "created_day"),
    },
    "response_themes": {
        "ix_response_themes_report": (
            "touchpoint",
            "location",
            "theme",
            "score",
            "created_day",
            "sentiment",
        ),
    },
}


def _day_of_creation(context: Any) -> str:
    created: datetime = context.get_current_parameters()["created_at"]
    return created.astimezone(UTC).date().isoformat()


class Survey(Base):
    __tablename__ = "surveys"
    # For reports (analytics.report): the counts read one covering index in
    # touchpoint × location × day order; the median time to answer of a group
    # is found by walking that group's index to its middle, not by sorting.
    __table_args__ = tuple(
        Index(name, *columns) for name, columns in REPORT_INDEXES["surveys"].items()
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    channel: Mapped[str] = mapped_column(String(8))
    touchpoint: Mapped[str] = mapped_column(String(64), index=True)
    location: Mapped[str | None] = mapped_column(String(64), index=True)
    customer_ref: Mapped[str | None] = mapped_column(String(128))
    interaction_id: Mapped[str | None] = mapped_column(String(128), unique=True)
    locale: Mapped[str | None] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), default=SurveyState.STARTED)
    state_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The UTC day of created_at ('YYYY-MM-DD'), filled in on insert: reports
    # filter and count by day from an index.
    # (Nullable in the schema only because SQLite cannot add a NOT NULL column
    # to a referenced table in place; every insert fills it.)
    created_day: Mapped[str | None] = mapped_column(String(10), default=_day_of_creation)
    send_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Copied from the response as it is written, for reports: every figure
    # but the themes is then one pass over this table, with no join.
    score: Mapped[int | None] = mapped_column(Integer)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # the first answer
    answer_seconds: Mapped[float | None] = mapped_column(Float)  # from sending to the score
    # When its words and identifiers were removed (the retention period,
    # feedbot.privacy); its figures stay.
    anonymised_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # "due" from the moment a detractor's survey ends (set in the same update
    # as its ending) until its owners' alerts are queued (bot.owner_alerts);
    # None otherwise.
    alert_state: Mapped[str | None] = mapped_column(String(8), index=True)

    response: Mapped[Response | None] = relationship(back_populates="survey", lazy="raise")
    messages: Mapped[list[Message]] = relationship(
        back_populates="survey", order_by="Message.id", lazy="raise"
    )


class Response(Base):
    """What the customer told us; one per survey, written piece by piece."""

    __tablename__ = "responses"

    survey_id: Mapped[str] = mapped_column(ForeignKey("surveys.id"), primary_key=True)
    score: Mapped[int | None] = mapped_column(Integer)
    category: Mapped[str | None] = mapped_column(String(16), index=True)
    reason: Mapped[str | None] = mapped_column(Text)
    # The answer to the one probing question asked after a vague reason.
    follow_up: Mapped[str | None] = mapped_column(Text)
    # Of the reason and follow-up together: positive, neutral or negative.
    sentiment: Mapped[str | None] = mapped_column(String(8), index=True)
    scored_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reason_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    follow_up_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    survey: Mapped[Survey] = relationship(back_populates="response", lazy="raise")
    themes: Mapped[list[ResponseTheme]] = relationship(
        back_populates="response",
        lazy="raise",
        cascade="all, delete-orphan",
        order_by="ResponseTheme.theme",
    )


class ResponseTheme(Base):
    """One theme of one response: rows, so analysts can count them."""

    __tablename__ = "response_themes"
    __table_args__ = tuple(
        Index(name, *columns) for name, columns in REPORT_INDEXES["response_themes"].items()
    )

    survey_id: Mapped[str] = mapped_column(ForeignKey("responses.survey_id"), primary_key=True)
    theme: Mapped[str] = mapped_column(String(32), primary_key=True, index=True)
    # Copies of the survey's, for reports: themes are counted without a join
    # (feedbot.store.report_facts keeps them in step).
    touchpoint: Mapped[str | None] = mapped_column(String(64))
    location: Mapped[str | None] = mapped_column(String(64))
    created_day: Mapped[str | None] = mapped_column(String(10))
    score: Mapped[int | None] = mapped_column(Integer)
    # The theme's own sentiment, read from the words around it ("great food
    # but slow service": product positive, staff negative), and the words of
    # the answer that made the theme, as the customer wrote them.
    sentiment: Mapped[str | None] = mapped_column(String(8))
    words: Mapped[list[str] | None] = mapped_column(JSON)

    response: Mapped[Response] = relationship(back_populates="themes", lazy="raise")


class Message(Base):
    """One message of the transcript, in or out."""

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # None for messages outside any survey (a STOP confirmation, a stray text).
    survey_id: Mapped[str | None] = mapped_column(ForeignKey("surveys.id"), index=True)
    # The customer's number (SMS) the message went to or came from.
    peer: Mapped[str | None] = mapped_column(String(32), index=True)
    direction: Mapped[str] = mapped_column(String(8))
    author: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    buttons: Mapped[list[dict[str, str]] | None] = mapped_column(JSON)
    # The sender's own id for the message (a widget's message id, later an SMS
    # MessageSid): a message delivered twice is stored once.
    external_id: Mapped[str | None] = mapped_column(String(128), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Outbound SMS: queued, sent, delivered, undelivered, failed (Twilio's words),
    # or "error" when Twilio refused it; the reason in delivery_error.
    delivery_status: Mapped[str | None] = mapped_column(String(16))
    delivery_error: Mapped[str | None] = mapped_column(Text)
    status_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # A customer's message the bot has not answered yet, and from when a
    # scheduler round may answer it (bot.replay): now, when no Rasa instance
    # could take it; a little ahead while its turn holds it (the turn's
    # instance may still finish it). None once the answer is stored.
    awaiting_bot_since: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    # The SMS outbox (bot.sms.twilio_sender): a text is stored "pending"
    # before it is handed to Twilio, "sending" while an instance has it, and
    # tried again at next_attempt_at after a transient failure. For a
    # customer's message: the turns that failed on it (bot.conversations).
    delivery_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    # The one kind of text a number that opted out still gets (STOP's, HELP's answer).
    despite_opt_out: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    survey: Mapped[Survey | None] = relationship(back_populates="messages", lazy="raise")


class OptOut(Base):
    """A phone number that texted STOP: never messaged again until START."""

    __tablename__ = "opt_outs"

    phone: Mapped[str] = mapped_column(String(32), primary_key=True)
    keyword: Mapped[str] = mapped_column(String(16))
    opted_out_at: Mapped[datetime] = mapped_column(UTCDateTime())


class HandoffState(StrEnum):
    OFFERED = "offered"  # a severe detractor was asked whether they want a person
    DECLINED = "declined"  # they did not (not in the queue)
    WAITING = "waiting"  # in the queue, no agent yet
    CLAIMED = "claimed"  # an agent has it; the customer's messages go to them
    RESOLVED = "resolved"  # closed by the agent; the bot asks the recovery question


class Handoff(Base):
    """A conversation handed to a person (docs/handoff.md)."""

    __tablename__ = "handoffs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    survey_id: Mapped[str] = mapped_column(ForeignKey("surveys.id"), index=True)
    reason: Mapped[str] = mapped_column(String(32))  # feedbot.handoff_rules.HandoffReason
    detail: Mapped[str | None] = mapped_column(Text)  # "score 2 (at most 3)"
    # Higher first in the queue: a severe detractor before a question.
    urgency: Mapped[int] = mapped_column(Integer, default=1)
    state: Mapped[str] = mapped_column(String(16), default=HandoffState.WAITING, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    first_reply_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolution_code: Mapped[str | None] = mapped_column(String(32))
    # The customer's answer to "Did we sort this out for you?": yes, no, or
    # what they said when it was neither.
    recovery_answer: Mapped[str | None] = mapped_column(Text)
    recovery_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class HandoffNote(Base):
    """An agent's internal note on a hand-off; never sent to the customer."""

    __tablename__ = "handoff_notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    handoff_id: Mapped[str] = mapped_column(ForeignKey("handoffs.id"), index=True)
    author: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WebhookDelivery(Base):
    """One hand-off event POSTed to one configured URL: the delivery log."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    handoff_id: Mapped[str] = mapped_column(ForeignKey("handoffs.id"), index=True)
    event: Mapped[str] = mapped_column(String(16))  # opened, claimed, replied, resolved
    url: Mapped[str] = mapped_column(Text)
    payload: Mapped[str] = mapped_column(Text)  # the exact JSON body that was signed
    status: Mapped[str] = mapped_column(String(16), default="pending")  # delivered, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # When an instance last took it on; a pending delivery whose claim has
    # lapsed (its instance stopped) is resumed by another.
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Erasure(Base):
    """A record that a customer's data was erased (feedbot.privacy): when, by
    whom, how much, and a keyed hash of the identifier, never the identifier."""

    __tablename__ = "erasures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))  # phone, customer_id
    identifier_digest: Mapped[str] = mapped_column(String(64), index=True)
    by: Mapped[str] = mapped_column(String(64))  # "cli" or the role that asked
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    counts: Mapped[dict[str, int]] = mapped_column(JSON)


class AuditEvent(Base):
    """Who did what to customers' data, and when: agents' and admins'
    actions (feedbot.store.audit). Never the customer's words."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    actor: Mapped[str] = mapped_column(String(64))  # the agent's name, or "cli"
    role: Mapped[str] = mapped_column(String(16))  # the credentials' role
    action: Mapped[str] = mapped_column(String(32), index=True)  # e.g. handoff.claim
    target: Mapped[str | None] = mapped_column(String(64))  # a hand-off or survey id
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class User(Base):
    """A person with their own account (feedbot.store.accounts): a role, and
    optionally a scope of touchpoints and locations they may see."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)  # lower case
    name: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))  # analyst, agent, admin
    # None: every touchpoint (location); a list: only these.
    touchpoints: Mapped[list[str] | None] = mapped_column(JSON)
    locations: Mapped[list[str] | None] = mapped_column(JSON)
    password_hash: Mapped[str] = mapped_column(String(256))  # Argon2id
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class LoginSession(Base):
    """A logged-in browser: the cookie holds a random token, this row its
    hash. Logging out, disabling the user or changing the role token used to
    log in ends it."""

    __tablename__ = "login_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"), index=True)
    # For a login with a role token: a hash of that token, so a new token
    # ends the sessions made with the old one.
    token_fingerprint: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class InboundSms(Base):
    """An inbound text as Twilio posted it, stored before Twilio gets its 200
    (feedbot.store.sms_inbox): a text acknowledged is never lost, even if the
    app stops before handling it; another round handles it then."""

    __tablename__ = "sms_inbox"

    sid: Mapped[str] = mapped_column(String(64), primary_key=True)  # Twilio's MessageSid
    phone: Mapped[str] = mapped_column(String(32))
    body: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Who is handling it since when; a claim older than a few minutes has lapsed.
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)


class OwnerAlert(Base):
    """One detractor's answer for one owner (touchpoints.yml ``owners:``):
    queued when the answer is complete, and told in a batch (``batch``: the
    owner's message that carried it, None while it waits)."""

    __tablename__ = "owner_alerts"
    __table_args__ = (
        UniqueConstraint("owner", "survey_id"),
        Index("ix_owner_alerts_batch", "owner", "batch"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    owner: Mapped[str] = mapped_column(String(254))  # the owner's e-mail address
    survey_id: Mapped[str] = mapped_column(ForeignKey("surveys.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    batch: Mapped[str | None] = mapped_column(String(36))


class OwnerMessage(Base):
    """An e-mail or Slack message to an owner (an alert batch, a digest): the
    outbox. Stored with its whole text before it is sent, taken "sending" by
    one instance, retried with backoff, "sent" or "failed" in the end.
    ``dedupe_key`` makes a digest once per owner, period and channel."""

    __tablename__ = "owner_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    owner: Mapped[str] = mapped_column(String(254), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # alert, digest
    channel: Mapped[str] = mapped_column(String(8))  # email, slack
    batch: Mapped[str | None] = mapped_column(String(36), index=True)
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    subject: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    html: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # sending, sent, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class TurnClock(Base):
    """When someone may next get a message of a kind: an owner's alerts (one
    per 5 minutes), a customer's "you said, we did" (one per 30 days).
    Moved on by a conditional update, so one instance wins."""

    __tablename__ = "turn_clocks"

    subject: Mapped[str] = mapped_column(String(254), primary_key=True)  # an e-mail, a number
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    next_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Improvement(Base):
    """A change made because of what customers said ("you said, we did"):
    logged by an analyst or admin, told to the customers who raised it."""

    __tablename__ = "improvements"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    theme: Mapped[str] = mapped_column(String(32), index=True)
    touchpoint: Mapped[str | None] = mapped_column(String(64))
    location: Mapped[str | None] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    message: Mapped[str] = mapped_column(Text)  # what customers are told
    lookback_days: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    created_by: Mapped[str] = mapped_column(String(64))
    recipients: Mapped[int] = mapped_column(Integer, default=0)


class ImprovementNotice(Base):
    """One customer told of one improvement: the outbox of "you said, we
    did". ``queued`` until a round takes it (``sending``), then ``sent`` (a
    text stored in the SMS outbox, or a signed webhook delivered), or
    ``skipped`` with why (opted out since, told of another within 30 days)."""

    __tablename__ = "improvement_notices"
    __table_args__ = (UniqueConstraint("improvement_id", "customer_ref", "channel"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    improvement_id: Mapped[str] = mapped_column(ForeignKey("improvements.id"), index=True)
    # The survey whose answer raised the theme: the message joins its transcript.
    survey_id: Mapped[str] = mapped_column(ForeignKey("surveys.id"), index=True)
    channel: Mapped[str] = mapped_column(String(8))  # sms, web
    customer_ref: Mapped[str] = mapped_column(String(128), index=True)
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    why: Mapped[str | None] = mapped_column(Text)  # skipped: why; failed tries: the last error
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
