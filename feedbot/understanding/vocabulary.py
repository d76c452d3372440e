"""Which words are real (English or Spanish), and the one-edit typos of words we look for.

The word list is spaCy's English lexeme probabilities (spacy-lookups-data,
no download at run time): a word seen often enough in a large corpus is real,
so "fine" is never "corrected" to "five"; "sevn" and "delivry" are typos.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

import spacy_lookups_data
from spacy.util import load_language_data

# Log probability above which a word counts as real English (typos such as
# "staf" or "nien" sit far below; rare real words a little above).
KNOWN_WORD_LOG_PROB = -14.5


# Of two typo candidates, the more common wins when it is this much more likely
# (log probability), as a person reading the typo would guess.
CLEARLY_MORE_COMMON = 1.0


@lru_cache(maxsize=4)
def known_words(language: str = "en") -> dict[str, float]:
    """Real words of a language ("en", "es") and their log probabilities."""
    tables = getattr(spacy_lookups_data, language)
    probs: dict[str, float] = load_language_data(tables["lexeme_prob"])
    return {w: p for w, p in probs.items() if p >= KNOWN_WORD_LOG_PROB and w.isalpha()}


def is_known(word: str, language: str = "en") -> bool:
    return word in known_words(language)


def _one_edit_keys(word: str) -> set[str]:
    """The word with one letter deleted, at each place (a symmetric-delete index)."""
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


class TypoCorrector:
    """Maps an unknown word to the one target word it is one edit away from
    (insertion, deletion, substitution or swap of neighbours), if exactly one."""

    def __init__(self, targets: Iterable[str], min_length: int = 4, language: str = "en") -> None:
        self.min_length = min_length
        self.language = language
        self._targets = {t for t in targets if len(t) >= min_length}
        self._by_key: dict[str, set[str]] = {}
        for target in self._targets:
            for key in {target} | _one_edit_keys(target):
                self._by_key.setdefault(key, set()).add(target)

    def correct(self, word: str) -> str | None:
        if len(word) < self.min_length or word in self._targets or is_known(word, self.language):
            return None
        found: set[str] = set()
        for key in {word} | _one_edit_keys(word):
            for target in self._by_key.get(key, ()):
                if _within_one_edit(word, target):
                    found.add(target)
        if len(found) <= 1:
            return found.pop() if found else None
        return _clearly_most_common(found, self.language)


def _clearly_most_common(words: set[str], language: str) -> str | None:
    probs = known_words(language)
    ranked = sorted(words, key=lambda w: probs.get(w, KNOWN_WORD_LOG_PROB - 10), reverse=True)
    best, runner_up = (probs.get(w, KNOWN_WORD_LOG_PROB - 10) for w in ranked[:2])
    return ranked[0] if best - runner_up >= CLEARLY_MORE_COMMON else None


def _within_one_edit(a: str, b: str) -> bool:
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diffs = [i for i in range(len(a)) if a[i] != b[i]]
        if len(diffs) == 1:
            return True
        i, j = diffs[0], diffs[-1]
        return len(diffs) == 2 and j == i + 1 and a[i] == b[j] and a[j] == b[i]
    short, long = (a, b) if len(a) < len(b) else (b, a)
    return any(long[:i] + long[i + 1 :] == short for i in range(len(long)))
