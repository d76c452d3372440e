"""Customer text on its way to Rasa and back.

Rasa reads a message that starts with "/" as an intent (``/restart``), so a
customer could steer the bot by typing one. The app prefixes such text with a
zero-width space, which Rasa's strip() keeps, and actions remove it before
storing anything. Limits on length live here too, for every channel.
"""

from __future__ import annotations

import re

GUARD = "\u200b"
MAX_MESSAGE_CHARS = 2000


def guard(text: str) -> str:
    return GUARD + text if text.lstrip().startswith("/") else text


def unguard(text: str) -> str:
    return text.strip().removeprefix(GUARD).strip()


# Markup and symbols glue words together ("<b>queue</b>"); for reading only,
# never for storing.
_SYMBOLS = re.compile(r"[<>\[\]{}|\\/_*#=~^`]+")


def without_symbols(text: str) -> str:
    return _SYMBOLS.sub(" ", text)
