"""Reports, checked against an independent computation: pandas over the
Parquet export of the same seeded store (and over the raw tables for what an
export does not carry: the time of the score, the creation time). And the
same report from SQLite and from PostgreSQL."""

from __future__ import annotations

import io
import math
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import Engine

from analytics.demo import write_demo_data
from analytics.export import ExportOptions, survey_rows, write_export
from analytics.query import Dimension, ExportFormat, Interval, Scope
from analytics.report import build_report, locations
from feedbot.settings import PROJECT_ROOT
from feedbot.store.database import sync_engine
from feedbot.store.migrate import upgrade
from feedbot.understanding.reader import Understanding
from tests.databases import fresh_database

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SURVEYS = 3000
Z = 1.959963984540054


@pytest.fixture(scope="module")
def understanding() -> Understanding:
    return Understanding.from_taxonomy(PROJECT_ROOT / "themes.yml")


def seeded_engine(url: str, understanding: Understanding) -> Engine:
    upgrade(url)
    engine = sync_engine(url)
    write_demo_data(engine, understanding, SURVEYS, seed=11, days=90, now=NOW)
    return engine


@pytest.fixture(scope="module")
def engine(
    tmp_path_factory: pytest.TempPathFactory, understanding: Understanding
) -> Iterator[Engine]:
    with fresh_database("sqlite", tmp_path_factory.mktemp("report")) as url:
        engine = seeded_engine(url, understanding)
        yield engine
        engine.dispose()


@pytest.fixture(scope="module")
def exported(engine: Engine) -> pd.DataFrame:
    """The Parquet export, read by pandas."""
    out = io.BytesIO()
    with engine.connect() as conn:
        write_export(survey_rows(conn, ExportOptions()), ExportFormat.PARQUET, out)
    out.seek(0)
    return pd.read_parquet(out)


