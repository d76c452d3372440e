"""An owner's digest: what their customers said over the last day or week
(docs/closing-the-loop.md). Built from the store by the report's own
queries, rendered as an e-mail with HTML and plain-text parts.

Periods are whole days as the reports count them (UTC days), ending the day
before the digest is sent in the owner's time zone: a daily digest covers
yesterday, a weekly one (Mondays) the week from Monday to Sunday.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import jinja2
from sqlalchemy import Connection, select

from analytics.improvements import emerging_themes, improvement_rows
from analytics.query import Scope
from analytics.report import DEFAULT_MIN_SAMPLE, Counts, daily_counts, theme_counts
from feedbot.customer_text import mask_contacts
from feedbot.nps import nps_difference
from feedbot.owners import DigestEvery, Owner
from feedbot.store.handoffs import OPEN
from feedbot.store.models import Handoff, HandoffState, Response, Survey
from feedbot.touchpoints import SurveyConfig

MOVED_THEMES = 3
VERBATIMS = 3
TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).resolve().parent / "templates"),
    autoescape=jinja2.select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _score(value: float | None) -> str:
    return "–" if value is None else f"{value:+.0f}"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


TEMPLATES.filters.update(score=_score, pct=_pct)


@dataclass(frozen=True)
class Period:
    every: DigestEvery
    since: date
    until: date

    @property
    def previous(self) -> Period:
        length = self.until - self.since + timedelta(days=1)
        return Period(self.every, self.since - length, self.since - timedelta(days=1))

    @property
    def key(self) -> str:
        return f"{self.every.value}:{self.since.isoformat()}"

    @property
    def label(self) -> str:
        if self.since == self.until:
            return f"{self.since:%a %d %b %Y}"
        return f"{self.since:%d %b} – {self.until:%d %b %Y}"


def period_before(every: DigestEvery, local_day: date) -> Period:
    """The period a digest sent on ``local_day`` covers."""
    if every is DigestEvery.DAILY:
        yesterday = local_day - timedelta(days=1)
        return Period(every, yesterday, yesterday)
    monday = local_day - timedelta(days=local_day.weekday())
    return Period(every, monday - timedelta(days=7), monday - timedelta(days=1))


def owner_scope(owner: Owner, since: date | None = None, until: date | None = None) -> Scope:
    return Scope(since, until).within(
        tuple(owner.touchpoints) if owner.touchpoints else None,
        tuple(owner.locations) if owner.locations else None,
    )


def _counts(conn: Connection, scope: Scope) -> Counts:
    total = Counts()
    for counts in daily_counts(conn, scope).values():
        total += counts
    return total


def _nps(counts: Counts, min_sample: int) -> dict[str, Any]:
    estimate = counts.nps
    interval = estimate.interval()
    return {
        "responses": estimate.responses,
        "nps": estimate.nps,
        "low": interval[0] if interval else None,
        "high": interval[1] if interval else None,
        "meaningful": estimate.responses >= min_sample,
    }


def _moved_themes(conn: Connection, now: Scope, before: Scope) -> list[dict[str, Any]]:
    """Themes whose share among detractors moved most, with their sentiment now."""

    def shares(scope: Scope) -> tuple[dict[str, Any], int]:
        tallies: dict[str, Any] = {}
        for (_, theme), tally in theme_counts(conn, scope).items():
            tallies[theme] = tally if theme not in tallies else tallies[theme] + tally
        detractors = _counts(conn, scope).detractors
        return tallies, detractors

    this, this_detractors = shares(now)
    last, last_detractors = shares(before)
    rows = []
    for theme in set(this) | set(last):
        share_now = (
            this[theme].nps.detractors / this_detractors
            if theme in this and this_detractors
            else 0.0
        )
        share_before = (
            last[theme].nps.detractors / last_detractors
            if theme in last and last_detractors
            else 0.0
        )
        tally = this.get(theme)
        rows.append(
            {
                "theme": theme,
                "share_now": share_now,
                "share_before": share_before,
                "change": share_now - share_before,
                "positive": tally.positive if tally else 0,
                "neutral": tally.neutral if tally else 0,
                "negative": tally.negative if tally else 0,
            }
        )
    rows = [r for r in rows if r["change"]]
    return sorted(rows, key=lambda r: (-abs(r["change"]), r["theme"]))[:MOVED_THEMES]


def _verbatims(
    conn: Connection, scope: Scope, region: str, names: dict[str, str]
) -> list[dict[str, Any]]:
    """Three reasons in the customers' own words, detractors' first, newest
    first; phone numbers and e-mail addresses masked."""
    query = (
        select(Survey.score, Survey.touchpoint, Survey.location, Response.reason)
        .join(Response, Response.survey_id == Survey.id)
        .where(Response.reason.is_not(None), Survey.anonymised_at.is_(None), *scope.conditions())
        .order_by((Survey.score <= 6).desc(), Survey.created_at.desc())
        .limit(VERBATIMS)
    )
    return [
        {
            "score": score,
            "touchpoint": names.get(touchpoint, touchpoint),
            "location": location,
            "text": mask_contacts(reason, region),
        }
        for score, touchpoint, location, reason in conn.execute(query)
    ]


def _handoffs(
    conn: Connection, scope: Scope, now: datetime, overdue_after: timedelta
) -> dict[str, int]:
    rows = conn.execute(
        select(Handoff.state, Handoff.created_at, Handoff.first_reply_at)
        .join(Survey, Survey.id == Handoff.survey_id)
        .where(Handoff.state.in_(OPEN), *scope.conditions())
    ).all()
    overdue = sum(
        r.state == HandoffState.WAITING
        and r.first_reply_at is None
        and now - r.created_at > overdue_after
        for r in rows
    )
    return {"open": len(rows), "overdue": overdue}


def build_digest(
    conn: Connection,
    owner: Owner,
    config: SurveyConfig,
    period: Period,
    now: datetime,
    *,
    min_sample: int = DEFAULT_MIN_SAMPLE,
    region: str = "GB",
) -> dict[str, Any]:
    this = owner_scope(owner, period.since, period.until)
    before = owner_scope(owner, period.previous.since, period.previous.until)
    counts_now, counts_before = _counts(conn, this), _counts(conn, before)
    difference = nps_difference(counts_now.nps, counts_before.nps)
    overdue_after = timedelta(minutes=config.handoff.flag_waiting_after_minutes)
    return {
        "owner": {"name": owner.name, "email": owner.email, "scope": owner.scope_label},
        "period": {
            "every": period.every.value,
            "since": period.since.isoformat(),
            "until": period.until.isoformat(),
            "label": period.label,
        },
        "previous": {
            "since": period.previous.since.isoformat(),
            "until": period.previous.until.isoformat(),
        },
        "min_sample": min_sample,
        "nps": _nps(counts_now, min_sample),
        "previous_nps": _nps(counts_before, min_sample),
        "nps_change": difference.difference if difference else None,
        "surveys": counts_now.surveys,
        "moved_themes": _moved_themes(conn, this, before),
        "verbatims": _verbatims(conn, this, region, config.touchpoint_names()),
        "handoffs": _handoffs(conn, owner_scope(owner), now, overdue_after),
        "improvements": improvement_rows(conn, owner_scope(owner), now.date()),
        "emerging": emerging_themes(conn, owner_scope(owner), period.since)
        if period.every is DigestEvery.WEEKLY
        else [],
    }


def digest_subject(digest: dict[str, Any]) -> str:
    every = "Weekly" if digest["period"]["every"] == "weekly" else "Daily"
    return f"{every} feedback for {digest['owner']['scope']}: {digest['period']['label']}"


def render_digest(
    digest: dict[str, Any], base_url: str, theme_labels: Mapping[str, str] | None = None
) -> tuple[str, str, str]:
    """(subject, plain text, HTML); themes by their label in themes.yml."""
    labels = dict(theme_labels or {})
    context = {
        "d": digest,
        "subject": digest_subject(digest),
        "base_url": base_url.rstrip("/"),
        "label": lambda theme: labels.get(theme, theme),
    }
    return (
        context["subject"],
        TEMPLATES.get_template("digest.txt").render(context),
        TEMPLATES.get_template("digest.html").render(context),
    )
