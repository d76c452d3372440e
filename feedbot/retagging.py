"""Re-tagging every stored answer after the theme taxonomy (or the sentiment
lexicon) changes: `feedbot retag`."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Engine, func, or_, select
from sqlalchemy.orm import Session, selectinload

from feedbot.locales import language_of
from feedbot.nps import Category
from feedbot.store.models import Response
from feedbot.store.report_facts import theme_facts_update
from feedbot.store.surveys import ReasonTags, ThemeTag, set_themes
from feedbot.understanding.reader import ReasonReading, Understanding, by_language

_HAS_WORDS = or_(Response.reason.is_not(None), Response.follow_up.is_not(None))


def tags_of(reading: ReasonReading) -> ReasonTags:
    """A reading as the store keeps it."""
    return ReasonTags(
        themes=reading.themes,
        sentiment=reading.sentiment.value,
        by_theme={t: ThemeTag(r.sentiment.value, r.words) for t, r in reading.by_theme.items()},
    )


def count_answers(engine: Engine) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(Response).where(_HAS_WORDS)) or 0


def why_text(response: Response) -> str:
    """The whole why: the reason and the probing question's answer together."""
    return ". ".join(t for t in (response.reason, response.follow_up) if t)


def retag_all(
    engine: Engine,
    understanding: Understanding | Callable[[str | None], Understanding],
    on_batch: Callable[[int], None] = lambda n: None,
    batch_size: int = 500,
) -> int:
    """Recompute themes and sentiment (each theme's own too) of every answer, one batch per
    transaction, walking the table by key (constant memory). ``understanding``:
    one reader for every answer, or a reader per language (feedbot.understanding.
    reader.Readers): each answer is then read in its survey's language."""
    reader_for = understanding if callable(understanding) else lambda _language: understanding
    done = 0
    last_id = ""
    while True:
        with Session(engine) as session, session.begin():
            batch = list(
                session.scalars(
                    select(Response)
                    .where(_HAS_WORDS, Response.survey_id > last_id)
                    .order_by(Response.survey_id)
                    .limit(batch_size)
                    .options(selectinload(Response.themes), selectinload(Response.survey))
                )
            )
            if not batch:
                return done
            readings = by_language(
                [(language_of(r.survey.locale), (why_text(r), _category(r))) for r in batch],
                lambda language, items: reader_for(language).reasons(items),
            )
            for response, reading in zip(batch, readings, strict=True):
                tags = tags_of(reading)
                response.sentiment = tags.sentiment
                set_themes(response, tags.themes, tags.by_theme)
            session.flush()
            session.execute(theme_facts_update(r.survey_id for r in batch))
            last_id = batch[-1].survey_id
        done += len(batch)
        on_batch(len(batch))


def _category(response: Response) -> Category | None:
    return Category(response.category) if response.category else None
