"""Turning pydantic's validation errors into one line a person can act on."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError


def describe(exc: ValidationError, top: str = "(top level)") -> str:
    """'touchpoints.1.about: Field required; locations: ...' (places count from 0)."""
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or top}: {err['msg'].removeprefix('Value error, ')}"
        for err in exc.errors()
    )


def time_zone_name(value: str) -> str:
    """A pydantic validator: an IANA time zone name this machine knows."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (use an IANA name)") from None
    return value
