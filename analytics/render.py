"""A report as people read it (tables), as programs read it (JSON), and as
spreadsheets read it (CSV: the groups, one row each)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from analytics.export import csv_cell

GROUP_COLUMNS = (
    "surveys",
    "sent",
    "responses",
    "completed",
    "completion_rate",
    "response_rate",
    "nps",
    "nps_low",
    "nps_high",
    "promoters",
    "passives",
    "detractors",
    "promoter_share",
    "passive_share",
    "detractor_share",
    "median_seconds_to_answer",
    "top_detractor_themes",
    "top_promoter_themes",
    "low_sample",
)


def as_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, ensure_ascii=False)


def as_csv(report: dict[str, Any]) -> str:
    out = io.StringIO()
    fields = [*report["by"], *GROUP_COLUMNS]
    writer = csv.DictWriter(out, fieldnames=fields, quoting=csv.QUOTE_MINIMAL)
    writer.writeheader()
    for group in report["groups"]:
        writer.writerow({k: csv_cell(group[k]) for k in fields})
    return out.getvalue()


def _nps(row: dict[str, Any]) -> Text:
    if row["nps"] is None:
        return Text("–", style="dim")
    text = f"{row['nps']:+.0f} ({row['nps_low']:+.0f}…{row['nps_high']:+.0f})"
    return Text(
        text + (" *" if row["low_sample"] else ""), style="dim" if row["low_sample"] else ""
    )


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def as_tables(report: dict[str, Any], console: Console) -> None:
    by = report["by"]
    scope = ", ".join(f"{k} {v}" for k, v in report["scope"].items() if v) or "all surveys"
    groups = Table(title=f"NPS by {' × '.join(by)} ({scope})", title_justify="left")
    for name in by:
        groups.add_column(name)
    for name in ("answers", "NPS (95% CI)", "P / P / D", "response", "completion", "answer in"):
        groups.add_column(name, justify="right")
    groups.add_column("detractors talk about")
    for row in report["groups"]:
        groups.add_row(*_group_cells(row, [str(row[b] or "–") for b in by]))
    groups.add_section()
    groups.add_row(*_group_cells(report["overall"], ["all"] * len(by)))
    drivers = Table(title="What drives the score (worst first)", title_justify="left")
    for name in (
        "theme",
        "mentions",
        "of detractors",
        "of promoters",
        "said of it +/=/−",
        "NPS with",
        "NPS without",
        "difference (95% CI)",
        "impact",
    ):
        drivers.add_column(name, justify="left" if name == "theme" else "right")
    for row in report["drivers"]:
        drivers.add_row(*_driver_cells(row))
    exits = Table(title="Exit points: touchpoint × theme (worst first)", title_justify="left")
    for name in ("touchpoint", "theme", "mentions", "detractors", "difference", "impact"):
        exits.add_column(name, justify="left" if name in ("touchpoint", "theme") else "right")
    for row in report["exit_points"][:10]:
        exits.add_row(
            row["touchpoint"],
            row["theme"],
            str(row["mentions"]),
            str(row["detractors"]),
            _signed(row["difference"]),
            _signed(row["impact"], 1),
        )
    trend = Table(title=f"Trend by {report['interval']}", title_justify="left")
    for name in ("from", "answers", "NPS (95% CI)", "response"):
        trend.add_column(name, justify="left" if name == "from" else "right")
    for row in report["trend"]:
        trend.add_row(row["period"], str(row["responses"]), _nps(row), _pct(row["response_rate"]))
    note = Text(
        f"* fewer than {report['min_sample']} answers: too few to read much into.", style="dim"
    )
    console.print(Group(groups, drivers, exits, trend, _handoff_table(report["handoffs"]), note))


def _handoff_table(found: dict[str, Any]) -> Table:
    table = Table(title="Handed to a person", title_justify="left")
    for name in ("handed off", "asked", "severe", "not understood", "open", "declined offers"):
        table.add_column(name, justify="right")
    for name in ("first reply", "resolved in", "sorted out? yes / no / other"):
        table.add_column(name, justify="right")
    reasons, recovery = found["by_reason"], found["recovery"]
    table.add_row(
        str(found["handed_off"]),
        str(reasons["asked_for_person"]),
        str(reasons["severe_detractor"]),
        str(reasons["not_understood"]),
        str(found["open"]),
        str(found["offers_declined"]),
        _minutes(found["median_minutes_to_first_reply"]),
        _minutes(found["median_minutes_to_resolution"]),
        f"{recovery['yes']} / {recovery['no']} / {recovery['other']}",
    )
    return table


def _minutes(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.0f} min" if value < 120 else f"{value / 60:.1f} h"


def _signed(value: float | None, digits: int = 0) -> str:
    return "–" if value is None else f"{value:+.{digits}f}"


def own_sentiment(row: dict[str, Any]) -> str:
    """A theme's own sentiment as counts: '12 / 3 / 20' (positive / neutral / negative)."""
    return f"{row['positive']} / {row['neutral']} / {row['negative']}"


def _driver_cells(row: dict[str, Any]) -> list[str]:
    difference = (
        "–"
        if row["difference"] is None
        else f"{row['difference']:+.0f} ({row['difference_low']:+.0f}…"
        f"{row['difference_high']:+.0f})"
    )
    return [
        row["theme"],
        str(row["mentions"]),
        _pct(row["share_of_detractors"]),
        _pct(row["share_of_promoters"]),
        own_sentiment(row),
        _signed(row["nps_with"]),
        _signed(row["nps_without"]),
        difference,
        _signed(row["impact"], 1),
    ]


def _group_cells(row: dict[str, Any], names: list[str]) -> list[Any]:
    return [
        *names,
        str(row["responses"]),
        _nps(row),
        f"{_pct(row['promoter_share'])} / {_pct(row['passive_share'])} / "
        f"{_pct(row['detractor_share'])}",
        _pct(row["response_rate"]),
        _pct(row["completion_rate"]),
        _duration(row["median_seconds_to_answer"]),
        ", ".join(row["top_detractor_themes"]) or "–",
    ]
