"""Exporting conversation summaries: one row per survey, streamed from the
store in batches, so an export of any size takes the same memory.

CSV is for spreadsheets (UTF-8 with a byte-order mark so Excel reads it as
UTF-8, every text cell quoted, formula-like cells neutralised). JSON Lines and
Parquet keep types and add the full transcript.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any, NamedTuple

import pyarrow as pa
import pyarrow.parquet as pq
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE
from sqlalchemy import Connection, func, select

from analytics.query import ExportFormat, Scope
from feedbot.store.models import (
    Channel,
    Handoff,
    HandoffState,
    Message,
    Response,
    ResponseTheme,
    Survey,
    SurveyState,
)

COLUMNS = (
    "survey_id",
    # The company's own ids, to join feedback back to orders and tickets: the
    # interaction the survey was about (POST /api/surveys' interaction_id) and
    # the web customer's customer_id (None for SMS; the number is "customer").
    "interaction_id",
    "customer_id",
    "channel",
    "touchpoint",
    "location",
    "locale",
    "customer",
    "score",
    "category",
    "reason",
    "follow_up",
    "themes",
    "sentiment",
    "theme_sentiment",
    "theme_words",
    "handed_off",
    "completed",
    "state",
    "created_at",
    "sent_at",
    "started_at",
    "completed_at",
    "summary",
)
TRANSCRIPT = "transcript"


@dataclass(frozen=True)
class ExportOptions:
    scope: Scope = field(default_factory=Scope)
    unmasked: bool = False  # full phone numbers: needs an explicit flag and the admin role
    touchpoint_names: dict[str, str] | None = None  # for the summary line
    batch_size: int = 2000


def mask_phone(value: str | None) -> str | None:
    """+15551234567 → +1******4567: the country code and the last four digits.

    Country calling codes are a prefix code (no code begins another), so the
    first 1–3 digits found in phonenumbers' table are the code: exact, and far
    cheaper than parsing each number of a million-row export."""
    if not value or not value.startswith("+") or not value[1:].isdigit():
        return value
    digits = value[1:]
    code = next(
        (digits[:n] for n in (1, 2, 3) if int(digits[:n]) in COUNTRY_CODE_TO_REGION_CODE),
        digits[:1],
    )
    national = digits[len(code) :]
    return f"+{code}" + "*" * max(0, len(national) - 4) + national[-4:]


def count_surveys(conn: Connection, scope: Scope | None = None) -> int:
    conditions = scope.conditions() if scope else []
    query = select(func.count()).select_from(Survey).where(*conditions)
    return conn.execute(query).scalar_one()


def survey_rows(
    conn: Connection, options: ExportOptions | None = None, transcripts: bool = False
) -> Iterator[dict[str, Any]]:
    """Every survey in scope, oldest first, a batch at a time."""
    options = options or ExportOptions()
    query = (
        select(
            Survey.id,
            Survey.channel,
            Survey.touchpoint,
            Survey.location,
            Survey.locale,
            Survey.customer_ref,
            Survey.interaction_id,
            Survey.state,
            Survey.created_at,
            Survey.sent_at,
            Survey.started_at,
            Survey.completed_at,
            Response.score,
            Response.category,
            Response.reason,
            Response.follow_up,
            Response.sentiment,
        )
        .select_from(Survey.__table__.outerjoin(Response, Response.survey_id == Survey.id))
        .where(*options.scope.conditions())
        .order_by(Survey.created_at, Survey.id)
    )
    result = conn.execution_options(yield_per=options.batch_size).execute(query)
    for batch in result.partitions():
        ids = [row.id for row in batch]
        themes = _themes(conn, ids)
        handed = _handoffs(conn, ids)
        said = _transcripts(conn, ids) if transcripts else {}
        for row in batch:
            yield _row(row, themes.get(row.id, {}), said.get(row.id), handed.get(row.id), options)


class HandedOff(NamedTuple):
    state: str
    created_at: datetime
    resolved_at: datetime | None


def _handoffs(conn: Connection, ids: list[str]) -> dict[str, HandedOff]:
    """The surveys of this batch that a person took over (offers declined or
    never answered do not count)."""
    query = select(Handoff.survey_id, Handoff.state, Handoff.created_at, Handoff.resolved_at).where(
        Handoff.survey_id.in_(ids),
        Handoff.state.in_([HandoffState.WAITING, HandoffState.CLAIMED, HandoffState.RESOLVED]),
    )
    return {survey_id: HandedOff(*rest) for survey_id, *rest in conn.execute(query)}


class ThemeRow(NamedTuple):
    sentiment: str | None
    words: list[str] | None


def _themes(conn: Connection, ids: list[str]) -> dict[str, dict[str, ThemeRow]]:
    """Per survey, its themes (alphabetical), each with its own sentiment and words."""
    found: dict[str, dict[str, ThemeRow]] = defaultdict(dict)
    query = (
        select(
            ResponseTheme.survey_id,
            ResponseTheme.theme,
            ResponseTheme.sentiment,
            ResponseTheme.words,
        )
        .where(ResponseTheme.survey_id.in_(ids))
        .order_by(ResponseTheme.survey_id, ResponseTheme.theme)
    )
    for survey_id, theme, sentiment, words in conn.execute(query):
        found[survey_id][theme] = ThemeRow(sentiment, words)
    return found


def _transcripts(conn: Connection, ids: list[str]) -> dict[str, list[dict[str, str]]]:
    found: dict[str, list[dict[str, str]]] = defaultdict(list)
    query = (
        select(Message.survey_id, Message.author, Message.text, Message.created_at)
        .where(Message.survey_id.in_(ids))
        .order_by(Message.id)
    )
    for survey_id, author, text, at in conn.execute(query):
        found[survey_id].append({"at": at.isoformat(), "author": author, "text": text})
    return found


def _row(
    row: Any,
    themes: dict[str, ThemeRow],
    transcript: list[dict[str, str]] | None,
    handoff: HandedOff | None,
    options: ExportOptions,
) -> dict[str, Any]:
    (
        survey_id,
        channel,
        touchpoint,
        location,
        locale,
        customer,
        interaction_id,
        state,
        created_at,
        sent_at,
        started_at,
        completed_at,
        score,
        category,
        reason,
        follow_up,
        sentiment,
    ) = row  # fmt: skip  (unpacked once: a Row's attribute access costs at a million rows)
    found = {
        "survey_id": survey_id,
        "interaction_id": interaction_id,
        "customer_id": customer if channel == Channel.WEB else None,
        "channel": channel,
        "touchpoint": touchpoint,
        "location": location,
        "locale": locale,
        "customer": customer if options.unmasked else mask_phone(customer),
        "score": score,
        "category": category,
        "reason": reason,
        "follow_up": follow_up,
        "themes": list(themes),
        "sentiment": sentiment,
        # Each theme's own sentiment, and the words that made it (why it was tagged).
        "theme_sentiment": {t: r.sentiment for t, r in themes.items()},
        "theme_words": {t: r.words or [] for t, r in themes.items()},
        "handed_off": handoff is not None,
        "completed": state == SurveyState.COMPLETED,
        "state": state,
        "created_at": _iso(created_at),
        "sent_at": _iso(sent_at),
        "started_at": _iso(started_at),
        "completed_at": _iso(completed_at),
    }
    found["summary"] = summary_line(found, options.touchpoint_names or {}, handoff)
    if transcript is not None:
        found[TRANSCRIPT] = transcript
    return found


def summary_line(
    row: dict[str, Any], touchpoint_names: dict[str, str], handoff: HandedOff | None = None
) -> str:
    """'Detractor (3) · leeds / Store visit · staff, price · completed · handed
    off, resolved in 2h'."""
    who = (
        f"{str(row['category']).capitalize()} ({row['score']})"
        if row["score"] is not None
        else "No score"
    )
    where = touchpoint_names.get(row["touchpoint"], row["touchpoint"])
    if row["location"]:
        where = f"{row['location']} / {where}"
    parts = [who, where]
    if row["themes"]:
        parts.append(", ".join(row["themes"]))
    parts.append(str(row["state"]))
    if handoff is not None:
        parts.append(_handoff_words(handoff))
    return " · ".join(parts)


