"""Did an improvement work, and which themes are emerging
(docs/closing-the-loop.md).

Both compare the share of answers with a reason that mention a theme, with
intervals; NPS comes from the report's arithmetic (feedbot.nps).
- An improvement: equal windows before and after its day (each as long as
  the days since, at most its lookback), the theme's share of reasons and
  the NPS in its scope, each with a 95% interval. A change is called only
  when the two intervals do not overlap.
- Emerging: a theme whose share this week is above its share over the
  trailing 8 weeks by a one-sided binomial test at 1%, with at least
  ``MIN_EMERGING`` mentions this week.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session

from analytics.query import Scope
from feedbot.nps import Z95, NpsEstimate
from feedbot.store.models import Improvement, Response, ResponseTheme, Survey

MIN_EMERGING = 5
EMERGING_P = 0.01
TRAILING_WEEKS = 8


def wilson(hits: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """The Wilson score interval of a share (good for small samples and shares
    near 0 or 1, where the normal one is not)."""
    if n == 0:
        return None
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    margin = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - margin), min(1.0, centre + margin)


def binomial_upper_tail(k: int, n: int, p: float) -> float:
    """P(X ≥ k) for X ~ Binomial(n, p), summed in log space (exact)."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    if p <= 0:
        return 0.0
    if p >= 1:
        return 1.0
    log_p, log_q = math.log(p), math.log1p(-p)
    terms = [
        math.lgamma(n + 1)
        - math.lgamma(i + 1)
        - math.lgamma(n - i + 1)
        + i * log_p
        + (n - i) * log_q
        for i in range(k, n + 1)
    ]
    top = max(terms)
    return min(1.0, math.exp(top) * sum(math.exp(t - top) for t in terms))


@dataclass(frozen=True)
class ReasonShares:
    """Answers with a reason in a window, and how many mention each theme."""

    reasons: int
    mentions: dict[str, int]
    nps: NpsEstimate

    def share(self, theme: str) -> float | None:
        return self.mentions.get(theme, 0) / self.reasons if self.reasons else None


def reason_shares(conn: Connection, scope: Scope) -> ReasonShares:
    with_reason = (
        select(func.count())
        .select_from(Survey)
        .join(Response, Response.survey_id == Survey.id)
        .where(Response.reason.is_not(None), *scope.conditions())
    )
    scores = select(
        func.count(Survey.score),
        func.count().filter(Survey.score >= 9),
        func.count().filter(Survey.score <= 6),
    ).where(*scope.conditions())
    mentions = (
        select(ResponseTheme.theme, func.count())
        .where(*scope.conditions(ResponseTheme))
        .group_by(ResponseTheme.theme)
    )
    n, promoters, detractors = conn.execute(scores).one()
    return ReasonShares(
        int(conn.scalar(with_reason) or 0),
        {theme: int(count) for theme, count in conn.execute(mentions)},
        NpsEstimate(int(n), int(promoters), int(detractors)),
    )


def _window(conn: Connection, base: Scope, since: date, until: date) -> ReasonShares:
    return reason_shares(
        conn,
        Scope(since, until, base.touchpoint, base.location).within(
            base.allowed_touchpoints, base.allowed_locations
        ),
    )


def _compare(
    before: tuple[float | None, tuple[float, float] | None],
    after: tuple[float | None, tuple[float, float] | None],
) -> str:
    """'fell', 'rose' or 'no clear change' (intervals overlap, or unknown)."""
    (_, b), (_, a) = before, after
    if a is None or b is None:
        return "not yet measurable"
    if a[1] < b[0]:
        return "fell"
    if a[0] > b[1]:
        return "rose"
    return "no clear change"


