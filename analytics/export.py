"""Exporting conversation summaries, one row per survey, streamed from the store."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from datetime import datetime
from enum import StrEnum
from typing import IO, Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, selectinload

from feedbot.store.models import Response, Survey, SurveyState

COLUMNS = (
    "survey_id",
    "channel",
    "touchpoint",
    "location",
    "score",
    "category",
    "reason",
    "follow_up",
    "themes",
    "sentiment",
    "state",
    "completed",
    "created_at",
    "started_at",
    "completed_at",
)


class ExportFormat(StrEnum):
    CSV = "csv"
    JSONL = "jsonl"


def count_surveys(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(Survey)).scalar_one()


def survey_rows(engine: Engine, batch_size: int = 1000) -> Iterator[dict[str, Any]]:
    """Every survey with its response, oldest first, without loading them all."""
    query = (
        select(Survey, Response)
        .outerjoin(Response, Response.survey_id == Survey.id)
        .order_by(Survey.created_at, Survey.id)
        .options(selectinload(Response.themes))
        .execution_options(yield_per=batch_size)
    )
    with Session(engine) as session:
        for survey, response in session.execute(query).tuples():
            yield _row(survey, response)


def _row(survey: Survey, response: Response | None) -> dict[str, Any]:
    return {
        "survey_id": survey.id,
        "channel": survey.channel,
        "touchpoint": survey.touchpoint,
        "location": survey.location,
        "score": response.score if response else None,
        "category": response.category if response else None,
        "reason": response.reason if response else None,
        "follow_up": response.follow_up if response else None,
        "themes": [t.theme for t in response.themes] if response else [],
        "sentiment": response.sentiment if response else None,
        "state": survey.state,
        "completed": survey.state == SurveyState.COMPLETED,
        "created_at": _iso(survey.created_at),
        "started_at": _iso(survey.started_at),
        "completed_at": _iso(survey.completed_at),
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def write_export(
    rows: Iterator[dict[str, Any]],
    fmt: ExportFormat,
    out: IO[str],
    on_row: Callable[[], None] = lambda: None,
) -> int:
    written = 0
    if fmt == ExportFormat.CSV:
        writer = csv.DictWriter(out, fieldnames=COLUMNS, quoting=csv.QUOTE_NONNUMERIC)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: csv_cell(v) for k, v in row.items()})
            written += 1
            on_row()
    else:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
            written += 1
            on_row()
    return written


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """A value safe for spreadsheets: text that a spreadsheet would run as a
    formula gets a leading apostrophe; empty values are empty cells."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ";".join(str(v) for v in value)  # themes: "staff;wait_time"
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value
