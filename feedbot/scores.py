"""Reading an NPS score (0–10) out of what a customer typed.

A reply holds a score only when it holds exactly one candidate rating and that
candidate is a whole number from 0 to 10. Anything else is ``None`` so the bot
re-asks instead of guessing.
"""

from __future__ import annotations

import re

_WORDS = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
}
# A number token: digits with an optional decimal part or sign, or a number word.
_TOKEN = re.compile(
    r"(?<![\w.])-?\d+(?:[.,]\d+)?(?![\w.]*\d)|\b(?:" + "|".join(_WORDS) + r")\b",
    re.IGNORECASE,
)
# "10/10", "9 out of 10": the second number is the scale, not a second candidate.
_OUT_OF_TEN = re.compile(r"^\s*(\d+)\s*(?:/|out of)\s*10\s*$", re.IGNORECASE)


def parse_score(text: str) -> int | None:
    """Return the single 0–10 score in ``text``, or ``None`` when there is none."""
    stripped = _OUT_OF_TEN.sub(r"\1", text.strip())
    candidates = _TOKEN.findall(stripped)
    if len(candidates) != 1:
        return None
    token = candidates[0].lower()
    if token in _WORDS:
        return _WORDS[token]
    if not token.lstrip("-").isdigit():
        return None  # a decimal such as 9.5 is not a valid rating
    value = int(token)
    return value if 0 <= value <= 10 else None
