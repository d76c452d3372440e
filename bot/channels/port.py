"""What every customer channel does, whatever carries its messages."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, Protocol
from zoneinfo import ZoneInfo

from bot.rasa_client import BotMessage
from feedbot.settings import Settings
from feedbot.store.improvements import ImprovementStore, Notice
from feedbot.store.models import Author, Direction, Improvement, Message, Survey


class ChannelUnavailable(RuntimeError):
    """The channel is not set up on this Feedbot; the message says what to set."""


class CustomerInvalid(ValueError):
    """The customer's address for this channel is wrong; the message says how."""


class NotDelivered(RuntimeError):
    """The channel refused a message; the message says why."""


@dataclass(frozen=True)
class Contact:
    """How a company's system names the customer (POST /api/surveys)."""

    phone: str | None = None
    customer_id: str | None = None


@dataclass(frozen=True)
class StartResult:
    status: str  # sent, suppressed, failed, scheduled (the bot did not answer: later)
    reason: str | None = None


class NoticeDesk(Protocol):
    """What a channel telling a customer of an improvement works with
    (bot.improvement_notices): the notices' store, the time, and a retry
    with backoff when this try failed."""

    store: ImprovementStore

    def now(self) -> datetime: ...

    async def retry(self, notice: Notice, why: str) -> None: ...


def notice_copy(notice: Notice, improvement: Improvement, at: datetime) -> Message:
    """An improvement's message as the customer's transcript keeps it, for
    the transaction that marks the notice sent (ImprovementStore.finish)."""
    return Message(
        survey_id=notice.survey_id,
        direction=Direction.OUTBOUND,
        author=Author.TEAM,
        text=improvement.message,
        created_at=at,
    )


class CustomerChannel(ABC):
    """One way of talking to customers."""

    # Its name in surveys, the API and exports ("web", "sms").
    name: ClassVar[str]
    # The contact rules' quiet hours hold its surveys and reminders.
    quiet_hours: ClassVar[bool] = False
    # One reminder to a customer who has not replied.
    reminders: ClassVar[bool] = False
    # The conversation stores the bot's replies (True), or the channel
    # stores what it actually delivered (False: SMS, through its outbox).
    conversation_records_replies: ClassVar[bool] = True

    # The key under which improvement dry runs count this channel's
    # customers it cannot tell now (see `untold`).
    untold_key: ClassVar[str | None] = None

    def unavailable(self) -> str | None:
        """Why surveys cannot go out on this channel here, or None."""
        return None

    @classmethod
    def untold(cls, settings: Settings) -> str | None:
        """`untold_key` when, with these settings, "you said, we did" cannot
        reach this channel's customers; None when it can. A classmethod: the
        command line asks it without an app."""
        return None

    @abstractmethod
    def customer_ref(self, contact: Contact) -> str | None:
        """Who the customer is on this channel, normalised (raises CustomerInvalid)."""

    def default_locale(self, customer_ref: str | None) -> str | None:
        """The customer's language when nobody said (SMS: the number's
        country), or None for the default."""
        return None

    def time_zone(self, customer_ref: str | None, default: str) -> ZoneInfo:
        """The customer's time zone, for quiet hours."""
        return ZoneInfo(default)

    async def opted_out(self, customer_ref: str | None) -> bool:
        """Whether the customer asked for no more messages on this channel."""
        return False

    @abstractmethod
    async def start(self, survey: Survey) -> StartResult:
        """Begin the conversation (or make it ready for the customer to open)."""

    @abstractmethod
    async def say(self, survey: Survey, text: str, author: Author) -> None:
        """Deliver this to the customer and keep it in the transcript
        (raises NotDelivered, ChannelUnavailable)."""

    @abstractmethod
    async def deliver(self, survey: Survey, replies: list[BotMessage]) -> None:
        """The bot's replies to words that waited for it, delivered now."""

    async def remind(self, survey: Survey) -> None:
        """The one reminder (channels with ``reminders``)."""
        raise NotImplementedError(f"the {self.name} channel sends no reminders")

    def link(self, survey: Survey, base_url: str) -> str | None:
        """Where the customer answers, when the company hands them a link."""
        return None

    async def tell(self, notice: Notice, improvement: Improvement, desk: NoticeDesk) -> int:
        """Tell one customer what changed ("you said, we did"), at most once
        in 30 days, and keep it in their transcript; 1 when told now (else
        the notice is skipped, retried or waits, through ``desk``)."""
        await desk.store.skip(notice.id, f"the {self.name} channel does not tell of improvements")
        return 0
