"""Turning pydantic's validation errors into one line a person can act on."""

from __future__ import annotations

from pydantic import ValidationError


def describe(exc: ValidationError, top: str = "(top level)") -> str:
    """'touchpoints.1.about: Field required; locations: ...' (places count from 0)."""
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or top}: {err['msg'].removeprefix('Value error, ')}"
        for err in exc.errors()
    )
