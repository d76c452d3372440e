"""The general Spanish sentiment under Feedbot's Spanish rules and lexicon.

It comes from the PyPI package sentiment-analysis-spanish (MIT licence): a
naive Bayes classifier over 5,000 word n-grams (one to three words), trained
by its authors on some 800,000 Spanish reviews (restaurants, hotels, shops,
films). Of the candidates measured (docs/understanding.md, "Spanish"), it
read Spanish reasons best; the others were a word list built by machine
(Chen and Skiena 2014, in asent) and SentiLeak's stems (which needs spaCy
3.4 and downloads a model at run time).

The package stores its model as scikit-learn pickles, with every n-gram it
dropped (600 MB in memory, 5 s to read). Feedbot reads only the n-grams it
kept and their weights, without scikit-learn (a pickle reader that builds
plain objects and refuses anything but numpy and builtins), once per
environment: ``python -m feedbot.understanding.spanish_sentiment`` (the
Makefile runs it after installing) writes them to a small JSON file, which
every process then loads in milliseconds.

Nothing downloads at run time.
"""

from __future__ import annotations

import bz2
import importlib.metadata
import importlib.util
import json
import logging
import math
import pickle
import re
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

PACKAGE = "sentiment_analysis_spanish"
DISTRIBUTION = "sentiment-analysis-spanish"
_TOKEN = re.compile(r"(?u)\b\w\w+\b")  # the package's CountVectorizer's tokens
# The model counts a phrase up to three times (as one, two and three words)
# and learnt topics as well as sentiment ("camarero" leans negative): its
# log-odds count this much beside Feedbot's own words, each of which moves
# them by its valence (VADER's scale, -4..4) times VALENCE_WEIGHT. Then to
# VADER's compound scale (its thresholds, 0.05, apply). Chosen on the tuning
# two thirds of bench/data/reasons.es.jsonl, from a plateau (0.35-0.5 and
# 2-3 all within a point; docs/understanding.md).
NAIVE_BAYES_WEIGHT = 0.35
VALENCE_WEIGHT = 3.0
LOG_ODDS_SCALE = 5.0
NEGATIONS = frozenset(
    "no nunca jamás jamas nada nadie ni sin tampoco ningún ningun ninguna ninguno".split()
)
NEGATED = -0.74  # as VADER: a negated word counts the other way, a little less
_NEGATION_REACH = 3


class SpanishModelMissing(RuntimeError):
    pass


class NaiveBayesTable:
    """The package's classifier as a table: each kept n-gram's log-odds
    (positive minus negative), and the prior's."""

    def __init__(self, weights: dict[str, float], prior: float, ngrams: tuple[int, int]) -> None:
        self.weights = weights
        self.prior = prior
        self.ngrams = ngrams

    def log_odds(self, text: str) -> float:
        tokens = _TOKEN.findall(text.lower())
        low, high = self.ngrams
        total = self.prior
        for n in range(low, high + 1):
            for i in range(len(tokens) - n + 1):
                total += self.weights.get(" ".join(tokens[i : i + n]), 0.0)
        return total


class _Plain:
    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


class _ModelReader(pickle.Unpickler):
    """Reads scikit-learn's pickles into plain objects: only numpy's and
    Python's own types are built; anything else is refused."""

    def find_class(self, module: str, name: str) -> Any:
        if module.startswith("sklearn."):
            return type(name, (_Plain,), {})
        if module.split(".")[0] in ("numpy", "builtins", "copyreg", "_codecs", "collections"):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refused to build {module}.{name}")


def _package_dir() -> Path:
    spec = importlib.util.find_spec(PACKAGE)  # found, not imported (it imports scikit-learn)
    if spec is None or not spec.submodule_search_locations:
        raise SpanishModelMissing(
            f"{DISTRIBUTION} is not installed: run `make install` (or pip install -e .)"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _version() -> str:
    return importlib.metadata.version(DISTRIBUTION)


def table_path() -> Path:
    """Where this environment keeps the extracted table."""
    return Path(sys.prefix) / "share" / "feedbot" / f"sentiment-es-{_version()}.json"


def extract() -> dict[str, Any]:
    """The n-grams and weights, read from the package's pickles (seconds)."""
    saved = _package_dir() / "saved_model"
    with bz2.open(saved / "classifier_naive_bayes_compressed.pbz2") as raw:
        classifier = _ModelReader(raw).load()
    with bz2.open(saved / "ngram_vectorized_compressed.pbz2") as raw:
        vectorizer = _ModelReader(raw).load()
    negative, positive = (list(map(float, row)) for row in classifier.feature_log_prob_)
    prior = float(classifier.class_log_prior_[1] - classifier.class_log_prior_[0])
    weights = {
        str(ngram): round(positive[index] - negative[index], 5)
        for ngram, index in vectorizer.vocabulary_.items()
    }
    return {"prior": prior, "ngrams": list(vectorizer.ngram_range), "weights": weights}


def prepare() -> Path:
    """Extract the table once for this environment; returns its path."""
    path = table_path()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".tmp")
        partial.write_text(json.dumps(extract(), ensure_ascii=False), encoding="utf-8")
        partial.replace(path)
    return path


@lru_cache(maxsize=1)
def naive_bayes() -> NaiveBayesTable:
    try:
        found = json.loads(table_path().read_text(encoding="utf-8"))
    except FileNotFoundError:
        log.warning(
            "the Spanish sentiment table is not prepared (%s): reading the model now "
            "(a few seconds); `make install` prepares it",
            table_path(),
        )
        try:
            found = json.loads(prepare().read_text(encoding="utf-8"))
        except OSError:  # a read-only environment: keep it in memory
            found = extract()
    return NaiveBayesTable(found["weights"], found["prior"], tuple(found["ngrams"]))


class SpanishAnalyzer:
    """VADER's interface (``polarity_scores(text)["compound"]`` and a
    ``lexicon`` of word valences) for Spanish: the naive Bayes log-odds,
    moved by the service words of Feedbot's Spanish lexicon (a word after a
    negation within three words counts the other way)."""

    def __init__(self) -> None:
        self.model = naive_bayes()
        self.lexicon: dict[str, float] = {}

    def polarity_scores(self, text: str) -> dict[str, float]:
        lowered = text.lower()
        total = NAIVE_BAYES_WEIGHT * self.model.log_odds(lowered)
        words = _TOKEN.findall(lowered)
        for index, word in enumerate(words):
            valence = self.lexicon.get(word)
            if valence:
                before = words[max(0, index - _NEGATION_REACH) : index]
                if any(w in NEGATIONS for w in before):
                    valence *= NEGATED
                total += VALENCE_WEIGHT * valence
        return {"compound": math.tanh(total / LOG_ODDS_SCALE)}


if __name__ == "__main__":
    print(f"Spanish sentiment table: {prepare()}")