def improvement_effect(conn: Connection, improvement: Improvement, today: date) -> dict[str, Any]:
    """The theme's share of reasons and the NPS, before and after."""
    day = improvement.created_at.date()
    days = min(improvement.lookback_days, (today - day).days)
    scope = Scope(touchpoint=improvement.touchpoint, location=improvement.location)
    found: dict[str, Any] = {"window_days": max(days, 0)}
    if days < 1:
        found.update(
            before=None, after=None, theme_share_change="not yet measurable", nps_change=None
        )
        return found
    before = _window(conn, scope, day - timedelta(days=days), day - timedelta(days=1))
    after = _window(conn, scope, day, day + timedelta(days=days - 1))

    def figures(window: ReasonShares) -> dict[str, Any]:
        hits = window.mentions.get(improvement.theme, 0)
        share, interval = window.share(improvement.theme), wilson(hits, window.reasons)
        nps_interval = window.nps.interval()
        return {
            "reasons": window.reasons,
            "mentions": hits,
            "theme_share": share,
            "theme_share_low": interval[0] if interval else None,
            "theme_share_high": interval[1] if interval else None,
            "responses": window.nps.responses,
            "nps": window.nps.nps,
            "nps_low": nps_interval[0] if nps_interval else None,
            "nps_high": nps_interval[1] if nps_interval else None,
        }

    b, a = figures(before), figures(after)

    def pair(row: dict[str, Any], name: str) -> tuple[float | None, tuple[float, float] | None]:
        low, high = row[f"{name}_low"], row[f"{name}_high"]
        return row[name], (low, high) if low is not None and high is not None else None

    found.update(
        before={"since": (day - timedelta(days=days)).isoformat(), **b},
        after={"since": day.isoformat(), **a},
        theme_share_change=_compare(pair(b, "theme_share"), pair(a, "theme_share")),
        nps_change=_compare(pair(b, "nps"), pair(a, "nps")),
    )
    return found


def improvements_in(conn: Connection, scope: Scope) -> list[Improvement]:
    """Improvements whose place is within the scope's (an improvement for
    every location counts in a location's scope too)."""
    query = select(Improvement).order_by(Improvement.created_at.desc())
    with Session(bind=conn) as session:
        rows = list(session.scalars(query))

    def inside(value: str | None, only: str | None, allowed: tuple[str, ...] | None) -> bool:
        if only is not None and value not in (None, only):
            return False
        return allowed is None or value is None or value in allowed

    return [
        i
        for i in rows
        if inside(i.touchpoint, scope.touchpoint, scope.allowed_touchpoints)
        and inside(i.location, scope.location, scope.allowed_locations)
    ]


def improvement_rows(conn: Connection, scope: Scope, today: date) -> list[dict[str, Any]]:
    return [
        {
            "improvement_id": i.id,
            "theme": i.theme,
            "touchpoint": i.touchpoint,
            "location": i.location,
            "title": i.title,
            "created_at": i.created_at.isoformat(),
            "recipients": i.recipients,
            "effect": improvement_effect(conn, i, today),
        }
        for i in improvements_in(conn, scope)
    ]


def emerging_themes(conn: Connection, scope: Scope, week_start: date) -> list[dict[str, Any]]:
    """Themes significantly more frequent in the week from ``week_start``
    than in the 8 weeks before it (one-sided binomial test at 1%)."""
    week = _window(conn, scope, week_start, week_start + timedelta(days=6))
    trailing = _window(
        conn, scope, week_start - timedelta(weeks=TRAILING_WEEKS), week_start - timedelta(days=1)
    )
    found = []
    for theme, hits in week.mentions.items():
        if hits < MIN_EMERGING or not week.reasons:
            continue
        # Laplace's rule: a theme never seen before is not certain to be absent.
        baseline = (trailing.mentions.get(theme, 0) + 1) / (trailing.reasons + 2)
        p_value = binomial_upper_tail(hits, week.reasons, baseline)
        if p_value < EMERGING_P:
            found.append(
                {
                    "theme": theme,
                    "mentions": hits,
                    "reasons": week.reasons,
                    "share": hits / week.reasons,
                    "trailing_share": trailing.share(theme) or 0.0,
                    "trailing_reasons": trailing.reasons,
                    "p_value": p_value,
                }
            )
    return sorted(found, key=lambda r: r["p_value"])
