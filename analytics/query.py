"""What a report or an export is about (period, touchpoint, location), and the
SQL that differs between SQLite and PostgreSQL (durations, calendar buckets)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Connection, Date, cast, func, literal_column

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

    def __post_init__(self) -> None:
        if self.since and self.until and self.since > self.until:
            raise ValueError(f"since ({self.since}) is after until ({self.until})")

    def conditions(self) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = []
        if self.since:
            found.append(Survey.created_at >= _start_of(self.since))
        if self.until:
            found.append(Survey.created_at < _start_of(self.until + timedelta(days=1)))
        if self.touchpoint:
            found.append(Survey.touchpoint == self.touchpoint)
        if self.location:
            found.append(Survey.location == self.location)
        return found

    def as_dict(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "touchpoint": self.touchpoint,
            "location": self.location,
        }


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def seconds_between(conn: Connection, start: Any, end: Any) -> ColumnElement[float]:
    """end − start in seconds, in the database."""
    if conn.dialect.name == "sqlite":
        return (func.julianday(end) - func.julianday(start)) * 86400.0
    return func.extract("epoch", end - start)


def period_start(conn: Connection, column: Any, interval: Interval) -> ColumnElement[Any]:
    """The first day (UTC) of the week (Monday) or month a timestamp falls in,
    as 'YYYY-MM-DD' text on both databases."""
    if conn.dialect.name == "sqlite":
        if interval is Interval.WEEK:
            return func.date(column, "weekday 0", "-6 days")
        return func.strftime("%Y-%m-01", column)
    truncated = func.date_trunc(interval.value, func.timezone(literal_column("'UTC'"), column))
    return func.to_char(cast(truncated, Date), "YYYY-MM-DD")
