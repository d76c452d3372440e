"""What a report or an export is about: period, touchpoint, location, grouping
and format."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, or_, select

from feedbot.locales import DEFAULT as DEFAULT_LANGUAGE
from feedbot.locales import LANGUAGES
from feedbot.store.models import Survey


class Dimension(StrEnum):
    TOUCHPOINT = "touchpoint"
    LOCATION = "location"


class ReportFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"


class ExportFormat(StrEnum):
    CSV = "csv"
    JSONL = "jsonl"
    PARQUET = "parquet"

    @property
    def media_type(self) -> str:
        return {
            ExportFormat.CSV: "text/csv; charset=utf-8",
            ExportFormat.JSONL: "application/x-ndjson; charset=utf-8",
            ExportFormat.PARQUET: "application/vnd.apache.parquet",
        }[self]

    @property
    def has_transcript(self) -> bool:
        return self is not ExportFormat.CSV


class Interval(StrEnum):
    WEEK = "week"
    MONTH = "month"


_BY_CHOICES = "by must be touchpoint, location or touchpoint,location, not {!r}"


def parse_by(value: str) -> tuple[Dimension, ...]:
    """'touchpoint', 'location' or 'touchpoint,location'."""
    parts = [p.strip() for p in value.split(",") if p.strip()]
    try:
        dims = tuple(Dimension(p) for p in parts)
    except ValueError:
        raise ValueError(_BY_CHOICES.format(value)) from None
    if not dims or len(set(dims)) != len(dims):
        raise ValueError(_BY_CHOICES.format(value))
    return dims


@dataclass(frozen=True)
class Scope:
    """Which surveys count: created from ``since`` (inclusive) to ``until``
    (inclusive, a whole day), of one touchpoint and location if given."""

    since: date | None = None
    until: date | None = None
    touchpoint: str | None = None
    location: str | None = None
    # Surveys spoken in this language ("es": es, es-MX…; the default
    # language also takes surveys with no locale).
    language: str | None = None
    # What the person asking may see at all (their account's scope); None: all.
    allowed_touchpoints: tuple[str, ...] | None = None
    allowed_locations: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.since and self.until and self.since > self.until:
            raise ValueError(f"since ({self.since}) is after until ({self.until})")
        if self.language is not None and self.language not in LANGUAGES:
            raise ValueError(f"language {self.language!r} is not one of {', '.join(LANGUAGES)}")

    def conditions(self, source: Any = Survey) -> list[ColumnElement[bool]]:
        """WHERE conditions on ``source``'s day of creation (UTC), touchpoint
        and location (surveys, or theme rows, which carry copies of them)."""
        found: list[ColumnElement[bool]] = []
        if self.since:
            found.append(source.created_day >= self.since.isoformat())
        if self.until:
            found.append(source.created_day <= self.until.isoformat())
        if self.touchpoint:
            found.append(source.touchpoint == self.touchpoint)
        if self.location:
            found.append(source.location == self.location)
        if self.language:
            spoken = or_(Survey.locale == self.language, Survey.locale.like(f"{self.language}-%"))
            if self.language == DEFAULT_LANGUAGE:
                spoken = or_(spoken, Survey.locale.is_(None))
            # Theme rows carry no locale: their surveys'.
            found.append(
                spoken
                if source is Survey
                else source.survey_id.in_(select(Survey.id).where(spoken))
            )
        if self.allowed_touchpoints is not None:
            found.append(source.touchpoint.in_(self.allowed_touchpoints))
        if self.allowed_locations is not None:
            found.append(source.location.in_(self.allowed_locations))
        return found

    def within(
        self, touchpoints: tuple[str, ...] | None, locations: tuple[str, ...] | None
    ) -> Scope:
        """This scope, limited to what an account may see."""
        return replace(self, allowed_touchpoints=touchpoints, allowed_locations=locations)

    def as_dict(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "touchpoint": self.touchpoint,
            "location": self.location,
            "language": self.language,
        }
