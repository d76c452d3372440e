"""Hand-offs to agents, for analysts: how many conversations went to a
person and why, how fast agents answered and resolved them, and whether the
customers said it was sorted out (docs/handoff.md)."""

from __future__ import annotations

import statistics
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from analytics.query import Scope
from feedbot.handoff_rules import HandoffReason
from feedbot.store.handoffs import OPEN
from feedbot.store.models import Handoff, HandoffState, Survey


def _minutes(start: datetime, end: datetime | None) -> float | None:
    return (end - start).total_seconds() / 60 if end is not None else None


def _median(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(statistics.median(known), 1) if known else None


def handoff_summary(conn: Connection, scope: Scope) -> dict[str, Any]:
    """Hand-offs of the surveys in scope. Offers a severe detractor declined
    are counted apart: they never reached an agent. Hand-offs are a small
    share of surveys, so their times are read and their medians taken here."""
    rows = conn.execute(
        select(
            Handoff.reason,
            Handoff.state,
            Handoff.created_at,
            Handoff.first_reply_at,
            Handoff.resolved_at,
            Handoff.recovery_answer,
        )
        .join(Survey, Survey.id == Handoff.survey_id)
        .where(*scope.conditions())
    ).all()
    handed = [r for r in rows if r.state in OPEN or r.state == HandoffState.RESOLVED]
    resolved = [r for r in handed if r.state == HandoffState.RESOLVED]
    answers = [r.recovery_answer for r in resolved if r.recovery_answer]
    return {
        "handed_off": len(handed),
        "by_reason": {
            reason.value: sum(r.reason == reason.value for r in handed) for reason in HandoffReason
        },
        "open": sum(r.state in OPEN for r in handed),
        "resolved": len(resolved),
        "offers_declined": sum(r.state == HandoffState.DECLINED for r in rows),
        "median_minutes_to_first_reply": _median(
            [_minutes(r.created_at, r.first_reply_at) for r in handed]
        ),
        "median_minutes_to_resolution": _median(
            [_minutes(r.created_at, r.resolved_at) for r in resolved]
        ),
        # "Did we sort this out for you?": yes, no, or their own words.
        "recovery": {
            "asked": len(resolved),
            "yes": answers.count("yes"),
            "no": answers.count("no"),
            "other": sum(a not in ("yes", "no") for a in answers),
        },
    }
