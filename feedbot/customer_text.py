"""Customer text on its way to Rasa and back.

Rasa reads a message that starts with "/" as an intent (``/restart``), so a
customer could steer the bot by typing one. The app prefixes such text with a
zero-width space, which Rasa's strip() keeps, and actions remove it before
storing anything. Limits on length live here too, for every channel.
"""

from __future__ import annotations

import re
import unicodedata

GUARD = "\u200b"
MAX_MESSAGE_CHARS = 2000


def guard(text: str) -> str:
    return GUARD + text if text.lstrip().startswith("/") else text


def unguard(text: str) -> str:
    return text.strip().removeprefix(GUARD).strip()


# Markup and symbols glue words together ("<b>queue</b>"); for reading only,
# never for storing.
_SYMBOLS = re.compile(r"[<>\[\]{}|\\/_*#=~^`]+")
# Web addresses and @handles name things, they say nothing about them: a
# handle's words ("@united", "@HappyHomes") are not the customer's opinion.
# An e-mail address ("jo@example.com") is not a handle.
_ADDRESSES = re.compile(r"\b(?:https?://|www\.)\S+|(?<![\w.@])@\w+")


def without_symbols(text: str) -> str:
    """The words of a text, for reading: markup, symbols, web addresses and
    @handles become spaces."""
    return _SYMBOLS.sub(" ", _ADDRESSES.sub(" ", text))


def without_accents(text: str) -> str:
    """As customers often type it: "atención" is "atencion", "SÍ" is "SI"
    (ñ is a letter of its own, and stays)."""
    kept = text.replace("ñ", "\0").replace("Ñ", "\1")
    decomposed = unicodedata.normalize("NFKD", kept)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return bare.replace("\0", "ñ").replace("\1", "Ñ")


# An e-mail address written in a reason ("mail me at jo@example.com").
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
MASK = "[hidden]"


def mask_contacts(text: str, region: str = "GB") -> str:
    """The text with phone numbers and e-mail addresses replaced, for people
    who read customers' words but must not contact them (owners' alerts and
    digests). Phone numbers are found by phonenumbers' matcher (written with
    or without a country code; ``region`` reads the latter).
    """
    import phonenumbers

    text = _EMAIL.sub(MASK, text)
    # POSSIBLE (not VALID): a number from a reserved range is still hidden.
    # Fewer than 9 digits without a "+" is more likely an order number or a
    # year than a phone number.
    found = [
        match
        for match in phonenumbers.PhoneNumberMatcher(
            text, region, leniency=phonenumbers.Leniency.POSSIBLE
        )
        if match.raw_string.startswith("+") or sum(c.isdigit() for c in match.raw_string) >= 9
    ]
    for match in reversed(found):
        text = text[: match.start] + MASK + text[match.end :]
    return text
