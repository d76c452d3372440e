"""When a conversation goes to a person, and what to tell the customer about
when: plain functions of the configuration (touchpoints.yml, `handoff:`) and
a clock, tested on their own (docs/handoff.md)."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator

from feedbot.app_words import app_words
from feedbot.locales import DEFAULT
from feedbot.validation import time_zone_name

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class HandoffReason(StrEnum):
    ASKED = "asked_for_person"  # the customer asked for a person
    SEVERE = "severe_detractor"  # a low score or a serious subject, and they accepted
    NOT_UNDERSTOOD = "not_understood"  # the bot failed to understand twice in a row
    IMPROVEMENT_REPLY = "improvement_reply"  # a reply to "you said, we did" (low urgency)


# Hand-off reasons in words, for people (the ids stay in the API and exports).
REASON_WORDS = {
    HandoffReason.ASKED: "asked for a person",
    HandoffReason.SEVERE: "a severe detractor who accepted the offer of a person",
    HandoffReason.NOT_UNDERSTOOD: "the bot could not understand",
    HandoffReason.IMPROVEMENT_REPLY: "a reply to an improvement's message",
}


def reason_words(reason: str) -> str:
    return REASON_WORDS.get(reason, reason.replace("_", " "))  # type: ignore[call-overload]


class CannedReply(BaseModel):
    """A saved reply an agent can insert and edit before sending."""

    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=60)
    text: str = Field(min_length=1, max_length=2000)


DEFAULT_CANNED_REPLIES = [
    CannedReply(
        title="Introduce yourself",
        text="Hi, I'm {agent} from the team. I've read what you told us and "
        "I'm looking into it now.",
    ),
    CannedReply(
        title="Ask for the order number",
        text="So I can look into this, could you send me your order or booking number?",
    ),
    CannedReply(
        title="Apologise",
        text="I'm sorry about this. It isn't the experience we want you to have.",
    ),
    CannedReply(
        title="Sorted",
        text="That's sorted now. Thank you for your patience, and for telling us.",
    ),
]


# The urgency of a reply to an improvement's message: after every other hand-off.
IMPROVEMENT_REPLY_URGENCY = 0


class BusinessHours(BaseModel):
    """When agents work, in one time zone."""

    model_config = ConfigDict(extra="forbid")
    time_zone: str = "Europe/London"
    days: list[str] = Field(default_factory=lambda: ["mon", "tue", "wed", "thu", "fri"])
    start: time = time(9, 0)
    end: time = time(17, 30)

    _known_zone = field_validator("time_zone")(time_zone_name)

    @field_validator("days")
    @classmethod
    def _known_days(cls, value: list[str]) -> list[str]:
        unknown = [d for d in value if d not in WEEKDAYS]
        if unknown or not value:
            raise ValueError(f"days are some of {', '.join(WEEKDAYS)}; not {unknown or value}")
        return value

    def is_open(self, now: datetime) -> bool:
        local = now.astimezone(ZoneInfo(self.time_zone))
        return WEEKDAYS[local.weekday()] in self.days and self.start <= local.time() < self.end

    def next_opening(self, now: datetime) -> datetime | None:
        """None when open now; else when agents are next at work (local time)."""
        if self.is_open(now):
            return None
        zone = ZoneInfo(self.time_zone)
        local = now.astimezone(zone)
        for ahead in range(8):
            day = local.date() + timedelta(days=ahead)
            opening = datetime.combine(day, self.start, tzinfo=zone)
            if WEEKDAYS[day.weekday()] in self.days and opening > local:
                return opening
        raise AssertionError("a week always has an opening")  # days is never empty


class HandoffConfig(BaseModel):
    """The operator's hand-off settings (touchpoints.yml, `handoff:`)."""

    model_config = ConfigDict(extra="forbid")
    # A score at or below this is severe: the bot offers a person.
    severe_score_at_most: int = Field(default=3, ge=0, le=10)
    # Words or phrases in a reason that make it severe whatever the score.
    severe_phrases: list[str] = Field(
        default_factory=lambda: ["refund", "cancel", "complaint", "legal", "lawyer"]
    )
    business_hours: BusinessHours = Field(default_factory=BusinessHours)
    # This many answers in a row the bot cannot understand hand the conversation
    # to a person (0: never; the bot then re-asks the score twice and moves on).
    not_understood_in_a_row: int = Field(default=2, ge=0)
    # A hand-off waiting longer than this for an agent is flagged in the queue.
    flag_waiting_after_minutes: float = Field(default=30, gt=0)
    # Said by the app to a severe detractor once the survey is done, and after
    # their answer ({when}: "shortly", "on Monday at 09:00").
    offer_question: str = Field(
        default="I'm sorry we let you down. Would you like someone from our team to "
        "get in touch about this? Please reply yes or no.",
        min_length=1,
    )
    offer_accepted: str = Field(
        default="Thank you. A person from our team will reply here {when}.", min_length=1
    )
    offer_declined: str = Field(default="No problem. Thank you again for telling us.", min_length=1)
    # Said by the app when an agent resolves a hand-off, and after the answer.
    recovery_question: str = Field(
        default="Did we sort this out for you? Please reply yes or no.", min_length=1
    )
    recovery_thanks: str = Field(default="Thank you for letting us know.", min_length=1)
    # Saved replies in the agent console ({agent}: the agent's name).
    canned_replies: list[CannedReply] = Field(
        default_factory=lambda: list(DEFAULT_CANNED_REPLIES), max_length=30
    )


