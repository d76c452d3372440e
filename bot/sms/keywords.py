"""Carrier keywords (case-, accent- and whitespace-insensitive), before
anything else: English and Spanish, whatever the survey's language (a
customer may answer a Spanish survey with STOP, or an English one with BAJA)."""

from __future__ import annotations

from enum import StrEnum

from feedbot.customer_text import without_accents

# Messages longer than this are split; Twilio accepts up to 1600 characters.
MAX_SMS_CHARS = 1600


class Keyword(StrEnum):
    STOP = "stop"
    START = "start"
    HELP = "help"


_SPANISH = {
    **dict.fromkeys(["BAJA", "PARAR", "CANCELAR", "ALTO"], Keyword.STOP),
    **dict.fromkeys(["ALTA", "COMENZAR"], Keyword.START),
    **dict.fromkeys(["AYUDA"], Keyword.HELP),
}
_KEYWORDS = {
    **dict.fromkeys(["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"], Keyword.STOP),
    **dict.fromkeys(["START", "UNSTOP"], Keyword.START),
    **dict.fromkeys(["HELP", "INFO"], Keyword.HELP),
    **_SPANISH,
}
# Opt an opted-out number back in; to anyone else an ordinary answer.
_YES = frozenset({"YES", "SI"})


def keyword_of(body: str, opted_out: bool) -> Keyword | None:
    """The keyword a whole message is, if any. YES (or SÍ) opts back in only
    a number that has opted out; to anyone else it is an ordinary answer."""
    word = _word(body)
    if word in _YES and opted_out:
        return Keyword.START
    return _KEYWORDS.get(word)


def keyword_language(body: str) -> str | None:
    """ "es" for a Spanish keyword (BAJA, AYUDA, SÍ…): its answer is in Spanish."""
    word = _word(body)
    return "es" if word in _SPANISH or word == "SI" else None


def _word(body: str) -> str:
    return without_accents(" ".join(body.split()).upper().strip(".!¡"))


def sms_parts(text: str, limit: int = MAX_SMS_CHARS) -> list[str]:
    """Split a long message at word boundaries into parts Twilio accepts."""
    text = text.strip()
    parts: list[str] = []
    while len(text) > limit:
        cut = text.rfind(" ", 0, limit)
        cut = cut if cut > limit // 2 else limit
        parts.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    return [*parts, text] if text else parts
