"""Net Promoter Score arithmetic: the category of one score, and the NPS of
a sample with its confidence interval."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum


class Category(StrEnum):
    DETRACTOR = "detractor"
    PASSIVE = "passive"
    PROMOTER = "promoter"


# The highest score that detracts.
DETRACTOR_AT_MOST = 6


def category_of(score: int) -> Category:
    """0–6 detract, 7–8 are passive, 9–10 promote (the standard NPS bands)."""
    if not 0 <= score <= 10:
        raise ValueError(f"an NPS score is 0–10, not {score}")
    if score <= DETRACTOR_AT_MOST:
        return Category.DETRACTOR
    if score <= 8:
        return Category.PASSIVE
    return Category.PROMOTER


# z for a two-sided 95% interval.
Z95 = 1.959963984540054


@dataclass(frozen=True)
class NpsEstimate:
    """The NPS of a sample of scores, with its uncertainty.

    Each answer counts +100 (promoter), 0 (passive) or -100 (detractor); the
    NPS is their mean, so its variance is that of a three-valued variable:
    100² · (p_P + p_D − (p_P − p_D)²) / n, with p_P and p_D the promoter and
    detractor shares. The interval is the normal (Wald) one, kept within
    −100…100.
    """

    responses: int
    promoters: int
    detractors: int

    @property
    def passives(self) -> int:
        return self.responses - self.promoters - self.detractors

    def share(self, count: int) -> float | None:
        return count / self.responses if self.responses else None

    @property
    def nps(self) -> float | None:
        if not self.responses:
            return None
        return 100 * (self.promoters - self.detractors) / self.responses

    @property
    def variance(self) -> float | None:
        """The variance of one answer's NPS value (points²)."""
        if not self.responses:
            return None
        p, d = self.promoters / self.responses, self.detractors / self.responses
        return 100**2 * max(0.0, p + d - (p - d) ** 2)

    @property
    def standard_error(self) -> float | None:
        variance = self.variance
        return None if variance is None else math.sqrt(variance / self.responses)

    def interval(self, z: float = Z95) -> tuple[float, float] | None:
        if self.nps is None or self.standard_error is None:
            return None
        margin = z * self.standard_error
        return max(-100.0, self.nps - margin), min(100.0, self.nps + margin)

    def __sub__(self, other: NpsEstimate) -> NpsEstimate:
        """The answers in this sample that are not in ``other`` (a subset of it)."""
        return NpsEstimate(
            self.responses - other.responses,
            self.promoters - other.promoters,
            self.detractors - other.detractors,
        )


@dataclass(frozen=True)
class NpsDifference:
    """How two independent samples' NPS differ, with a 95% interval."""

    difference: float
    standard_error: float

    @property
    def interval(self) -> tuple[float, float]:
        margin = Z95 * self.standard_error
        return self.difference - margin, self.difference + margin

    @property
    def clear(self) -> bool:
        """The interval does not include 0."""
        low, high = self.interval
        return low > 0 or high < 0


def nps_difference(a: NpsEstimate, b: NpsEstimate) -> NpsDifference | None:
    """NPS(a) − NPS(b); None when either sample is empty."""
    if a.nps is None or b.nps is None or a.standard_error is None or b.standard_error is None:
        return None
    return NpsDifference(a.nps - b.nps, math.hypot(a.standard_error, b.standard_error))