def severe_phrase_in(text: str, phrases: list[str]) -> str | None:
    """The first configured phrase the text contains, as whole words."""
    lowered = text.lower()
    for phrase in phrases:
        if re.search(rf"\b{re.escape(phrase.lower())}", lowered):
            return phrase
    return None


def is_severe(score: int | None, reason: str | None, config: HandoffConfig) -> str | None:
    """Why this answer is severe enough to offer a person, or None."""
    if score is not None and score <= config.severe_score_at_most:
        return f"score {score} (at most {config.severe_score_at_most})"
    phrase = severe_phrase_in(reason or "", config.severe_phrases)
    return f"mentions {phrase!r}" if phrase else None


def when_someone_replies(config: HandoffConfig, now: datetime, language: str = DEFAULT) -> str:
    """Honest words for when a person will answer: 'shortly' in business
    hours, else the next opening ('on Monday at 09:00', 'tomorrow at 09:00'),
    in the customer's language."""
    words = app_words(language)
    opening = config.business_hours.next_opening(now)
    if opening is None:
        return words.shortly
    local_now = now.astimezone(opening.tzinfo)
    days = (opening.date() - local_now.date()).days
    at = opening.strftime("%H:%M")
    if days == 0:
        return words.today_at.format(at=at)
    if days == 1:
        return words.tomorrow_at.format(at=at)
    return words.on_day_at.format(day=words.weekdays[opening.weekday()], at=at)


# Short answers in the languages Feedbot speaks (a customer may answer a
# Spanish question in English, and the reverse).
_YES = {
    "yes",
    "y",
    "yeah",
    "yep",
    "yup",
    "sure",
    "sorted",
    "it did",
    "we did",
    "absolutely",
    "sí",
    "si",
    "claro",
    "vale",
    "por supuesto",
    "desde luego",
    "sí gracias",
    "si gracias",
}
_NO = {
    "no",
    "n",
    "nope",
    "nah",
    "not really",
    "not yet",
    "no it didn't",
    "it didn't",
    "todavía no",
    "todavia no",
    "aún no",
    "aun no",
    "para nada",
    "no del todo",
    "en absoluto",
}


def read_yes_no(text: str) -> str | None:
    """'yes' or 'no' for a short answer to the recovery question, else None
    (the words are then kept as they are)."""
    words = " ".join(re.sub(r"[^\w' ]", " ", text.lower()).split())
    for answer, forms in (("yes", _YES), ("no", _NO)):
        if any(words == f or words.startswith(f + " ") for f in forms):
            return answer
    return None
