"""The languages Feedbot speaks, and how a survey's locale is read.

A survey keeps the locale it was given ("es-MX"); what it is spoken in is
that tag's language ("es"), when Feedbot has it. English is the default and
the fallback."""

from __future__ import annotations

import re
from collections.abc import Sequence

DEFAULT = "en"
LANGUAGES = ("en", "es")
NAMES = {"en": "English", "es": "Spanish"}
# Where Spanish is the language people expect a text in: Spain and the
# Spanish-speaking countries of Latin America (ISO 3166 regions).
SPANISH_REGIONS = frozenset(
    "ES MX AR CO CL PE VE EC GT CU BO DO HN PY SV NI CR PA UY PR GQ".split()
)
_TAG = re.compile(r"^([A-Za-z]{2,3})(?:[-_]([A-Za-z0-9]{2,8}))*$")


class UnknownLocale(ValueError):
    """A locale Feedbot does not speak; the message says which it does."""


def rasa_url_variable(language: str) -> str:
    """The setting that lists a language's Rasa instances (RASA_URL_ES)."""
    return "RASA_URL" if language == DEFAULT else f"RASA_URL_{language.upper()}"


def normalised(tag: str, spoken: Sequence[str] = LANGUAGES) -> str:
    """A BCP 47 tag as stored ("es_mx" -> "es-MX"); raises UnknownLocale,
    also for a language Feedbot knows that this deployment does not run
    (``spoken``: the languages with a Rasa model running)."""
    tag = tag.strip()
    if not _TAG.match(tag):
        raise UnknownLocale(f"{tag!r} is not a language tag such as en, es or es-MX.")
    parts = re.split(r"[-_]", tag)
    language = parts[0].lower()
    if language not in LANGUAGES:
        raise UnknownLocale(
            f"Feedbot does not speak {tag!r}; use one of {', '.join(LANGUAGES)} "
            "(a tag like es-MX is fine)."
        )
    if language not in spoken:
        raise UnknownLocale(
            f"This Feedbot does not run its {NAMES[language]} bot: set "
            f"{rasa_url_variable(language)} to its Rasa instances (`feedbot run` starts every "
            f"language); it speaks {', '.join(spoken)}."
        )
    rest = [p.upper() if len(p) == 2 else p for p in parts[1:]]
    return "-".join([language, *rest])


def language_of(tag: str | None) -> str:
    """The language a survey with this locale is spoken in."""
    if not tag:
        return DEFAULT
    language = re.split(r"[-_]", tag.strip())[0].lower()
    return language if language in LANGUAGES else DEFAULT


def for_region(region: str | None) -> str | None:
    """The language of a number's country, when it is not the default."""
    return "es" if region and region.upper() in SPANISH_REGIONS else None
