"""Everything Feedbot reads out of a reply, in one place."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from feedbot.locales import language_of
from feedbot.nps import Category, category_of
from feedbot.understanding.scores import parse_score
from feedbot.understanding.sentiment import Sentiment, SentimentReader, default_reader
from feedbot.understanding.themes import ThemeTagger, load_taxonomy

# A reason with no theme and at most this many words tells us nothing we can
# act on ("idk", "just because", "it was ok"): worth one probing question.
VAGUE_MAX_WORDS = 4
T = TypeVar("T")
R = TypeVar("R")
_WORDS = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")


@dataclass(frozen=True)
class ThemeReading:
    """One theme of a reason: its own sentiment, and the words that made it."""

    sentiment: Sentiment
    words: list[str]


@dataclass(frozen=True)
class ReasonReading:
    themes: list[str]
    sentiment: Sentiment
    vague: bool
    by_theme: dict[str, ThemeReading] = field(default_factory=dict)


@dataclass(frozen=True)
class Understood:
    score: int | None
    themes: list[str]
    sentiment: Sentiment
    by_theme: dict[str, ThemeReading] = field(default_factory=dict)

    def as_json(self, explain: bool = False) -> dict[str, object]:
        """`feedbot understand`'s line; with explain, each theme's words and sentiment."""
        line: dict[str, object] = {
            "score": self.score,
            "themes": self.themes,
            "sentiment": self.sentiment.value,
        }
        if explain:
            line["because"] = {t: r.words for t, r in self.by_theme.items()}
            line["theme_sentiment"] = {t: r.sentiment.value for t, r in self.by_theme.items()}
        return line


class Understanding:
    """Reading replies in one language ("en", "es")."""

    def __init__(
        self, tagger: ThemeTagger, sentiment: SentimentReader | None = None, language: str = "en"
    ) -> None:
        self.tagger = tagger
        self.language = language
        self.sentiment = sentiment or default_reader(language)

    @classmethod
    def from_taxonomy(cls, themes_file: Path, language: str = "en") -> Understanding:
        tagger = ThemeTagger(load_taxonomy(themes_file), source=str(themes_file), language=language)
        return cls(tagger, language=language)

    def reason(self, text: str, category: Category | None = None) -> ReasonReading:
        return next(self.reasons([(text, category)]))

    def reasons(
        self, items: Iterable[tuple[str, Category | None]], batch_size: int = 512
    ) -> Iterator[ReasonReading]:
        pairs = list(items)  # walked twice: texts for the tagger, then categories
        texts = (text for text, _ in pairs)
        for (text, category), tagged in zip(
            pairs, self.tagger.read_many(texts, batch_size), strict=True
        ):
            themes = tagged.themes
            sentiment = self.sentiment.read(text, category, about_something=bool(themes))
            own = self.sentiment.of_themes(tagged, sentiment, scored=category is not None)
            because = tagged.because
            yield ReasonReading(
                themes=themes,
                sentiment=sentiment,
                vague=is_vague(text, themes),
                by_theme={t: ThemeReading(own[t], because[t]) for t in themes},
            )

    def replies(self, texts: Iterable[str], batch_size: int = 512) -> Iterator[Understood]:
        """For `feedbot understand`: the score, themes and sentiment of each reply."""
        batch: list[str] = []
        for text in texts:
            batch.append(text)
            if len(batch) >= batch_size:
                yield from self._replies(batch)
                batch = []
        if batch:
            yield from self._replies(batch)

    def _replies(self, texts: list[str]) -> Iterator[Understood]:
        scores = [parse_score(text, self.language) for text in texts]
        categories = [category_of(s) if s is not None else None for s in scores]
        for score, reading in zip(
            scores, self.reasons(list(zip(texts, categories, strict=True))), strict=True
        ):
            yield Understood(score, reading.themes, reading.sentiment, reading.by_theme)


def is_vague(text: str, themes: list[str]) -> bool:
    return not themes and len(_WORDS.findall(text)) <= VAGUE_MAX_WORDS


class Readers:
    """An Understanding per language, each built once, when first asked for
    (a Spanish reader is not built where no Spanish reply comes)."""

    def __init__(self, themes_file: Path) -> None:
        self.themes_file = themes_file
        self._built: dict[str, Understanding] = {}
        self._building = threading.Lock()  # one build per language, even from a warm-up thread

    def __call__(self, language: str | None) -> Understanding:
        language = language_of(language)
        found = self._built.get(language)
        if found is None:
            with self._building:
                found = self._built.get(language)
                if found is None:
                    found = Understanding.from_taxonomy(self.themes_file, language)
                    self._built[language] = found
        return found


def by_language(
    items: Sequence[tuple[str | None, T]], read: Callable[[str | None, list[T]], Iterable[R]]
) -> list[R]:
    """``read`` once for each language's items, in batch; the results back in
    the items' order (a batch of lines or answers in several languages)."""
    found: dict[int, R] = {}
    for language in dict.fromkeys(lang for lang, _ in items):
        places = [i for i, (lang, _) in enumerate(items) if lang == language]
        found.update(zip(places, read(language, [items[i][1] for i in places]), strict=True))
    return [found[i] for i in range(len(items))]