def _handoff_words(handoff: HandedOff) -> str:
    if handoff.state != HandoffState.RESOLVED or handoff.resolved_at is None:
        return "handed off, open"
    hours = (handoff.resolved_at - handoff.created_at).total_seconds() / 3600
    took = f"{hours * 60:.0f} min" if hours < 1 else f"{hours:.0f}h"
    return f"handed off, resolved in {took}"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


# Spreadsheets also run formulas that start with the fullwidth signs
# (＝ ＋ － ＠, as typed with East Asian keyboards).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


# A phone number in E.164 ("+447700900123"), masked or not ("+44******0123"):
# no spreadsheet can run it, and a quote in front would stay in every tool
# that reads the CSV (Python, pandas, BI tools), so it is left as it is.
_PHONE = re.compile(r"\+[0-9][0-9*]{5,15}")


def csv_cell(value: Any) -> Any:
    """A value safe for spreadsheets: text that a spreadsheet would run as a
    formula gets a leading apostrophe (not a phone number); empty values
    are empty cells."""
    if value is None:
        return ""
    if type(value) is int:
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ";".join(str(v) for v in value)  # themes: "staff;wait_time"
    if isinstance(value, dict):  # per theme: "staff:negative;product:positive"
        return ";".join(
            f"{k}:{','.join(map(str, v)) if isinstance(v, list) else v or ''}"
            for k, v in value.items()
        )
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _PHONE.fullmatch(value):
        return "'" + value
    return value


