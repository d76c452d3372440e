"""Tagging the themes of a reason with spaCy and an editable taxonomy.

A blank English pipeline (no model download): the tokenizer, then one
component that sets each token's NORM to its dictionary form (spaCy's lookup
lemmas from spacy-lookups-data), with one-letter typos of taxonomy words
corrected. The taxonomy's phrases are matched on NORM with a PhraseMatcher,
its token patterns with a Matcher. Format: docs/themes.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import spacy
import spacy_lookups_data
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from spacy.lang.es.stop_words import STOP_WORDS as SPANISH_STOP_WORDS
from spacy.language import Language
from spacy.lookups import load_lookups
from spacy.matcher import Matcher, PhraseMatcher
from spacy.tokens import Doc
from spacy.util import load_language_data

from feedbot.customer_text import without_accents as plain
from feedbot.customer_text import without_symbols
from feedbot.locales import LANGUAGES
from feedbot.understanding.vocabulary import TypoCorrector
from feedbot.validation import DuplicateKey, describe, load_yaml

THEME_ID = r"^[a-z][a-z0-9_]*$"
_TEXT_ATTRS = {"NORM", "LOWER", "LEMMA", "TEXT", "ORTH"}


class ThemeWords(BaseModel):
    """A theme's words in one language."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    phrases: list[str] = Field(default_factory=list)
    patterns: list[list[dict[str, Any]]] = Field(default_factory=list)
    except_: list[str] = Field(default_factory=list, alias="except")


class ThemeSpec(BaseModel):
    """A theme: its label, its English words, and its words in each other
    language (``es:``). The ids and labels are shared, so reports compare
    languages."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    label: str = Field(min_length=1)
    phrases: list[str] = Field(default_factory=list)
    # Classes of nouns from WordNet (word_classes.yml), e.g. [food, drink]:
    # every word of the class counts as a phrase of this theme.
    word_classes: list[str] = Field(default_factory=list)
    patterns: list[list[dict[str, Any]]] = Field(default_factory=list)
    except_: list[str] = Field(default_factory=list, alias="except")
    es: ThemeWords | None = None

    def words(self, language: str) -> ThemeWords:
        """The phrases, patterns and exceptions that tag this theme in a language."""
        if language == "en":
            return ThemeWords(phrases=self.phrases, patterns=self.patterns, except_=self.except_)
        return getattr(self, language, None) or ThemeWords()


class Taxonomy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    themes: dict[str, ThemeSpec] = Field(min_length=1)


class TaxonomyError(ValueError):
    """The theme file is missing, not YAML, or does not follow the format."""


def load_taxonomy(path: Path) -> Taxonomy:
    try:
        raw = load_yaml(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TaxonomyError(f"{path}: theme file not found (set FEEDBOT_THEMES)") from None
    except DuplicateKey as exc:
        raise TaxonomyError(f"{path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise TaxonomyError(f"{path}: not valid YAML: {exc}") from None
    try:
        taxonomy = Taxonomy.model_validate(raw)
    except ValidationError as exc:
        problems = describe(exc)
        raise TaxonomyError(f"{path}: {problems}") from None
    for theme, spec in taxonomy.themes.items():
        patterns = [
            (f"{'' if language == 'en' else language + '.'}patterns.{index}", pattern)
            for language in LANGUAGES
            for index, pattern in enumerate(spec.words(language).patterns)
        ]
        for place, pattern in patterns:
            for token in pattern:
                for attr, value in token.items():
                    if isinstance(value, dict):  # {IN: [...]}, {NOT_IN: [...]}
                        listed = [v for vs in value.values() if isinstance(vs, list) for v in vs]
                        value = next((v for v in listed if isinstance(v, bool)), None)
                    if isinstance(value, bool) and attr.upper() in _TEXT_ATTRS:
                        raise TaxonomyError(
                            f"{path}: themes.{theme}.{place}: {attr} is {value}, "
                            'not a word: YAML reads no/yes/on/off as false/true, so quote it ("no")'
                        )
        if not spec.phrases and not spec.patterns and not spec.word_classes:
            raise TaxonomyError(f"{path}: themes.{theme}: needs phrases, patterns or word_classes")
        known = word_classes()
        for index, name in enumerate(spec.word_classes):
            if name not in known:
                raise TaxonomyError(
                    f"{path}: themes.{theme}.word_classes.{index}: no word class {name!r}; "
                    f"there are {', '.join(sorted(known))} (feedbot/understanding/word_classes.yml)"
                )
        if not re.match(THEME_ID, theme):
            raise TaxonomyError(f"{path}: themes.{theme}: ids are lower case, digits and _")
    return taxonomy


WORD_CLASSES = Path(__file__).with_name("word_classes.yml")


@lru_cache(maxsize=1)
def word_classes() -> dict[str, list[str]]:
    """The noun classes taken from WordNet 3.0 (tools/wordnet_word_classes.py)."""
    return yaml.safe_load(WORD_CLASSES.read_text(encoding="utf-8"))["classes"]


@lru_cache(maxsize=1)
def _lemmas() -> Any:
    return load_lookups("en", ["lemma_lookup"]).get_table("lemma_lookup")


@lru_cache(maxsize=1)
def _spanish_lemmas() -> tuple[dict[str, str], frozenset[str]]:
    """Spanish lookup lemmas, also by the word without its accents (customers
    often type "envio", "atencion"), and the dictionary's headwords."""
    table: dict[str, str] = load_language_data(spacy_lookups_data.es["lemma_lookup"])
    # Only the accent-free spellings the table lacks are added (one string
    # each, not a second copy of every word).
    bare: dict[str, str] = {}
    for word, lemma in table.items():
        without = plain(word)
        if without != word and without not in table:
            bare[without] = lemma
    found = table | bare
    # A noun's or adjective's headword: its plural leads to it ("comidas" is
    # "comida"). (A bare "is some form's lemma" takes in verb forms too.)
    headwords = frozenset(
        word
        for word in set(table.values())
        if table.get(word + "s") == word or table.get(word + "es") == word
    )
    return found, headwords | {plain(w) for w in headwords}


