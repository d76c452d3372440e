"""The operator's survey configuration: touchpoints, their wording, and locations.

The file format is documented in docs/touchpoints.md. Loading it fails with a
``TouchpointConfigError`` that names the file and the exact place of a mistake.
"""

from __future__ import annotations

import string
from datetime import time
from pathlib import Path

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from feedbot.contact_rules import QuietHours
from feedbot.handoff_rules import HandoffConfig
from feedbot.locales import DEFAULT, LANGUAGES
from feedbot.nps import Category
from feedbot.owners import Owner
from feedbot.validation import DuplicateKey, describe, load_yaml, time_zone_name

_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"


class FollowUp(BaseModel):
    """The first *why* question, one per NPS category."""

    model_config = ConfigDict(extra="forbid")
    detractor: str = Field(min_length=1)
    passive: str = Field(min_length=1)
    promoter: str = Field(min_length=1)

    def for_category(self, category: Category) -> str:
        return getattr(self, category.value)


class Touchpoint(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=_ID_PATTERN)
    name: str = Field(min_length=1, description="Short display name, e.g. in reports")
    about: str = Field(
        min_length=1,
        description="How the bot refers to the interaction: 'your recent support call'",
    )
    follow_up: FollowUp | None = None
    # Overrides contact_rules.min_days_between_surveys for this touchpoint.
    min_days_between_surveys: int | None = Field(default=None, ge=0)
    # Survey only this share of interactions (deterministic per interaction).
    sample_percent: float = Field(default=100, ge=0, le=100)


class QuietHoursConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: time = time(21, 0)
    end: time = time(8, 0)


class ContactRules(BaseModel):
    """Not over-surveying people (docs/sms.md)."""

    model_config = ConfigDict(extra="forbid")
    min_days_between_surveys: int = Field(default=30, ge=0)
    # SMS waits outside these hours, in the customer's time zone; null: never waits.
    quiet_hours: QuietHoursConfig | None = Field(default_factory=QuietHoursConfig)
    # For numbers whose time zone cannot be told from the number.
    default_time_zone: str = "Europe/London"
    # A survey still in conversation this long after it was sent is closed.
    expire_after_hours: float = Field(default=72, gt=0)
    # One reminder to a customer who has not replied at all; null: none.
    reminder_after_hours: float | None = Field(default=24, gt=0)

    _known_zone = field_validator("default_time_zone")(time_zone_name)

    def quiet(self) -> QuietHours | None:
        """The quiet hours as the rules apply them, or None (send at any hour)."""
        hours = self.quiet_hours
        return QuietHours(hours.start, hours.end) if hours else None


class Location(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=_ID_PATTERN)
    name: str = Field(min_length=1)


# The placeholders each SMS text may use (str.format): checked at start.
_SMS_PLACEHOLDERS = {
    "first_text": {"sender", "message"},
    "help": {"sender", "about"},
    "stop_confirmation": {"sender"},
    "start_confirmation": {"sender"},
    "reminder": {"sender"},
    "no_open_survey": {"sender"},
}


def check_sms_text(name: str, text: str) -> None:
    """An SMS text uses only its own placeholders; the first text carries the
    message; the first text and HELP say how to stop (in any language,
    carriers act on the word STOP)."""
    allowed = _SMS_PLACEHOLDERS[name]
    try:
        used = {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}
    except ValueError as exc:  # a lone "{" or "}"
        raise ValueError(f"{name}: {exc} (write {{{{ or }}}} for a brace)") from None
    unknown = used - allowed
    if unknown:
        raise ValueError(
            f"{name} uses {{{', '.join(sorted(unknown))}}}; it may use "
            + ", ".join(f"{{{a}}}" for a in sorted(allowed))
        )
    if name == "first_text" and "{message}" not in text:
        raise ValueError("first_text must contain {message} (the greeting and question)")
    if name in ("first_text", "help") and "STOP" not in text:
        raise ValueError(f"{name} must say how to stop (carriers require STOP)")