PARQUET_SCHEMA = pa.schema(
    [
        ("survey_id", pa.string()),
        ("interaction_id", pa.string()),
        ("customer_id", pa.string()),
        ("channel", pa.string()),
        ("touchpoint", pa.string()),
        ("location", pa.string()),
        ("locale", pa.string()),
        ("customer", pa.string()),
        ("score", pa.int8()),
        ("category", pa.string()),
        ("reason", pa.string()),
        ("follow_up", pa.string()),
        ("themes", pa.list_(pa.string())),
        ("sentiment", pa.string()),
        ("theme_sentiment", pa.map_(pa.string(), pa.string())),
        ("theme_words", pa.map_(pa.string(), pa.list_(pa.string()))),
        ("handed_off", pa.bool_()),
        ("completed", pa.bool_()),
        ("state", pa.string()),
        ("created_at", pa.timestamp("us", tz="UTC")),
        ("sent_at", pa.timestamp("us", tz="UTC")),
        ("started_at", pa.timestamp("us", tz="UTC")),
        ("completed_at", pa.timestamp("us", tz="UTC")),
        ("summary", pa.string()),
        (
            TRANSCRIPT,
            pa.list_(
                pa.struct(
                    [
                        ("at", pa.timestamp("us", tz="UTC")),
                        ("author", pa.string()),
                        ("text", pa.string()),
                    ]
                )
            ),
        ),
    ]
)
_TIMES = ("created_at", "sent_at", "started_at", "completed_at")


def _for_parquet(row: dict[str, Any]) -> dict[str, Any]:
    typed = dict(row)
    for name in ("theme_sentiment", "theme_words"):
        typed[name] = list(row[name].items())  # a Parquet map is a list of pairs
    for name in _TIMES:
        typed[name] = datetime.fromisoformat(row[name]) if row[name] else None
    typed[TRANSCRIPT] = [
        {**m, "at": datetime.fromisoformat(m["at"])} for m in row.get(TRANSCRIPT) or []
    ]
    return typed


def write_export(
    rows: Iterator[dict[str, Any]],
    fmt: ExportFormat,
    out: IO[bytes],
    on_row: Callable[[], None] = lambda: None,
    batch_size: int = 2000,
) -> int:
    """Write rows to a binary stream as they come; returns how many."""
    written = 0
    if fmt is ExportFormat.PARQUET:
        with pq.ParquetWriter(out, PARQUET_SCHEMA, compression="zstd") as writer:
            batch: list[dict[str, Any]] = []
            for row in rows:
                batch.append(_for_parquet(row))
                written += 1
                on_row()
                if len(batch) >= batch_size:
                    writer.write_table(pa.Table.from_pylist(batch, PARQUET_SCHEMA))
                    batch.clear()
            if batch or not written:
                writer.write_table(pa.Table.from_pylist(batch, PARQUET_SCHEMA))
        return written
    text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=False)
    try:
        if fmt is ExportFormat.CSV:
            text.write("\ufeff")  # the byte-order mark: spreadsheets then read UTF-8
            writer_ = csv.writer(text, quoting=csv.QUOTE_NONNUMERIC)
            writer_.writerow(COLUMNS)
            for row in rows:
                writer_.writerow([csv_cell(row[k]) for k in COLUMNS])
                written += 1
                on_row()
        else:
            for row in rows:
                text.write(json.dumps(row, ensure_ascii=False) + "\n")
                written += 1
                on_row()
    finally:
        text.flush()
        text.detach()  # the caller owns ``out``
    return written
