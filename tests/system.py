"""The real system for end-to-end tests (see tests.helpers.stack),
with helpers to read what it stored."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, selectinload

from feedbot.store.database import sync_engine
from feedbot.store.models import Message, ResponseTheme, Survey
from tests.helpers.stack import free_port, temporary_stack

__all__ = ["System", "free_port", "running_system"]


@dataclass
class System:
    base_url: str
    ws_url: str
    rasa_url: str
    spanish_rasa_url: str | None  # when the stack speaks Spanish
    action_server_url: str
    database_url: str
    engine: Engine
    log_dir: Path
    var_dir: Path  # the stack's (Rasa's tracker store is there, on SQLite)

    def survey(self, survey_id: str) -> Survey:
        with Session(self.engine) as session:
            survey = session.scalar(
                select(Survey)
                .where(Survey.id == survey_id)
                .options(selectinload(Survey.response), selectinload(Survey.messages))
            )
            assert survey is not None, f"survey {survey_id} not stored"
            return survey

    def themes(self, survey_id: str) -> list[str]:
        with Session(self.engine) as session:
            return list(
                session.scalars(
                    select(ResponseTheme.theme)
                    .where(ResponseTheme.survey_id == survey_id)
                    .order_by(ResponseTheme.theme)
                )
            )

    def transcript(self, survey_id: str) -> list[tuple[str, str]]:
        return transcript(self.engine, survey_id)


def transcript(engine: Engine, survey_id: str) -> list[tuple[str, str]]:
    """A survey's messages in order, as (author, text)."""
    with Session(engine) as session:
        rows = session.scalars(
            select(Message).where(Message.survey_id == survey_id).order_by(Message.id)
        )
        return [(m.author, m.text) for m in rows]


@contextmanager
def running_system(
    workdir: Path, app_env: dict[str, str] | None = None, languages: tuple[str, ...] = ("en",)
) -> Iterator[System]:
    with temporary_stack(workdir, app_env=app_env, languages=languages) as stack:
        settings = stack.settings
        engine = sync_engine(settings.database_url)
        try:
            yield System(
                base_url=settings.public_base_url,
                ws_url=f"ws://127.0.0.1:{settings.port}/chat",
                rasa_url=settings.rasa_url,
                spanish_rasa_url=(settings.rasa_urls_for("es") or (None,))[0],
                action_server_url=settings.action_server_url,
                database_url=settings.database_url,
                engine=engine,
                log_dir=workdir / "log",
                var_dir=workdir,
            )
        finally:
            engine.dispose()