def dictionary_form(word: str, language: str = "en") -> str:
    lower = word.lower()
    if language == "en":
        return _lemmas().get(lower, lower)
    return plain(_spanish_form(lower))


def _function_word(word: str) -> bool:
    """A Spanish stop word that is no verb form: spaCy's list holds some
    ("llegó", "está"), which end in an accented vowel, as no function word does
    but "más" and the like (which are their own lemma anyway)."""
    return word in SPANISH_STOP_WORDS and word[-1] not in "áéíóú"


def _spanish_form(word: str) -> str:
    """A Spanish word's dictionary form. The lookup table alone joins words
    that are not one ("comida" and "como" both become "comer", "vino" becomes
    "venir"): a function word or a headword stays as it is, and a plural
    of a headword becomes it ("empleados" is "empleado", not "emplear");
    other forms take their lemma ("llegó" is "llegar")."""
    lemmas, headwords = _spanish_lemmas()
    if word in headwords or _function_word(word):  # "como" is not "comer"
        return word
    for ending in ("es", "s"):
        if word.endswith(ending) and word[: -len(ending)] in headwords:
            return word[: -len(ending)]
    return lemmas.get(word, word)


class ThemeTagger:
    def __init__(self, taxonomy: Taxonomy, source: str = "themes", language: str = "en") -> None:
        self.themes = list(taxonomy.themes)
        self.language = language
        self._nlp = spacy.blank(language)
        self._typos: TypoCorrector | None = None
        self._nlp.add_pipe("feedbot_norm", config={})
        self._nlp.get_pipe("feedbot_norm").tagger = self  # type: ignore[attr-defined]
        words = {theme: spec.words(language) for theme, spec in taxonomy.themes.items()}
        phrases = {theme: [p for p in w.phrases if p.strip()] for theme, w in words.items()}
        # Typos are corrected towards the words the taxonomy looks for.
        targets = {
            dictionary_form(w, language) for ps in phrases.values() for p in ps for w in p.split()
        }
        self._typos = TypoCorrector(targets, min_length=5, language=language)
        self._phrases = PhraseMatcher(self._nlp.vocab, attr="NORM")
        self._exceptions = PhraseMatcher(self._nlp.vocab, attr="NORM")
        self._patterns = Matcher(self._nlp.vocab)
        for theme, spec in taxonomy.themes.items():
            own = words[theme]
            if phrases[theme]:
                self._phrases.add(theme, list(self._nlp.pipe(phrases[theme])))
            # Word-class words (WordNet: English) are matched as written (no
            # typo correction towards thousands of food names).
            class_words = [w for name in spec.word_classes for w in word_classes()[name]]
            if class_words and language == "en":
                self._phrases.add(theme, [self._as_written(w) for w in class_words])
            if own.except_:
                self._exceptions.add(theme, list(self._nlp.pipe(own.except_)))
            where = "" if language == "en" else f"{language}."
            for index, pattern in enumerate(own.patterns):
                try:
                    self._patterns.add(theme, [pattern])
                except Exception as exc:  # spaCy names the problem in the pattern
                    raise TaxonomyError(
                        f"{source}: themes.{theme}.{where}patterns.{index}: {exc}"
                    ) from None

    def _as_written(self, phrase: str) -> Doc:
        """A word-class phrase as written (WordNet gives base forms): neither
        typo-corrected nor lemmatised, which would turn the noun "feed" into
        "fee" and "stuffing" into "stuff". "bagels" in a reason still matches
        "bagel": the reason's words are lemmatised."""
        doc = self._nlp.make_doc(phrase)
        for token in doc:
            token.norm_ = token.lower_
        return doc

    def normalise(self, doc: Doc) -> Doc:
        language = self.language
        for token in doc:
            form = dictionary_form(token.text, language)
            corrected = self._typos.correct(token.lower_) if self._typos else None
            token.norm_ = dictionary_form(corrected, language) if corrected else form
        return doc

    def tag(self, text: str) -> list[str]:
        return next(self.tag_many([text]))

    def tag_many(self, texts: Iterable[str], batch_size: int = 512) -> Iterator[list[str]]:
        for tagged in self.read_many(texts, batch_size):
            yield tagged.themes

    def explain_many(
        self, texts: Iterable[str], batch_size: int = 512
    ) -> Iterator[dict[str, list[str]]]:
        """Each text's themes, in taxonomy order, with the words of the text
        that made each one (as the customer wrote them)."""
        for tagged in self.read_many(texts, batch_size):
            yield tagged.because

    def read_many(self, texts: Iterable[str], batch_size: int = 512) -> Iterator[TaggedText]:
        """Each text as spaCy read it, with the accepted theme matches."""
        for doc in self._docs(texts, batch_size):
            matches = sorted(self._accepted(doc), key=lambda m: m[1:])
            yield TaggedText(doc, matches, self.themes)

    def _docs(self, texts: Iterable[str], batch_size: int) -> Iterator[Doc]:
        cleaned = (without_symbols(text) for text in texts)
        return self._nlp.pipe(cleaned, batch_size=batch_size)

    def _accepted(self, doc: Doc) -> Iterator[tuple[str, int, int]]:
        """(theme, start, end) of each phrase or pattern match that no
        exception of its theme overlaps."""
        vocab = self._nlp.vocab.strings
        excluded: dict[str, list[tuple[int, int]]] = {}
        for match_id, start, end in self._exceptions(doc):
            excluded.setdefault(vocab[match_id], []).append((start, end))
        for match_id, start, end in [*self._phrases(doc), *self._patterns(doc)]:
            theme = vocab[match_id]
            if not any(s < end and start < e for s, e in excluded.get(theme, [])):
                yield theme, start, end


