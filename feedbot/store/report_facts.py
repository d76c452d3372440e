"""Copies of a survey's facts on its theme rows (touchpoint, location,
day of creation, score), so that reports count themes in one pass over
`response_themes` with no join. Written wherever themes or the score change:
the store, `feedbot retag`, the demo data and migration 0004."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Update, select, update

from feedbot.store.models import ResponseTheme, Survey

_FACTS = ("touchpoint", "location", "created_day", "score")


def theme_facts_update(survey_ids: Iterable[str] | None = None) -> Update:
    """UPDATE response_themes from their surveys (all rows, or these surveys')."""
    values = {
        name: select(getattr(Survey, name))
        .where(Survey.id == ResponseTheme.survey_id)
        .scalar_subquery()
        for name in _FACTS
    }
    statement = update(ResponseTheme).values(values)
    if survey_ids is not None:
        statement = statement.where(ResponseTheme.survey_id.in_(list(survey_ids)))
    return statement.execution_options(synchronize_session=False)
