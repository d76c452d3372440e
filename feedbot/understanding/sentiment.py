"""Sentiment of a reason: positive, neutral or negative.

VADER (vaderSentiment) with a customer-service lexicon on top
(service_sentiment.yml). A reason that is clearly good about one thing and
clearly bad about another ("friendly staff but the price is too high") is
neutral. When the text itself carries no sentiment but is about something,
the NPS category decides ("the delivery", said by a detractor, is negative).
"""

from __future__ import annotations

import re
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

import yaml
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from feedbot.customer_text import without_symbols
from feedbot.nps import Category
from feedbot.understanding.vocabulary import TypoCorrector

LEXICON = Path(__file__).with_name("service_sentiment.yml")
# VADER's own thresholds on the compound score.
POSITIVE_AT = 0.05
# A clause this strong counts as clearly positive or negative (for "mixed").
CLEAR_AT = 0.3
_CLAUSES = re.compile(r"\bbut\b|\bhowever\b|\bthough\b|\bwhereas\b|[,;.!?]+")
# "too high", "too small": a complaint, whatever the adjective (not "too good").
_TOO = re.compile(r"\btoo\s+(?!good\b|kind\b|nice\b|well\b|happy\b)[a-z]{3,}")
# A duration is a wait ("waited 2 hours"), unless it is said as speed ("in 5 minutes").
_DURATION = re.compile(
    r"(?<!\bin )(?<!\bwithin )(?<!\bonly )(?<!\bjust )\b\d+\s*"
    r"(?:min|mins|minutes|hr|hrs|hours?|days?|weeks?|months?)\b"
)
_WORD = re.compile(r"[a-z']+")


class Sentiment(StrEnum):
    POSITIVE = "positive"
    NEUTRAL = "neutral"
    NEGATIVE = "negative"


class SentimentReader:
    def __init__(self, lexicon_path: Path = LEXICON) -> None:
        lexicon = yaml.safe_load(lexicon_path.read_text(encoding="utf-8"))
        self._vader = SentimentIntensityAnalyzer()
        self._vader.lexicon.update({w.lower(): float(v) for w, v in lexicon["words"].items()})
        self._phrase_valence = {p.lower(): float(v) for p, v in lexicon["phrases"].items()}
        # One alternation, longest phrases first, instead of a regex per phrase.
        alternatives = sorted(self._phrase_valence, key=len, reverse=True)
        self._phrases = re.compile(r"\b(?:" + "|".join(map(re.escape, alternatives)) + r")\b")
        self._typos = TypoCorrector(self._vader.lexicon, min_length=5)

    def polarity(self, text: str) -> float:
        """VADER's compound score, nudged by the service phrases, in [-1, 1]."""
        lowered = without_symbols(text.lower())
        lowered = _WORD.sub(lambda m: self._typos.correct(m.group()) or m.group(), lowered)
        compound = self._vader.polarity_scores(lowered)["compound"]
        nudge = sum(self._phrase_valence[m.group()] for m in self._phrases.finditer(lowered))
        nudge -= 1.5 * len(_TOO.findall(lowered)) + 1.2 * len(_DURATION.findall(lowered))
        # Each phrase point moves the score as far as a strong word would.
        return max(-1.0, min(1.0, compound + nudge / 4))

    def read(
        self, text: str, category: Category | None = None, about_something: bool = False
    ) -> Sentiment:
        clauses = [c for c in _CLAUSES.split(text) if c.strip()]
        if len(clauses) > 1:
            scores = [self.polarity(c) for c in clauses]
            if max(scores) >= CLEAR_AT and min(scores) <= -CLEAR_AT:
                return Sentiment.NEUTRAL  # clearly good about one thing, bad about another
        overall = self.polarity(text)
        if overall >= POSITIVE_AT:
            return Sentiment.POSITIVE
        if overall <= -POSITIVE_AT:
            return Sentiment.NEGATIVE
        if category is not None and about_something:
            return {
                Category.DETRACTOR: Sentiment.NEGATIVE,
                Category.PASSIVE: Sentiment.NEUTRAL,
                Category.PROMOTER: Sentiment.POSITIVE,
            }[category]
        return Sentiment.NEUTRAL


@lru_cache(maxsize=1)
def default_reader() -> SentimentReader:
    return SentimentReader()
