"""Reports: per touchpoint, location or both, over a period.

The database does the heavy part, whatever the grouping:
- one pass over `surveys` counts per touchpoint × location × day (the score
  and first-answer time are kept on each survey for this: no join), from
  which the groups, the whole scope and the trend are summed here;
- one pass over `response_themes` (which carry copies of their survey's
  touchpoint, location, time and score) per touchpoint × location × theme,
  for the top themes, the drivers and the exit points;
- the medians of the time to answer, per group and overall, read from an
  index (feedbot.store.report_facts, migration 0004, docs/analytics.md).
A report over a million answers thus reads a few thousand rows.

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
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, case, func, or_, select

from analytics.handoffs import handoff_summary
from analytics.improvements import improvement_rows
from analytics.query import Dimension, Interval, Scope
from feedbot.nps import NpsEstimate, nps_difference
from feedbot.store.models import ResponseTheme, Survey, SurveyState

DEFAULT_MIN_SAMPLE = 30
TOP_THEMES = 3
Key = tuple[str | None, ...]


@dataclass
class Counts:
    """Additive counts of a set of surveys."""

    surveys: int = 0
    sent: int = 0
    completed: int = 0
    completed_of_sent: int = 0
    begun: int = 0
    responses: int = 0
    promoters: int = 0
    detractors: int = 0
    timed: int = 0  # with a time to answer

    def __iadd__(self, other: Counts) -> Counts:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        return self

    @property
    def nps(self) -> NpsEstimate:
        return NpsEstimate(self.responses, self.promoters, self.detractors)


@dataclass
class Figures:
    """One row of a report: a group, or the whole scope."""

    counts: Counts = field(default_factory=Counts)
    median_seconds_to_answer: float | None = None
    top_detractor_themes: list[str] = field(default_factory=list)
    top_promoter_themes: list[str] = field(default_factory=list)

    def as_dict(self, min_sample: int) -> dict[str, Any]:
        c = self.counts
        return {
            "surveys": c.surveys,
            "sent": c.sent,
            "responses": c.responses,
            "completed": c.completed,
            "completion_rate": _ratio(c.completed, c.begun),
            "response_rate": _ratio(c.completed_of_sent, c.sent),
            **_nps_fields(c.nps),
            "promoters": c.promoters,
            "passives": c.nps.passives,
            "detractors": c.detractors,
            "promoter_share": c.nps.share(c.promoters),
            "passive_share": c.nps.share(c.nps.passives),
            "detractor_share": c.nps.share(c.detractors),
            "median_seconds_to_answer": self.median_seconds_to_answer,
            "top_detractor_themes": self.top_detractor_themes,
            "top_promoter_themes": self.top_promoter_themes,
            "low_sample": c.responses < min_sample,
        }


def _nps_fields(estimate: NpsEstimate) -> dict[str, float | None]:
    interval = estimate.interval()
    return {
        "nps": estimate.nps,
        "nps_low": interval[0] if interval else None,
        "nps_high": interval[1] if interval else None,
    }


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _is(condition: Any) -> Any:
    return case((condition, 1), else_=0)


_PROMOTER = Survey.score >= 9
_DETRACTOR = Survey.score <= 6
_COMPLETED = Survey.state == SurveyState.COMPLETED
_BEGUN = or_(
    Survey.answered_at.isnot(None), Survey.state.in_([SurveyState.DECLINED, SurveyState.LEFT])
)
# The finest grain the counts are read at; every report sums these.
_FINE = (Dimension.TOUCHPOINT, Dimension.LOCATION)


def _pick(dims: tuple[Dimension, ...]) -> Callable[[Key], Key]:
    """From a (touchpoint, location) key, the part a grouping by ``dims`` keeps."""
    places = [_FINE.index(d) for d in dims]
    return lambda key: tuple(key[i] for i in places)


def daily_counts(
    conn: Connection, scope: Scope
) -> dict[tuple[str | None, str | None, str], Counts]:
    """Counts per touchpoint × location × day (UTC): one pass over surveys."""
    day = Survey.created_day
    query = (
        select(
            Survey.touchpoint,
            Survey.location,
            day,
            func.count(),
            func.count(Survey.sent_at),
            func.sum(_is(_COMPLETED)),
            func.sum(_is(and_(_COMPLETED, Survey.sent_at.isnot(None)))),
            func.sum(_is(_BEGUN)),
            func.count(Survey.score),
            func.sum(_is(_PROMOTER)),
            func.sum(_is(_DETRACTOR)),
            func.count(Survey.answer_seconds),
        )
        .where(*scope.conditions())
        .group_by(Survey.touchpoint, Survey.location, day)
    )
    return {
        (touchpoint, location, str(day)): Counts(*(int(v or 0) for v in values))
        for touchpoint, location, day, *values in conn.execute(query)
    }


def _sum_by(
    daily: dict[tuple[str | None, str | None, str], Counts], key: Callable[[Key], Any]
) -> dict[Any, Counts]:
    found: dict[Any, Counts] = defaultdict(Counts)
    for (touchpoint, location, day), counts in daily.items():
        found[key((touchpoint, location, day))] += counts
    return found


def median_times(
    conn: Connection, scope: Scope, dims: tuple[Dimension, ...], counts: dict[Key, Counts]
) -> dict[Key, float]:
    """The median time to answer of each group (``counts`` says how many
    times each has). PostgreSQL computes it (percentile_cont); on SQLite the
    middle one or two of a group are read by walking the group's index
    (migration 0004) to the middle, instead of sorting the table."""
    columns = [getattr(Survey, d.value) for d in dims]
    timed = [Survey.answer_seconds.isnot(None), *scope.conditions()]
    if conn.dialect.name != "sqlite":
        median = func.percentile_cont(0.5).within_group(Survey.answer_seconds)
        query = select(*columns, median).where(*timed).group_by(*columns)
        return {
            tuple(row[: len(dims)]): float(row[-1])
            for row in conn.execute(query)
            if row[-1] is not None
        }
    found = {}
    for key, group in counts.items():
        if not group.timed:
            continue
        same = [c.is_(None) if v is None else c == v for c, v in zip(columns, key, strict=True)]
        middle = (
            select(Survey.answer_seconds)
            .where(*timed, *same)
            .order_by(Survey.answer_seconds)
            .offset((group.timed - 1) // 2)
            .limit(1 if group.timed % 2 else 2)
        )
        values = list(conn.execute(middle).scalars())
        found[key] = sum(values) / len(values)
    return found


@dataclass(frozen=True)
class ThemeTally:
    """The answers that mention a theme: their scores, and the theme's own
    sentiment in them."""

    nps: NpsEstimate
    positive: int = 0
    neutral: int = 0
    negative: int = 0

    def __add__(self, other: ThemeTally) -> ThemeTally:
        return ThemeTally(
            NpsEstimate(
                self.nps.responses + other.nps.responses,
                self.nps.promoters + other.nps.promoters,
                self.nps.detractors + other.nps.detractors,
            ),
            self.positive + other.positive,
            self.neutral + other.neutral,
            self.negative + other.negative,
        )


_NO_THEME = ThemeTally(NpsEstimate(0, 0, 0))


def theme_counts(conn: Connection, scope: Scope) -> dict[tuple[Key, str], ThemeTally]:
    """Per touchpoint × location and theme: the answers that mention it."""
    query = (
        select(
            ResponseTheme.touchpoint,
            ResponseTheme.location,
            ResponseTheme.theme,
            func.count(),
            func.sum(_is(ResponseTheme.score >= 9)),
            func.sum(_is(ResponseTheme.score <= 6)),
            func.sum(_is(ResponseTheme.sentiment == "positive")),
            func.sum(_is(ResponseTheme.sentiment == "neutral")),
            func.sum(_is(ResponseTheme.sentiment == "negative")),
        )
        .where(ResponseTheme.score.isnot(None), *scope.conditions(ResponseTheme))
        .group_by(ResponseTheme.touchpoint, ResponseTheme.location, ResponseTheme.theme)
    )
    return {
        ((touchpoint, location), theme): ThemeTally(
            NpsEstimate(int(n), int(p or 0), int(d or 0)), *(int(c or 0) for c in sentiments)
        )
        for touchpoint, location, theme, n, p, d, *sentiments in conn.execute(query)
    }


def _themes_by(
    fine: dict[tuple[Key, str], ThemeTally], key: Callable[[Key], Key]
) -> dict[Key, dict[str, ThemeTally]]:
    found: dict[Key, dict[str, ThemeTally]] = defaultdict(dict)
    for (place, theme), tally in fine.items():
        group = found[key(place)]
        group[theme] = group.get(theme, _NO_THEME) + tally
    return found


def _top(themes: dict[str, ThemeTally], pick: str) -> list[str]:
    counts = {t: getattr(s.nps, pick) for t, s in themes.items() if getattr(s.nps, pick)}
    return sorted(counts, key=lambda t: (-counts[t], t))[:TOP_THEMES]


def drivers(
    themes: dict[str, ThemeTally], everyone: NpsEstimate, all_responses: int
) -> list[dict[str, Any]]:
    """For each theme: the NPS of the answers that mention it against those
    that do not, the difference with its 95% interval, and its impact: how
    many points of the overall NPS it costs (negative) or brings. Also its
    share among detractors and among promoters, and its own sentiment: how
    often customers spoke well or badly of the theme itself."""
    rows = []
    for theme, tally in themes.items():
        mentioning = tally.nps
        others = everyone - mentioning
        diff = nps_difference(mentioning, others)
        impact = (
            mentioning.responses / all_responses * diff.difference if diff and all_responses else 0
        )
        read = tally.positive + tally.neutral + tally.negative
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
                "promoters": mentioning.promoters,
                "share_of_detractors": _ratio(mentioning.detractors, everyone.detractors),
                "share_of_promoters": _ratio(mentioning.promoters, everyone.promoters),
                "positive": tally.positive,
                "neutral": tally.neutral,
                "negative": tally.negative,
                # (positive − negative) / answers whose sentiment of it was read.
                "net_sentiment": _ratio(tally.positive - tally.negative, read),
            }
        )
    return sorted(rows, key=lambda r: (r["impact"], -r["mentions"], r["theme"]))


def period_of(day: str, interval: Interval) -> str:
    """The first day of the week (Monday) or month a 'YYYY-MM-DD' day is in."""
    when = date.fromisoformat(day)
    if interval is Interval.WEEK:
        return (when - timedelta(days=when.weekday())).isoformat()
    return when.replace(day=1).isoformat()


def trend(
    daily: dict[tuple[str | None, str | None, str], Counts], interval: Interval, min_sample: int
) -> list[dict[str, Any]]:
    periods = _sum_by(daily, lambda key: period_of(key[2] or "", interval))
    rows = []
    for start in sorted(periods):
        c = periods[start]
        rows.append(
            {
                "period": start,
                "surveys": c.surveys,
                "responses": c.responses,
                "response_rate": _ratio(c.completed_of_sent, c.sent),
                "completed": c.completed,
                **_nps_fields(c.nps),
                "low_sample": c.responses < min_sample,
            }
        )
    return rows


def _names(by: tuple[Dimension, ...], key: Key) -> dict[str, str | None]:
    return {d.value: value for d, value in zip(by, key, strict=True)}


def _figures(
    counts: dict[Key, Counts],
    medians: dict[Key, float],
    themes: dict[Key, dict[str, ThemeTally]],
    keys: Iterable[Key],
) -> dict[Key, Figures]:
    return {
        key: Figures(
            counts[key],
            medians.get(key),
            _top(themes.get(key, {}), "detractors"),
            _top(themes.get(key, {}), "promoters"),
        )
        for key in keys
    }


def locations(conn: Connection, scope: Scope) -> list[str]:
    """The locations surveys in scope were taken at, sorted (for filters)."""
    query = (
        select(Survey.location)
        .where(Survey.location.is_not(None), *scope.conditions())
        .distinct()
        .order_by(Survey.location)
    )
    return list(conn.scalars(query))


def build_report(
    conn: Connection,
    scope: Scope,
    by: tuple[Dimension, ...],
    *,
    interval: Interval = Interval.WEEK,
    min_sample: int = DEFAULT_MIN_SAMPLE,
    today: date | None = None,
) -> dict[str, Any]:
    """``today``: the day improvements' effects are measured to (default:
    today, UTC)."""
    daily = daily_counts(conn, scope)
    fine_themes = theme_counts(conn, scope)
    group_key, touchpoint_key = _pick(by), _pick((Dimension.TOUCHPOINT,))

    def whole(_: Key) -> Key:
        return ()

    groups_counts = _sum_by(daily, lambda k: group_key(k[:2]))
    overall_counts = _sum_by(daily, lambda k: ())
    overall_counts.setdefault((), Counts())
    groups = _figures(
        groups_counts,
        median_times(conn, scope, by, groups_counts),
        _themes_by(fine_themes, group_key),
        groups_counts,
    )
    overall = _figures(
        overall_counts,
        median_times(conn, scope, (), overall_counts),
        _themes_by(fine_themes, whole),
        [()],
    )[()]
    everyone = overall.counts.nps
    per_touchpoint = _sum_by(daily, lambda k: touchpoint_key(k[:2]))
    exit_points = [
        {"touchpoint": key[0], **row}
        for key, themes in _themes_by(fine_themes, touchpoint_key).items()
        for row in drivers(themes, per_touchpoint[key].nps, everyone.responses)
    ]
    exit_points.sort(key=lambda r: (r["impact"], -r["mentions"], r["touchpoint"], r["theme"]))
    return {
        "scope": scope.as_dict(),
        "by": [d.value for d in by],
        "min_sample": min_sample,
        "overall": overall.as_dict(min_sample),
        "groups": [
            {**_names(by, key), **groups[key].as_dict(min_sample)}
            for key in sorted(groups, key=lambda k: tuple(v or "" for v in k))
        ],
        "drivers": drivers(
            _themes_by(fine_themes, whole).get((), {}), everyone, everyone.responses
        ),
        "exit_points": exit_points,
        "interval": interval.value,
        "trend": trend(daily, interval, min_sample),
        "handoffs": handoff_summary(conn, scope),
        # "You said, we did" in the scope, and whether each worked (its own
        # windows, whatever the report's period).
        "improvements": improvement_rows(
            conn,
            replace(scope, since=None, until=None),
            today or datetime.now(UTC).date(),
        ),
    }
