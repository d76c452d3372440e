"""What the actions share in one action-server process: the store, the
operator's touchpoints, the understanding of answers and the clock. Rasa
instantiates actions without arguments, so these are built once, lazily, from
the environment."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache

from rasa_sdk import Tracker

from feedbot.locales import DEFAULT, language_of
from feedbot.settings import Settings
from feedbot.store.database import async_engine
from feedbot.store.handoffs import HandoffStore
from feedbot.store.surveys import SurveyStore
from feedbot.touchpoints import SurveyConfig, load_survey_config
from feedbot.understanding.reader import Readers, Understanding


@lru_cache(maxsize=1)
def survey_store() -> SurveyStore:
    return SurveyStore(async_engine(Settings.from_env().database_url))


@lru_cache(maxsize=1)
def handoff_store() -> HandoffStore:
    return HandoffStore(survey_store().engine)


@lru_cache(maxsize=1)
def survey_config() -> SurveyConfig:
    return load_survey_config(Settings.from_env().touchpoints_file)


@lru_cache(maxsize=1)
def _readers() -> Readers:
    return Readers(Settings.from_env().themes_file)


def understanding(language: str = DEFAULT) -> Understanding:
    """Reading reasons in a language (built once per process)."""
    return _readers()(language)


def language(tracker: Tracker) -> str:
    """The survey's language: set when it starts, from the locale the app
    sends with every message."""
    found = tracker.get_slot("language")
    if not found:
        found = language_of((tracker.latest_message.get("metadata") or {}).get("locale"))
    return str(found)


def texts(tracker: Tracker) -> SurveyConfig:
    """The operator's configuration with its texts in the survey's language."""
    return survey_config().in_language(language(tracker))


def now(tracker: Tracker | None = None) -> datetime:
    """The time of the customer's message as the app's clock gave it (the app
    sends it as metadata ``now``), else this process's clock. One clock for a
    whole conversation keeps its times in order, and lets tests move it."""
    if tracker is not None:
        sent = (tracker.latest_message.get("metadata") or {}).get("now")
        try:
            at = datetime.fromisoformat(str(sent)) if sent else None
        except ValueError:
            at = None
        if at is not None and at.tzinfo is not None:
            return at
    return datetime.now(UTC)


def reset() -> None:
    """Forget the cached store and configuration (tests change the environment)."""
    survey_store.cache_clear()
    handoff_store.cache_clear()
    survey_config.cache_clear()
    _readers.cache_clear()
