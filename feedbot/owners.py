"""The people who own a part of the experience (a team, a store, a branch):
who hears about which answers, and when (docs/closing-the-loop.md).

Declared in the touchpoint file's ``owners:`` list and checked with it.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator

from feedbot.validation import time_zone_name


class AlertsFor(StrEnum):
    DETRACTORS = "detractors"  # every detractor (score 0–6)
    SEVERE = "severe"  # only severe detractors (the hand-off rules' threshold and phrases)
    NONE = "none"


class DigestEvery(StrEnum):
    DAILY = "daily"  # at 08:00 local time, for the day before
    WEEKLY = "weekly"  # Mondays at 08:00, for the week before
    NONE = "none"


class Owner(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)
    slack_webhook_url: HttpUrl | None = None
    # The scope: none (or empty) means every touchpoint / location.
    touchpoints: list[str] | None = None
    locations: list[str] | None = None
    alerts: AlertsFor = AlertsFor.DETRACTORS
    digest: DigestEvery = DigestEvery.WEEKLY
    # Default: the contact rules' default_time_zone (SurveyConfig.owner_zone).
    time_zone: str | None = None

    @field_validator("email")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.strip().lower()

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        return None if value is None else time_zone_name(value)

    def covers(self, touchpoint: str | None, location: str | None) -> bool:
        """Whether an answer of this touchpoint and location is in the scope."""
        if self.touchpoints and touchpoint not in self.touchpoints:
            return False
        return not self.locations or location in self.locations

    def wants_alert(self, *, detractor: bool, severe: bool) -> bool:
        if self.alerts is AlertsFor.NONE:
            return False
        return severe if self.alerts is AlertsFor.SEVERE else detractor

    @property
    def scope_label(self) -> str:
        """'support, delivery at store-12' / 'everything'."""
        parts = []
        if self.touchpoints:
            parts.append(", ".join(self.touchpoints))
        if self.locations:
            parts.append(("at " if parts else "") + ", ".join(self.locations))
        return " ".join(parts) or "all touchpoints and locations"