class SmsTexts(BaseModel):
    """What the app itself texts (not the bot): the first text's frame,
    carrier keywords and strays. ``{sender}`` is who customers know you as."""

    model_config = ConfigDict(extra="forbid")
    sender: str = Field(default="Feedbot", min_length=1, max_length=40)
    # The survey's first text: who is writing, the bot's greeting and question
    # ({message}) in one text, and how to stop (carriers expect both).
    first_text: str = Field(default="{sender}: {message} Reply STOP to opt out.", min_length=1)
    help: str = Field(
        default="{sender}: a short feedback survey about {about}. Reply to this text to "
        "answer, or STOP to stop all messages.",
        min_length=1,
    )
    stop_confirmation: str = Field(
        default="You won't get any more messages from {sender}. Reply START to opt back in.",
        min_length=1,
    )
    start_confirmation: str = Field(
        default="You're opted back in to {sender} feedback. Reply STOP at any time to stop.",
        min_length=1,
    )
    reminder: str = Field(
        default="A quick reminder from {sender}: we'd love your answer to our question above. "
        "Reply STOP to opt out.",
        min_length=1,
    )
    no_open_survey: str = Field(
        default="Thanks for your message. There is no open survey for this number right now.",
        min_length=1,
    )

    @model_validator(mode="after")
    def _placeholders(self) -> SmsTexts:
        for name in _SMS_PLACEHOLDERS:
            check_sms_text(name, getattr(self, name))
        return self

    def say(self, name: str, **values: str) -> str:
        """One of these texts, filled in."""
        text: str = getattr(self, name)
        return text.format(sender=self.sender, **values)


# Texts in another language (touchpoints.yml, `translations:`): any left out
# are said in English, and named in a warning at start (SurveyConfig.untranslated).
class TouchpointWords(BaseModel):
    model_config = ConfigDict(extra="forbid")
    about: str | None = Field(default=None, min_length=1)
    follow_up: FollowUp | None = None


class HandoffWords(BaseModel):
    model_config = ConfigDict(extra="forbid")
    offer_question: str | None = Field(default=None, min_length=1)
    offer_accepted: str | None = Field(default=None, min_length=1)
    offer_declined: str | None = Field(default=None, min_length=1)
    recovery_question: str | None = Field(default=None, min_length=1)
    recovery_thanks: str | None = Field(default=None, min_length=1)


class SmsWords(BaseModel):
    model_config = ConfigDict(extra="forbid")
    first_text: str | None = Field(default=None, min_length=1)
    help: str | None = Field(default=None, min_length=1)
    stop_confirmation: str | None = Field(default=None, min_length=1)
    start_confirmation: str | None = Field(default=None, min_length=1)
    reminder: str | None = Field(default=None, min_length=1)
    no_open_survey: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _placeholders(self) -> SmsWords:
        for name in _SMS_PLACEHOLDERS:
            text = getattr(self, name)
            if text is not None:
                check_sms_text(name, text)
        return self


class Translation(BaseModel):
    """One language's texts; the rest (ids, rules, the sender) are shared."""

    model_config = ConfigDict(extra="forbid")
    touchpoints: dict[str, TouchpointWords] = Field(default_factory=dict)
    handoff: HandoffWords = Field(default_factory=HandoffWords)
    sms: SmsWords = Field(default_factory=SmsWords)


class SurveyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    default_touchpoint: str
    touchpoints: list[Touchpoint] = Field(min_length=1)
    # Empty means location ids are free-form.
    locations: list[Location] = Field(default_factory=list)
    sms: SmsTexts = Field(default_factory=SmsTexts)
    contact_rules: ContactRules = Field(default_factory=ContactRules)
    handoff: HandoffConfig = Field(default_factory=HandoffConfig)
    # Who hears about the answers of their scope (feedbot.owners).
    owners: list[Owner] = Field(default_factory=list)
    # Texts by language other than English ("es"), English being the fallback.
    translations: dict[str, Translation] = Field(default_factory=dict)
    _in_language: dict[str, SurveyConfig] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _check_references(self) -> SurveyConfig:
        for kind, items in (("touchpoint", self.touchpoints), ("location", self.locations)):
            seen: set[str] = set()
            for item in items:
                if item.id in seen:
                    raise ValueError(f"{kind} id {item.id!r} is listed twice")
                seen.add(item.id)
        if self.default_touchpoint not in {t.id for t in self.touchpoints}:
            raise ValueError(
                f"default_touchpoint {self.default_touchpoint!r} is not one of the touchpoints"
            )
        self._check_owners()
        self._check_translations()
        return self

    def _check_translations(self) -> None:
        for language, translation in self.translations.items():
            where = f"translations.{language}"
            if language not in LANGUAGES or language == DEFAULT:
                others = ", ".join(lang for lang in LANGUAGES if lang != DEFAULT)
                raise ValueError(f"{where}: Feedbot speaks {others} besides {DEFAULT}")
            for touchpoint in translation.touchpoints:
                if self.touchpoint(touchpoint) is None:
                    known = ", ".join(t.id for t in self.touchpoints)
                    raise ValueError(
                        f"{where}.touchpoints: {touchpoint!r} is not a touchpoint (known: {known})"
                    )

    def in_language(self, language: str) -> SurveyConfig:
        """This configuration with its texts in ``language`` where the
        operator wrote them (English where not). Built once per language."""
        translation = self.translations.get(language)
        if translation is None:
            return self
        found = self._in_language.get(language)
        if found is None:
            found = self._translated(translation)
            self._in_language[language] = found
        return found

    def _translated(self, translation: Translation) -> SurveyConfig:
        touchpoints = []
        for touchpoint in self.touchpoints:
            words = translation.touchpoints.get(touchpoint.id)
            given = words.model_dump(exclude_none=True) if words else {}
            if words is not None and words.follow_up is not None:
                given["follow_up"] = words.follow_up
            touchpoints.append(touchpoint.model_copy(update=given))
        return self.model_copy(
            update={
                "touchpoints": touchpoints,
                "handoff": self.handoff.model_copy(
                    update=translation.handoff.model_dump(exclude_none=True)
                ),
                "sms": self.sms.model_copy(update=translation.sms.model_dump(exclude_none=True)),
                "translations": {},
            }
        )

    def untranslated(self, language: str) -> list[str]:
        """The texts said in English to customers who speak ``language``
        (their places in touchpoints.yml), for the warning at start."""
        if language == DEFAULT:
            return []
        translation = self.translations.get(language) or Translation()
        missing = []
        for touchpoint in self.touchpoints:
            words = translation.touchpoints.get(touchpoint.id) or TouchpointWords()
            if words.about is None:
                missing.append(f"touchpoints.{touchpoint.id}.about")
            if touchpoint.follow_up is not None and words.follow_up is None:
                missing.append(f"touchpoints.{touchpoint.id}.follow_up")
        for section in ("handoff", "sms"):
            words = getattr(translation, section)
            missing += [f"{section}.{name}" for name, text in words if text is None]
        return [f"translations.{language}.{place}" for place in missing]

    def _check_owners(self) -> None:
        emails: set[str] = set()
        for place, owner in enumerate(self.owners):
            where = f"owners.{place}"
            if owner.email in emails:
                raise ValueError(f"{where}: {owner.email} is listed twice")
            emails.add(owner.email)
            for touchpoint in owner.touchpoints or []:
                if self.touchpoint(touchpoint) is None:
                    known = ", ".join(t.id for t in self.touchpoints)
                    raise ValueError(
                        f"{where}.touchpoints: {touchpoint!r} is not a touchpoint (known: {known})"
                    )
            for location in owner.locations or []:
                if not self.accepts_location(location):
                    raise ValueError(f"{where}.locations: {location!r} is not a listed location")

    def owner(self, email: str) -> Owner | None:
        return next((o for o in self.owners if o.email == email.strip().lower()), None)

    def owner_zone(self, owner: Owner) -> str:
        """The owner's time zone: their own, or the contact rules' default."""
        return owner.time_zone or self.contact_rules.default_time_zone

    def touchpoint(self, touchpoint_id: str) -> Touchpoint | None:
        return next((t for t in self.touchpoints if t.id == touchpoint_id), None)

    def touchpoint_names(self) -> dict[str, str]:
        """Each touchpoint's name for people, by id."""
        return {t.id: t.name for t in self.touchpoints}

    def accepts_location(self, location_id: str) -> bool:
        return not self.locations or any(loc.id == location_id for loc in self.locations)

    def refusal(self, touchpoint_id: str, location_id: str | None) -> str | None:
        """Why a survey for this touchpoint and location cannot be taken, if it cannot."""
        if self.touchpoint(touchpoint_id) is None:
            known = ", ".join(t.id for t in self.touchpoints)
            return f"Unknown touchpoint {touchpoint_id!r}. Known touchpoints: {known}."
        if location_id and not self.accepts_location(location_id):
            return f"Unknown location {location_id!r}."
        return None


class TouchpointConfigError(ValueError):
    """The touchpoint file is missing, not YAML, or does not follow the schema."""


def load_survey_config(path: Path) -> SurveyConfig:
    try:
        raw = load_yaml(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TouchpointConfigError(
            f"{path}: touchpoint file not found (set FEEDBOT_TOUCHPOINTS to its path)"
        ) from None
    except DuplicateKey as exc:
        raise TouchpointConfigError(f"{path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise TouchpointConfigError(f"{path}: not valid YAML: {exc}") from None
    try:
        return SurveyConfig.model_validate(raw)
    except ValidationError as exc:
        problems = describe(exc)
        raise TouchpointConfigError(f"{path}: {problems}") from None
