"""Reports: per touchpoint, location or both, over a period. Everything is
aggregated in the database (one pass for the counts, one for the medians, one
for the themes), so a report over a million answers reads a few hundred rows.

Definitions (docs/analytics.md):
- responses: surveys with a score; NPS and the shares are over these.
- sent: surveys sent to the customer (an SMS went out, or a web link was made).
- response rate: completed / sent, among surveys that were sent.
- completion rate: completed / surveys the customer began answering (a score
  or a reason given, or declined or left on the way).
- time to answer: from sending (or the start of a widget conversation) to
  the score.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, and_, case, func, or_, select

from analytics.query import Dimension, Interval, Scope, period_start, seconds_between
from feedbot.nps import NpsEstimate, nps_difference
from feedbot.store.models import Response, ResponseTheme, Survey, SurveyState

DEFAULT_MIN_SAMPLE = 30
TOP_THEMES = 3
Key = tuple[str | None, ...]


@dataclass
class Figures:
    """One row of a report: a group, the whole scope, or a period."""

    surveys: int = 0
    sent: int = 0
    completed: int = 0
    completed_of_sent: int = 0
    begun: int = 0
    nps: NpsEstimate = field(default_factory=lambda: NpsEstimate(0, 0, 0))
    median_seconds_to_answer: float | None = None
    top_detractor_themes: list[str] = field(default_factory=list)
    top_promoter_themes: list[str] = field(default_factory=list)

    def as_dict(self, min_sample: int) -> dict[str, Any]:
        nps, interval = self.nps, self.nps.interval()
        return {
            "surveys": self.surveys,
            "sent": self.sent,
            "responses": nps.responses,
            "completed": self.completed,
            "completion_rate": _ratio(self.completed, self.begun),
            "response_rate": _ratio(self.completed_of_sent, self.sent),
            "nps": nps.nps,
            "nps_low": interval[0] if interval else None,
            "nps_high": interval[1] if interval else None,
            "promoters": nps.promoters,
            "passives": nps.passives,
            "detractors": nps.detractors,
            "promoter_share": nps.share(nps.promoters),
            "passive_share": nps.share(nps.passives),
            "detractor_share": nps.share(nps.detractors),
            "median_seconds_to_answer": self.median_seconds_to_answer,
            "top_detractor_themes": self.top_detractor_themes,
            "top_promoter_themes": self.top_promoter_themes,
            "low_sample": nps.responses < min_sample,
        }


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _is(condition: Any) -> Any:
    return case((condition, 1), else_=0)


_PROMOTER = Response.score >= 9
_DETRACTOR = Response.score <= 6
_SENT = Survey.sent_at.isnot(None)
_COMPLETED = Survey.state == SurveyState.COMPLETED


def _columns(dims: tuple[Dimension, ...]) -> list[Any]:
    return [getattr(Survey, d.value) for d in dims]


def _from() -> Any:
    return Survey.__table__.outerjoin(Response, Response.survey_id == Survey.id)


def count_figures(
    conn: Connection, scope: Scope, dims: tuple[Dimension, ...]
) -> dict[Key, Figures]:
    columns = _columns(dims)
    query = (
        select(
            *columns,
            func.count(),
            func.count(Survey.sent_at),
            func.sum(_is(_COMPLETED)),
            func.sum(_is(and_(_COMPLETED, _SENT))),
            func.sum(
                _is(
                    or_(
                        Response.survey_id.isnot(None),
                        Survey.state.in_([SurveyState.DECLINED, SurveyState.LEFT]),
                    )
                )
            ),
            func.count(Response.score),
            func.sum(_is(_PROMOTER)),
            func.sum(_is(_DETRACTOR)),
        )
        .select_from(_from())
        .where(*scope.conditions())
        .group_by(*columns)
    )
    found = {}
    for row in conn.execute(query):
        key = tuple(row[: len(dims)])
        surveys, sent, completed, completed_of_sent, begun, responses, promoters, detractors = (
            int(v or 0) for v in row[len(dims) :]
        )
        found[key] = Figures(
            surveys,
            sent,
            completed,
            completed_of_sent,
            begun,
            NpsEstimate(responses, promoters, detractors),
        )
    return found


def median_times(conn: Connection, scope: Scope, dims: tuple[Dimension, ...]) -> dict[Key, float]:
    """The median time to answer per group, found by the database: it ranks the
    times within each group and returns only the one or two middle ones."""
    columns = _columns(dims)
    began = func.coalesce(Survey.sent_at, Survey.started_at, Survey.created_at)
    seconds = seconds_between(conn, began, Response.scored_at)
    ranked = (
        select(
            *columns,
            seconds.label("seconds"),
            func.row_number().over(partition_by=columns or None, order_by=seconds).label("rank"),
            func.count().over(partition_by=columns or None).label("n"),
        )
        .select_from(_from())
        .where(Response.scored_at.isnot(None), *scope.conditions())
        .subquery()
    )
    keys = [ranked.c[d.value] for d in dims]
    middle = or_(ranked.c.rank == (ranked.c.n + 1) // 2, ranked.c.rank == (ranked.c.n + 2) // 2)
    query = select(*keys, func.avg(ranked.c.seconds)).where(middle).group_by(*keys)
    return {
        tuple(row[: len(dims)]): float(row[-1])
        for row in conn.execute(query)
        if row[-1] is not None  # no answers at all: one empty row
    }


def theme_counts(
    conn: Connection, scope: Scope, dims: tuple[Dimension, ...]
) -> dict[Key, dict[str, NpsEstimate]]:
    """Per group and theme: the answers that mention it, as an NPS sample."""
    columns = _columns(dims)
    query = (
        select(
            *columns,
            ResponseTheme.theme,
            func.count(),
            func.sum(_is(_PROMOTER)),
            func.sum(_is(_DETRACTOR)),
        )
        .select_from(
            Survey.__table__.join(Response, Response.survey_id == Survey.id).join(
                ResponseTheme, ResponseTheme.survey_id == Survey.id
            )
        )
        .where(Response.score.isnot(None), *scope.conditions())
        .group_by(*columns, ResponseTheme.theme)
    )
    found: dict[Key, dict[str, NpsEstimate]] = defaultdict(dict)
    for row in conn.execute(query):
        key = tuple(row[: len(dims)])
        theme, n, promoters, detractors = row[len(dims) :]
        found[key][theme] = NpsEstimate(int(n), int(promoters or 0), int(detractors or 0))
    return found


def _top(themes: dict[str, NpsEstimate], pick: str) -> list[str]:
    counts = {t: getattr(s, pick) for t, s in themes.items() if getattr(s, pick)}
    return sorted(counts, key=lambda t: (-counts[t], t))[:TOP_THEMES]


def figures_by(conn: Connection, scope: Scope, dims: tuple[Dimension, ...]) -> dict[Key, Figures]:
    figures = count_figures(conn, scope, dims)
    for key, seconds in median_times(conn, scope, dims).items():
        figures[key].median_seconds_to_answer = seconds
    for key, themes in theme_counts(conn, scope, dims).items():
        figures[key].top_detractor_themes = _top(themes, "detractors")
        figures[key].top_promoter_themes = _top(themes, "promoters")
    return figures


def drivers(
    themes: dict[str, NpsEstimate], everyone: NpsEstimate, all_responses: int
) -> list[dict[str, Any]]:
    """For each theme: the NPS of the answers that mention it against those
    that do not, the difference with its 95% interval, and its impact: how
    many points of the overall NPS it costs (negative) or brings."""
    rows = []
    for theme, mentioning in themes.items():
        others = everyone - mentioning
        diff = nps_difference(mentioning, others)
        impact = (
            mentioning.responses / all_responses * diff.difference if diff and all_responses else 0
        )
        rows.append(
            {
                "theme": theme,
                "mentions": mentioning.responses,
                "share": _ratio(mentioning.responses, everyone.responses),
                "nps_with": mentioning.nps,
                "nps_without": others.nps,
                "difference": diff.difference if diff else None,
                "difference_low": diff.interval[0] if diff else None,
                "difference_high": diff.interval[1] if diff else None,
                "clear": diff.clear if diff else False,
                "impact": impact,
                "detractors": mentioning.detractors,
            }
        )
    return sorted(rows, key=lambda r: (r["impact"], -r["mentions"], r["theme"]))


def trend(
    conn: Connection, scope: Scope, interval: Interval, min_sample: int
) -> list[dict[str, Any]]:
    period = period_start(conn, Survey.created_at, interval).label("period")
    query = (
        select(
            period,
            func.count(),
            func.count(Survey.sent_at),
            func.sum(_is(_COMPLETED)),
            func.sum(_is(and_(_COMPLETED, _SENT))),
            func.count(Response.score),
            func.sum(_is(_PROMOTER)),
            func.sum(_is(_DETRACTOR)),
        )
        .select_from(_from())
        .where(*scope.conditions())
        .group_by(period)
        .order_by(period)
    )
    rows = []
    for (
        start,
        surveys,
        sent,
        completed,
        completed_of_sent,
        n,
        promoters,
        detractors,
    ) in conn.execute(query):
        estimate = NpsEstimate(int(n), int(promoters or 0), int(detractors or 0))
        interval_ = estimate.interval()
        rows.append(
            {
                "period": str(start),
                "surveys": int(surveys),
                "responses": estimate.responses,
                "response_rate": _ratio(int(completed_of_sent or 0), int(sent)),
                "completed": int(completed or 0),
                "nps": estimate.nps,
                "nps_low": interval_[0] if interval_ else None,
                "nps_high": interval_[1] if interval_ else None,
                "low_sample": estimate.responses < min_sample,
            }
        )
    return rows


def _names(by: tuple[Dimension, ...], key: Key) -> dict[str, str | None]:
    return {d.value: value for d, value in zip(by, key, strict=True)}


def build_report(
    conn: Connection,
    scope: Scope,
    by: tuple[Dimension, ...],
    *,
    interval: Interval = Interval.WEEK,
    min_sample: int = DEFAULT_MIN_SAMPLE,
) -> dict[str, Any]:
    overall = figures_by(conn, scope, ()).get((), Figures())
    groups = figures_by(conn, scope, by)
    everyone = overall.nps
    by_touchpoint = (
        {k[0]: f.nps for k, f in groups.items()}
        if by == (Dimension.TOUCHPOINT,)
        else {k[0]: f.nps for k, f in count_figures(conn, scope, (Dimension.TOUCHPOINT,)).items()}
    )
    exit_points = []
    for (touchpoint,), themes in theme_counts(conn, scope, (Dimension.TOUCHPOINT,)).items():
        for row in drivers(themes, by_touchpoint[touchpoint], everyone.responses):
            exit_points.append({"touchpoint": touchpoint, **row})
    exit_points.sort(key=lambda r: (r["impact"], -r["mentions"], r["touchpoint"], r["theme"]))
    return {
        "scope": scope.as_dict(),
        "by": [d.value for d in by],
        "min_sample": min_sample,
        "overall": overall.as_dict(min_sample),
        "groups": [
            {
                **dict(zip([d.value for d in by], key, strict=True)),
                **groups[key].as_dict(min_sample),
            }
            for key in sorted(groups, key=lambda k: tuple(v or "" for v in k))
        ],
        "drivers": drivers(theme_counts(conn, scope, ()).get((), {}), everyone, everyone.responses),
        "exit_points": exit_points,
        "interval": interval.value,
        "trend": trend(conn, scope, interval, min_sample),
    }
