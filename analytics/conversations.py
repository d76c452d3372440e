"""Conversations an analyst should read: the most recent detractors."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from analytics.query import Scope
from feedbot.store.models import Response, ResponseTheme, Survey


def recent_detractors(conn: Connection, scope: Scope, limit: int = 20) -> list[dict[str, Any]]:
    query = (
        select(
            Survey.id,
            Survey.touchpoint,
            Survey.location,
            Response.score,
            Response.reason,
            Response.follow_up,
            Response.scored_at,
        )
        .join(Response, Response.survey_id == Survey.id)
        .where(Response.score <= 6, *scope.conditions())
        .order_by(Response.scored_at.desc(), Survey.id)
        .limit(limit)
    )
    rows = [dict(row._mapping) for row in conn.execute(query)]
    themes: dict[str, list[str]] = {row["id"]: [] for row in rows}
    for survey_id, theme in conn.execute(
        select(ResponseTheme.survey_id, ResponseTheme.theme)
        .where(ResponseTheme.survey_id.in_(list(themes)))
        .order_by(ResponseTheme.theme)
    ):
        themes[survey_id].append(theme)
    return [{**row, "themes": themes[row["id"]]} for row in rows]
