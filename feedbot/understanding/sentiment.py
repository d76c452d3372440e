"""Sentiment of a reason: positive, neutral or negative.

VADER (vaderSentiment) with a customer-service lexicon on top
(service_sentiment.yml). A reason that is clearly good about one thing and
clearly bad about another ("friendly staff but the price is too high") is
neutral. When the text itself carries no sentiment but is about something,
the NPS category decides ("the delivery", said by a detractor, is negative).

Each theme of a reason also has its own sentiment, read from the words
around the theme's own words within their clause ("the food was great but
the service was slow": product positive, staff negative).
"""

from __future__ import annotations

import re
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

import yaml
from spacy.tokens import Doc
from vaderSentiment.vaderSentiment import NEGATE, SentimentIntensityAnalyzer

from feedbot.customer_text import without_symbols
from feedbot.nps import Category
from feedbot.understanding.themes import TaggedText
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
# A clause that denies something and names nothing good or bad ("they never
# called back", "would not change the order") is a complaint in feedback.
# Three words at least: "nothing", "no comment" are not.
_NEGATIONS = frozenset(NEGATE) | {"never", "no", "nothing", "nobody", "cannot", "without"}
_IMPLIED_COMPLAINT_MIN_WORDS = 3
# A service phrase after a negation counts the other way, as VADER does with
# its own words (its N_SCALAR): "not worth it", "won't be coming back".
NEGATED = -0.74
_NEGATION_REACH = 3  # words before the phrase
# A theme's own sentiment is read from this many tokens before its words
# ("rude waiter") and after them ("the waiter was rude"), within its clause.
THEME_REACH_BEFORE = 2
THEME_REACH_AFTER = 5
_CLAUSE_ENDS = frozenset({",", ";", ".", "!", "?", ":", "--", "(", ")", "...", "…"})
_CONTRASTS = frozenset({"but", "however", "though", "although", "whereas", "yet", "while"})


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
        nudge = sum(
            self._phrase_valence[m.group()]
            * (NEGATED if _negated_before(lowered, m.start()) else 1)
            for m in self._phrases.finditer(lowered)
        )
        nudge -= 1.5 * len(_TOO.findall(lowered)) + 1.2 * len(_DURATION.findall(lowered))
        nudge -= self._implied_complaints(lowered)
        # Each phrase point moves the score as far as a strong word would.
        return max(-1.0, min(1.0, compound + nudge / 4))

    def _implied_complaints(self, lowered: str) -> int:
        count = 0
        for clause in _CLAUSES.split(lowered):
            words = _WORD.findall(clause)
            if len(words) < _IMPLIED_COMPLAINT_MIN_WORDS:
                continue
            if any(w in _NEGATIONS or w.endswith("n't") for w in words):
                if abs(self._vader.polarity_scores(clause)["compound"]) < POSITIVE_AT:
                    count += 1
        return count

    def read(
        self, text: str, category: Category | None = None, about_something: bool = False
    ) -> Sentiment:
        clauses = [c for c in _CLAUSES.split(text) if c.strip()]
        if len(clauses) > 1:
            scores = [self.polarity(c) for c in clauses]
            if max(scores) >= CLEAR_AT and min(scores) <= -CLEAR_AT:
                return Sentiment.NEUTRAL  # clearly good about one thing, bad about another
        return _sentiment_of(self.polarity(text), category, about_something)

    def of_themes(
        self, tagged: TaggedText, whole: Sentiment, scored: bool = False
    ) -> dict[str, Sentiment]:
        """Each theme's own sentiment: of the words within reach of the
        theme's words in their clause. A reason about one thing only is about
        that thing: when its words there carry no sentiment, the reason's
        (`whole`) is the theme's. With a score (``scored``: `whole` counts its
        category), the same holds for several themes when none has words
        with a sentiment: nothing sets one apart, and the score is the best
        evidence for each ("the driver threw my parcel over the fence, I want
        a refund" from a 2)."""
        scopes: dict[str, set[tuple[int, int]]] = {}
        for theme, start, end in tagged.matches:
            first, last = _clause_around(tagged.doc, start, end)
            scope = (max(first, start - THEME_REACH_BEFORE), min(last, end + THEME_REACH_AFTER))
            scopes.setdefault(theme, set()).add(scope)
        found = {
            theme: _sentiment_of(sum(self.polarity(tagged.doc[a:b].text) for a, b in spans))
            for theme, spans in scopes.items()
        }
        if (len(found) == 1 or scored) and set(found.values()) == {Sentiment.NEUTRAL}:
            return dict.fromkeys(found, whole)
        return found


def _negated_before(lowered: str, start: int) -> bool:
    """Whether one of the few words before position `start` (in its clause) negates."""
    before = _CLAUSES.split(lowered[:start])[-1]
    words = _WORD.findall(before)[-_NEGATION_REACH:]
    return any(w in _NEGATIONS or w.endswith("n't") for w in words)


def _clause_around(doc: Doc, start: int, end: int) -> tuple[int, int]:
    """The token range of the clause holding tokens start..end."""

    def ends_clause(i: int) -> bool:
        token = doc[i]
        return (
            token.text in _CLAUSE_ENDS
            or token.lower_ in _CONTRASTS
            or (token.text == "-" and bool(token.whitespace_))  # a dash, not "half-eaten"
        )

    first = start
    while first > 0 and not ends_clause(first - 1):
        first -= 1
    last = end
    while last < len(doc) and not ends_clause(last):
        last += 1
    return first, last


def _sentiment_of(
    value: float, category: Category | None = None, about_something: bool = False
) -> Sentiment:
    if value >= POSITIVE_AT:
        return Sentiment.POSITIVE
    if value <= -POSITIVE_AT:
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
