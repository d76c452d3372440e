"""Sentiment of a reason: positive, neutral or negative.

English: VADER (vaderSentiment) with a customer-service lexicon on top
(service_sentiment.yml). Spanish: a naive Bayes model from PyPI
(spanish_sentiment.py) with a Spanish service lexicon on top
(service_sentiment.es.yml), under the same rules in Spanish words.

A reason that is clearly good about one thing and clearly bad about
another ("friendly staff but the price is too high") is neutral. When the
text itself carries no sentiment but is about something, the NPS category
decides ("the delivery", said by a detractor, is negative).

Each theme of a reason also has its own sentiment, read from the words
around the theme's own words within their clause ("the food was great but
the service was slow": product positive, staff negative).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from spacy.tokens import Doc
from vaderSentiment.vaderSentiment import NEGATE, SentimentIntensityAnalyzer

from feedbot.customer_text import without_symbols
from feedbot.nps import Category
from feedbot.understanding import spanish_sentiment
from feedbot.understanding.themes import TaggedText
from feedbot.understanding.vocabulary import TypoCorrector

LEXICON = Path(__file__).with_name("service_sentiment.yml")
LEXICONS = {"en": LEXICON, "es": Path(__file__).with_name("service_sentiment.es.yml")}
# VADER's own thresholds on the compound score.
POSITIVE_AT = 0.05
# A clause this strong counts as clearly positive or negative (for "mixed").
CLEAR_AT = 0.3
_IMPLIED_COMPLAINT_MIN_WORDS = 3
# A service phrase after a negation counts the other way, as VADER does with
# its own words (its N_SCALAR): "not worth it", "won't be coming back".
NEGATED = -0.74
_NEGATION_REACH = 3  # words before the phrase
# A theme's own sentiment is read from this many tokens before its words
# ("rude waiter") and after them ("the waiter was rude"), within its clause.
THEME_REACH_BEFORE = 2
THEME_REACH_AFTER = 5
_CLAUSE_ENDS = frozenset({",", ";", ".", "!", "?", ":", "--", "(", ")", "...", "…", "¡", "¿"})


@dataclass(frozen=True)
class Rules:
    """The words the rules below need, in one language."""

    # Where a reason's clauses end ("but", commas).
    clauses: re.Pattern[str]
    # "too high", "too small": a complaint, whatever the adjective (not "too good").
    too: re.Pattern[str]
    # A duration is a wait ("waited 2 hours"), unless said as speed ("in 5 minutes").
    duration: re.Pattern[str]
    word: re.Pattern[str]
    # A clause that denies something and names nothing good or bad ("they
    # never called back") is a complaint in feedback.
    negations: frozenset[str]
    negation_suffix: str | None  # "n't"
    # Words that end a theme's clause ("the food was great but…").
    contrasts: frozenset[str]
    # "like" that compares or asks ("it felt like a canteen", "I'd like a
    # refund"), not "like" that likes ("I like the food"): read as "as".
    comparing_like: re.Pattern[str] | None = None


RULES = {
    "en": Rules(
        clauses=re.compile(r"\bbut\b|\bhowever\b|\bthough\b|\bwhereas\b|[,;.!?]+"),
        too=re.compile(r"\btoo\s+(?!good\b|kind\b|nice\b|well\b|happy\b)[a-z]{3,}"),
        duration=re.compile(
            r"(?<!\bin )(?<!\bwithin )(?<!\bonly )(?<!\bjust )\b\d+\s*"
            r"(?:min|mins|minutes|hr|hrs|hours?|days?|weeks?|months?)\b"
        ),
        word=re.compile(r"[a-z']+"),
        negations=frozenset(NEGATE) | {"never", "no", "nothing", "nobody", "cannot", "without"},
        negation_suffix="n't",
        contrasts=frozenset({"but", "however", "though", "although", "whereas", "yet", "while"}),
        comparing_like=re.compile(
            r"(\b(?:would|'d|feel|feels|felt|feeling|look|looks|looked|looking|seem|seems|"
            r"seemed|sound|sounds|sounded|taste|tastes|tasted|smell|smells|smelled|is|was|are|"
            r"were|be|been|'s|'re|more|less|just|exactly|something|nothing|anything)\s+)"
            r"like\b|\blike(?=\s+(?:a|an)\b)"
        ),
    ),
    "es": Rules(
        clauses=re.compile(
            r"\bpero\b|\bsin embargo\b|\baunque\b|\bmientras que\b|\bsino\b|[,;.!?¡¿]+"
        ),
        too=re.compile(
            r"\bdemasiad[oa]s?\s+(?!buen[oa]s?\b|bien\b|amables?\b|rico\b|rica\b)"
            r"[a-záéíóúñ]{3,}"
        ),
        duration=re.compile(
            r"(?<!\ben )(?<!\bsolo )(?<!\bsólo )(?<!\bapenas )\b"
            r"(?:\d+|un[ao]?|dos|tres|cuatro|cinco|seis|siete|ocho|nueve|diez|quince|veinte|"
            r"treinta|cuarenta|cincuenta|varios|varias|muchos|muchas)\s*"
            r"(?:min|minutos?|horas?|días?|dias|semanas?|mes|meses)\b"
        ),
        word=re.compile(r"[a-záéíóúüñ']+"),
        negations=spanish_sentiment.NEGATIONS,
        negation_suffix=None,
        contrasts=frozenset({"pero", "aunque", "embargo", "mientras", "sino"}),
    ),
}


class Sentiment(StrEnum):
    POSITIVE = "positive"
    NEUTRAL = "neutral"
    NEGATIVE = "negative"


class SentimentReader:
    def __init__(self, lexicon_path: Path | None = None, language: str = "en") -> None:
        lexicon = yaml.safe_load((lexicon_path or LEXICONS[language]).read_text(encoding="utf-8"))
        self.rules = RULES[language]
        self._vader: Any = (
            SentimentIntensityAnalyzer()
            if language == "en"
            else spanish_sentiment.SpanishAnalyzer()
        )
        self._vader.lexicon.update({w.lower(): float(v) for w, v in lexicon["words"].items()})
        self._phrase_valence = {p.lower(): float(v) for p, v in lexicon["phrases"].items()}
        # Replies that, said alone, give no opinion: neutral.
        self._no_opinion = frozenset(_bare(p) for p in lexicon.get("no_opinion") or [])
        # One alternation, longest phrases first, instead of a regex per phrase.
        alternatives = sorted(self._phrase_valence, key=len, reverse=True)
        self._phrases = re.compile(r"\b(?:" + "|".join(map(re.escape, alternatives)) + r")\b")
        self._typos = TypoCorrector(self._vader.lexicon, min_length=5, language=language)

    def polarity(self, text: str) -> float:
        """The analyzer's compound score, nudged by the service phrases, in [-1, 1]."""
        rules = self.rules
        lowered = without_symbols(text.lower())
        lowered = rules.word.sub(lambda m: self._typos.correct(m.group()) or m.group(), lowered)
        if rules.comparing_like is not None:
            lowered = rules.comparing_like.sub(lambda m: (m.group(1) or "") + "as", lowered)
        compound = self._vader.polarity_scores(lowered)["compound"]
        nudge = sum(
            self._phrase_valence[m.group()]
            * (NEGATED if _negated_before(lowered, m.start(), rules) else 1)
            for m in self._phrases.finditer(lowered)
        )
        nudge -= 1.5 * len(rules.too.findall(lowered)) + 1.2 * len(rules.duration.findall(lowered))
        nudge -= self._implied_complaints(lowered)
        # Each phrase point moves the score as far as a strong word would.
        return max(-1.0, min(1.0, compound + nudge / 4))

    def _implied_complaints(self, lowered: str) -> int:
        count = 0
        for clause in self.rules.clauses.split(lowered):
            words = self.rules.word.findall(clause)
            if len(words) < _IMPLIED_COMPLAINT_MIN_WORDS:
                continue
            if any(_negates(w, self.rules) for w in words):
                if abs(self._vader.polarity_scores(clause)["compound"]) < POSITIVE_AT:
                    count += 1
        return count

    def read(
        self, text: str, category: Category | None = None, about_something: bool = False
    ) -> Sentiment:
        if _bare(text) in self._no_opinion:
            return Sentiment.NEUTRAL
        clauses = [c for c in self.rules.clauses.split(text) if c.strip()]
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
            first, last = _clause_around(tagged.doc, start, end, self.rules)
            scope = (max(first, start - THEME_REACH_BEFORE), min(last, end + THEME_REACH_AFTER))
            scopes.setdefault(theme, set()).add(scope)
        found = {
            theme: _sentiment_of(sum(self.polarity(tagged.doc[a:b].text) for a, b in spans))
            for theme, spans in scopes.items()
        }
        if (len(found) == 1 or scored) and set(found.values()) == {Sentiment.NEUTRAL}:
            return dict.fromkeys(found, whole)
        return found


def _bare(text: str) -> str:
    """Lower case, the words only: "No sé..." is "no sé"."""
    return " ".join(re.findall(r"[^\W_]+", text.lower()))


def _negates(word: str, rules: Rules) -> bool:
    suffix = rules.negation_suffix
    return word in rules.negations or bool(suffix and word.endswith(suffix))


def _negated_before(lowered: str, start: int, rules: Rules) -> bool:
    """Whether one of the few words before position `start` (in its clause) negates."""
    before = rules.clauses.split(lowered[:start])[-1]
    words = rules.word.findall(before)[-_NEGATION_REACH:]
    return any(_negates(w, rules) for w in words)


def _clause_around(doc: Doc, start: int, end: int, rules: Rules) -> tuple[int, int]:
    """The token range of the clause holding tokens start..end."""

    def ends_clause(i: int) -> bool:
        token = doc[i]
        return (
            token.text in _CLAUSE_ENDS
            or token.lower_ in rules.contrasts
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


@lru_cache(maxsize=2)
def default_reader(language: str = "en") -> SentimentReader:
    return SentimentReader(language=language)