@pytest.fixture(scope="module")
def raw(engine: Engine) -> pd.DataFrame:
    """Surveys and responses straight from the tables."""
    query = (
        "SELECT s.id, s.touchpoint, s.location, s.created_at, s.sent_at, s.started_at, "
        "r.score, r.scored_at FROM surveys s LEFT JOIN responses r ON r.survey_id = s.id"
    )
    frame = pd.read_sql(query, engine.connect())
    for column in ("created_at", "sent_at", "started_at", "scored_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True, format="ISO8601")
    return frame


def report_of(engine: Engine, scope: Scope | None = None, by: str = "touchpoint") -> dict[str, Any]:
    dims = tuple(Dimension(d) for d in by.split(","))
    with engine.connect() as conn:
        return build_report(conn, scope or Scope(), dims, interval=Interval.WEEK, min_sample=30)


def nps_by_pandas(scores: pd.Series) -> dict[str, Any]:
    n = len(scores)
    if n == 0:
        return {"responses": 0, "nps": None}
    p, d = (scores >= 9).mean(), (scores <= 6).mean()
    nps = 100 * (p - d)
    se = 100 * math.sqrt(max(0.0, p + d - (p - d) ** 2) / n)
    return {
        "responses": n,
        "nps": nps,
        "nps_low": max(-100.0, nps - Z * se),
        "nps_high": min(100.0, nps + Z * se),
        "promoter_share": p,
        "detractor_share": d,
        "se": se,
    }


def figures_by_pandas(frame: pd.DataFrame, raw: pd.DataFrame) -> dict[str, Any]:
    scored = frame[frame["score"].notna()]
    sent = frame["sent_at"].notna()
    completed = frame["state"] == "completed"
    begun = (
        frame["score"].notna() | frame["reason"].notna() | frame["state"].isin(["declined", "left"])
    )
    mine = raw[raw["id"].isin(frame["survey_id"]) & raw["scored_at"].notna()]
    began = mine["sent_at"].fillna(mine["started_at"]).fillna(mine["created_at"])
    seconds = (mine["scored_at"] - began).dt.total_seconds()
    detractor_themes = scored[scored["score"] <= 6]["themes"].explode().dropna().value_counts()
    top = sorted(detractor_themes.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
    return {
        **nps_by_pandas(scored["score"]),
        "surveys": len(frame),
        "sent": int(sent.sum()),
        "completed": int(completed.sum()),
        "response_rate": (completed & sent).sum() / sent.sum() if sent.sum() else None,
        "completion_rate": completed.sum() / begun.sum() if begun.sum() else None,
        "median_seconds_to_answer": seconds.median() if len(seconds) else None,
        "top_detractor_themes": [theme for theme, _ in top],
    }


def assert_figures(report_row: dict[str, Any], expected: dict[str, Any]) -> None:
    for key, value in expected.items():
        if key == "se":
            continue
        if key == "median_seconds_to_answer" and value is not None:
            # SQLite's date functions work to the millisecond.
            assert report_row[key] == pytest.approx(value, abs=0.01), key
        elif isinstance(value, float):
            assert report_row[key] == pytest.approx(value, rel=1e-9, abs=1e-6), key
        else:
            assert report_row[key] == value, key


def test_groups_and_overall_match_pandas(
    engine: Engine, exported: pd.DataFrame, raw: pd.DataFrame
) -> None:
    report = report_of(engine)
    assert report["overall"]["surveys"] == SURVEYS
    assert_figures(report["overall"], figures_by_pandas(exported, raw))
    groups = {g["touchpoint"]: g for g in report["groups"]}
    assert set(groups) == set(exported["touchpoint"])
    for touchpoint, frame in exported.groupby("touchpoint"):
        assert_figures(groups[touchpoint], figures_by_pandas(frame, raw))
        assert groups[touchpoint]["low_sample"] is (groups[touchpoint]["responses"] < 30)


def test_touchpoint_by_location_matches_pandas(
    engine: Engine, exported: pd.DataFrame, raw: pd.DataFrame
) -> None:
    report = report_of(engine, by="touchpoint,location")
    groups = {(g["touchpoint"], g["location"]): g for g in report["groups"]}
    expected = exported.groupby(["touchpoint", "location"])
    assert len(groups) == expected.ngroups
    for key, frame in expected:
        assert_figures(groups[key], figures_by_pandas(frame, raw))


def drivers_by_pandas(frame: pd.DataFrame, all_responses: int) -> dict[str, dict[str, float]]:
    scored = frame[frame["score"].notna()]
    found = {}
    for theme in sorted(scored["themes"].explode().dropna().unique()):
        mentions = scored["themes"].apply(lambda themes, t=theme: t in list(themes))
        with_, without = (
            nps_by_pandas(scored[mentions]["score"]),
            nps_by_pandas(scored[~mentions]["score"]),
        )
        difference = with_["nps"] - without["nps"]
        detractors, promoters = scored["score"] <= 6, scored["score"] >= 9
        own = (
            scored[mentions]["theme_sentiment"]
            .apply(lambda pairs, t=theme: dict(pairs)[t])
            .value_counts()
        )
        found[theme] = {
            "share_of_detractors": (mentions & detractors).sum() / detractors.sum(),
            "share_of_promoters": (mentions & promoters).sum() / promoters.sum(),
            "positive": int(own.get("positive", 0)),
            "neutral": int(own.get("neutral", 0)),
            "negative": int(own.get("negative", 0)),
            "mentions": int(mentions.sum()),
            "nps_with": with_["nps"],
            "nps_without": without["nps"],
            "difference": difference,
            "difference_low": difference - Z * math.hypot(with_["se"], without["se"]),
            "impact": mentions.sum() / all_responses * difference,
        }
    return found


def test_theme_drivers_and_exit_points_match_pandas(engine: Engine, exported: pd.DataFrame) -> None:
    report = report_of(engine)
    everyone = int(exported["score"].notna().sum())
    expected = drivers_by_pandas(exported, everyone)
    drivers = {d["theme"]: d for d in report["drivers"]}
    assert set(drivers) == set(expected)
    for theme, figures in expected.items():
        assert_figures(drivers[theme], figures)
    impacts = [d["impact"] for d in report["drivers"]]
    assert impacts == sorted(impacts)  # the worst first

    exits = {(e["touchpoint"], e["theme"]): e for e in report["exit_points"]}
    for touchpoint, frame in exported.groupby("touchpoint"):
        for theme, figures in drivers_by_pandas(frame, everyone).items():
            assert_figures(exits[(touchpoint, theme)], figures)
    worst = report["exit_points"][0]
    assert worst["impact"] == min(e["impact"] for e in report["exit_points"])
    # The demo company loses customers on support's communication.
    assert (worst["touchpoint"], worst["difference"] < 0) == ("support", True)


def test_the_weekly_trend_matches_pandas(engine: Engine, raw: pd.DataFrame) -> None:
    report = report_of(engine)
    monday = raw["created_at"].dt.tz_convert("UTC").dt.tz_localize(None).dt.to_period("W-SUN")
    raw = raw.assign(week=monday.dt.start_time.dt.strftime("%Y-%m-%d"))
    periods = {p["period"]: p for p in report["trend"]}
    assert list(periods) == sorted(raw["week"].unique())
    for week, frame in raw.groupby("week"):
        expected = nps_by_pandas(frame["score"].dropna())
        assert periods[week]["surveys"] == len(frame)
        assert_figures(periods[week], {k: expected[k] for k in ("responses", "nps")})
        assert periods[week]["low_sample"] is (expected["responses"] < 30)


def test_filters_match_pandas(engine: Engine, exported: pd.DataFrame, raw: pd.DataFrame) -> None:
    since, until = date(2026, 9, 1), date(2026, 10, 31)
    created = raw.set_index("id")["created_at"]
    when = exported["survey_id"].map(created)
    chosen = exported[
        (exported["touchpoint"] == "store_visit")
        & (when >= pd.Timestamp(since, tz="UTC"))
        & (when < pd.Timestamp(date(2026, 11, 1), tz="UTC"))
    ]
    report = report_of(engine, Scope(since, until, "store_visit"), by="location")
    assert report["scope"] == {
        "since": "2026-09-01",
        "until": "2026-10-31",
        "touchpoint": "store_visit",
        "location": None,
        "language": None,
    }
    assert_figures(report["overall"], figures_by_pandas(chosen, raw))
    groups = {g["location"]: g for g in report["groups"]}
    for location, frame in chosen.groupby("location"):
        assert_figures(groups[location], figures_by_pandas(frame, raw))
    one = report_of(engine, Scope(location="leeds"))
    assert [g["touchpoint"] for g in one["groups"]] == ["store_visit"]
    assert one["overall"]["nps"] < report_of(engine)["overall"]["nps"]  # Leeds's staff


def test_an_empty_scope_reports_nothing_and_says_so(engine: Engine) -> None:
    report = report_of(engine, Scope(since=date(2030, 1, 1)))
    overall = report["overall"]
    assert (overall["surveys"], overall["responses"], overall["nps"]) == (0, 0, None)
    assert overall["response_rate"] is None and overall["low_sample"] is True
    assert report["groups"] == [] and report["drivers"] == [] and report["trend"] == []
    unknown = report_of(engine, Scope(touchpoint="no-such-touchpoint"))
    assert unknown["groups"] == [] and unknown["overall"]["nps"] is None


def test_a_period_the_wrong_way_round_is_refused() -> None:
    with pytest.raises(ValueError, match="after until"):
        Scope(since=date(2026, 2, 1), until=date(2026, 1, 1))


def test_sqlite_and_postgresql_give_the_same_report(
    engine: Engine, understanding: Understanding, tmp_path: Path
) -> None:
    with fresh_database("postgresql", tmp_path) as url:
        pg = seeded_engine(url, understanding)
        try:
            for by in ("touchpoint", "location", "touchpoint,location"):
                for scope in (Scope(), Scope(since=date(2026, 10, 1), touchpoint="support")):
                    assert_same(report_of(pg, scope, by), report_of(engine, scope, by))
            with pg.connect() as conn:
                monthly = build_report(
                    conn, Scope(), (Dimension.TOUCHPOINT,), interval=Interval.MONTH
                )
            with engine.connect() as conn:
                lite = build_report(conn, Scope(), (Dimension.TOUCHPOINT,), interval=Interval.MONTH)
            assert_same(monthly, lite)
            assert [p["period"] for p in monthly["trend"]][:1] == ["2026-08-01"]
        finally:
            pg.dispose()


def assert_same(a: Any, b: Any, where: str = "report") -> None:
    """Equal, with floats equal to 1e-9 (the databases sum in other orders)."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            assert_same(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, float):
        # SQLite's date functions work to the millisecond (times to answer).
        assert a == pytest.approx(b, rel=1e-9, abs=0.01 if "seconds" in where else 1e-6), where
    else:
        assert a == b, where


@pytest.mark.parametrize("touchpoint", [None, "store_visit", "no-such-touchpoint"])
def test_the_dashboards_location_list_is_every_location_in_scope(
    engine: Engine, raw: pd.DataFrame, touchpoint: str | None
) -> None:
    scope = Scope(touchpoint=touchpoint)
    by_location = report_of(engine, scope, by="location")["groups"]
    with engine.connect() as conn:
        found = locations(conn, scope)
    assert found == sorted(g["location"] for g in by_location if g["location"])
    rows = raw if touchpoint is None else raw[raw["touchpoint"] == touchpoint]
    assert found == sorted(rows["location"].dropna().unique())
    assert (found == []) is (touchpoint == "no-such-touchpoint")
