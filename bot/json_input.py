"""Reading JSON that clients send (API bodies, widget frames) with limits:
nesting depth and valid Unicode, checked before anything else sees it.

Python's JSON parser recurses once per level, so a body nested a thousand
deep raised RecursionError (a 500); a lone surrogate ("\\ud800") parsed into
a string that no database or socket can encode. Both are refused with a
message for the sender.
"""

from __future__ import annotations

import json
import re
from typing import Any

# Far deeper than any request Feedbot takes (two levels), far shallower than
# the parser's recursion limit.
MAX_DEPTH = 32
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


class InputRefused(ValueError):
    """Client JSON that is refused; the message says why, for the sender."""


def nesting_depth(text: str) -> int:
    """How deeply arrays and objects nest in JSON text (brackets inside
    strings do not count). Malformed text gives some number; the parser
    refuses it afterwards."""
    depth = deepest = 0
    for bracket in _BRACKET.finditer(_STRING.sub('""', text)):
        if bracket.group() in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def read_json(text: str | bytes, max_depth: int = MAX_DEPTH) -> Any:
    """The value of JSON text, or InputRefused with a message for the sender."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise InputRefused("The JSON must be UTF-8 text.") from None
    if nesting_depth(text) > max_depth:
        raise InputRefused(f"The JSON nests deeper than {max_depth} levels.")
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        raise InputRefused("That was not valid JSON.") from None
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise InputRefused(
            "The JSON has text that is not valid Unicode (a lone surrogate such as \\ud800)."
        ) from None
    return value
