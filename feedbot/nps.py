"""Net Promoter Score arithmetic: the category of one score."""

from __future__ import annotations

from enum import StrEnum


class Category(StrEnum):
    DETRACTOR = "detractor"
    PASSIVE = "passive"
    PROMOTER = "promoter"


def category_of(score: int) -> Category:
    """0–6 detract, 7–8 are passive, 9–10 promote (the standard NPS bands)."""
    if not 0 <= score <= 10:
        raise ValueError(f"an NPS score is 0–10, not {score}")
    if score <= 6:
        return Category.DETRACTOR
    if score <= 8:
        return Category.PASSIVE
    return Category.PROMOTER