class TaggedText:
    """A text's tokens and the theme matches found in it, in text order."""

    __slots__ = ("_order", "doc", "matches")

    def __init__(self, doc: Doc, matches: list[tuple[str, int, int]], order: list[str]) -> None:
        self.doc = doc
        self.matches = matches  # (theme, first token, end token)
        self._order = order

    @property
    def themes(self) -> list[str]:
        """The themes found, in taxonomy order."""
        found = {theme for theme, _, _ in self.matches}
        return [t for t in self._order if t in found]

    @property
    def because(self) -> dict[str, list[str]]:
        """Per theme (taxonomy order), the words that matched, as written,
        each once, in text order."""
        found: dict[str, list[str]] = {}
        for theme, start, end in self.matches:
            if any(
                t == theme and s <= start and end <= e and (s, e) != (start, end)
                for t, s, e in self.matches
            ):
                continue  # "park" inside "car park": the longer words say it
            words = found.setdefault(theme, [])
            if self.doc[start:end].text not in words:
                words.append(self.doc[start:end].text)
        return {t: found[t] for t in self._order if t in found}


@Language.factory("feedbot_norm")
def _make_norm(nlp: Language, name: str) -> _Norm:
    return _Norm()


class _Norm:
    """Pipeline component: hands each doc to its ThemeTagger to set NORMs."""

    tagger: ThemeTagger

    def __call__(self, doc: Doc) -> Doc:
        return self.tagger.normalise(doc)
