"""Reports and exports over a large store, against pandas in the same run.

    make bench-analytics     (or: .venv/bin/python -m bench.analytics --help)

For each database (SQLite in a temporary file; a fresh database on the
PostgreSQL server at 127.0.0.1:5432) it fills the store with demo surveys
until about --responses answers are stored (no transcripts: they do not
enter a report or a CSV export), then measures, each in its own process so
that peak memory is that job's alone:

- the report by touchpoint (`analytics.report.build_report`: groups, overall,
  drivers, exit points, weekly trend) against pandas reading the same rows
  from the same database (`pandas.read_sql`) and computing the groups' figures;
- the CSV export (`feedbot export --format csv`) of a tenth of the rows and of
  all of them: time and peak memory, against pandas reading the same rows and
  writing them with `DataFrame.to_csv`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from feedbot.settings import PROJECT_ROOT
from tests.databases import fresh_database

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
DAYS = 365
ANSWERED = 0.75  # the demo data's share of surveys with a score


def fill(url: str, surveys: int) -> float:
    from analytics.demo import write_demo_data
    from feedbot.store.database import sync_engine
    from feedbot.store.migrate import upgrade
    from feedbot.understanding.reader import Understanding

    upgrade(url)
    engine = sync_engine(url)
    began = time.perf_counter()
    understanding = Understanding.from_taxonomy(PROJECT_ROOT / "themes.yml")
    done = 0

    def progress(n: int) -> None:
        nonlocal done
        done += n
        if done % 100_000 < n:
            print(f"  {done:,} surveys written", file=sys.stderr, flush=True)

    write_demo_data(
        engine,
        understanding,
        surveys,
        seed=1,
        days=DAYS,
        now=NOW,
        transcripts=False,
        batch_size=5000,
        on_batch=progress,
    )
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
    engine.dispose()
    return time.perf_counter() - began


# --- measured jobs, each run in a child process --------------------------------


def job_report(url: str) -> dict[str, Any]:
    from analytics.query import Dimension, Scope
    from analytics.report import build_report
    from feedbot.store.database import sync_engine

    engine = sync_engine(url)
    with engine.connect() as conn:
        found = build_report(conn, Scope(), (Dimension.TOUCHPOINT,))
    return {"responses": found["overall"]["responses"], "nps": found["overall"]["nps"]}


def job_pandas_report(url: str) -> dict[str, Any]:
    """The same figures, computed by pandas from the same rows the report
    reads: `surveys` (with its score and times) and `response_themes`."""
    import pandas as pd

    from feedbot.store.database import sync_engine

    engine = sync_engine(url)
    with engine.connect() as conn:
        frame = pd.read_sql(
            "SELECT touchpoint, location, created_day, state, sent_at, answered_at, score, "
            "answer_seconds FROM surveys",
            conn,
        )
        themes = pd.read_sql(
            "SELECT touchpoint, location, theme, score FROM response_themes "
            "WHERE score IS NOT NULL",
            conn,
        )
    frame["promoter"] = frame["score"] >= 9
    frame["detractor"] = frame["score"] <= 6
    frame["completed"] = frame["state"] == "completed"
    frame["completed_of_sent"] = frame["completed"] & frame["sent_at"].notna()
    frame["begun"] = frame["answered_at"].notna() | frame["state"].isin(["declined", "left"])
    named = {
        "surveys": ("state", "size"),
        "sent": ("sent_at", "count"),
        "responses": ("score", "count"),
        "promoters": ("promoter", "sum"),
        "detractors": ("detractor", "sum"),
        "completed": ("completed", "sum"),
        "completed_of_sent": ("completed_of_sent", "sum"),
        "begun": ("begun", "sum"),
        "median_seconds": ("answer_seconds", "median"),
    }
    groups = frame.groupby("touchpoint").agg(**named)
    groups["nps"] = 100 * (groups["promoters"] - groups["detractors"]) / groups["responses"]
    themes["promoter"], themes["detractor"] = themes["score"] >= 9, themes["score"] <= 6
    themes.groupby(["touchpoint", "theme"])[["promoter", "detractor"]].agg(["size", "sum"])
    themes.groupby("theme")[["promoter", "detractor"]].agg(["size", "sum"])
    days = pd.to_datetime(frame["created_day"])
    frame["week"] = (days - pd.to_timedelta(days.dt.weekday, unit="D")).dt.strftime("%Y-%m-%d")
    frame.groupby("week").agg(**named)
    answered = frame["score"].notna()
    overall = 100 * (frame["promoter"].sum() - frame["detractor"].sum()) / answered.sum()
    frame["answer_seconds"].median()
    return {"responses": int(answered.sum()), "nps": float(overall)}


def job_export(url: str, until: str | None, out: str) -> dict[str, Any]:
    """What `feedbot export --format csv` does, in this process."""
    from analytics.export import ExportOptions, survey_rows, write_export
    from analytics.query import ExportFormat, Scope
    from feedbot.store.database import sync_engine

    engine = sync_engine(url)
    scope = Scope(until=date.fromisoformat(until) if until else None)
    with engine.connect() as conn, open(out, "wb") as handle:
        rows = write_export(survey_rows(conn, ExportOptions(scope)), ExportFormat.CSV, handle)
    return {"rows": rows}


def job_pandas_export(url: str, until: str | None, out: str) -> dict[str, Any]:
    import pandas as pd

    from feedbot.store.database import sync_engine

    engine = sync_engine(url)
    query = (
        "SELECT s.id, s.channel, s.touchpoint, s.location, s.customer_ref, r.score, r.category, "
        "r.reason, r.follow_up, r.sentiment, s.state, s.sent_at, s.started_at, s.completed_at "
        "FROM surveys s LEFT JOIN responses r ON r.survey_id = s.id"
        + (f" WHERE s.created_at < '{until} 23:59:59.999999'" if until else "")
        + " ORDER BY s.created_at, s.id"
    )
    with engine.connect() as conn:
        frame = pd.read_sql(query, conn)
    frame.to_csv(out, index=False)
    return {"rows": len(frame)}


JOBS = {
    "report": job_report,
    "pandas-report": job_pandas_report,
    "export": job_export,
    "pandas-export": job_pandas_export,
}


def measure(job: str, url: str, *args: str | None) -> dict[str, Any]:
    """Run a job in a fresh process: the job's own time (imports excluded)
    and the process's peak resident memory."""
    result = subprocess.run(
        [sys.executable, "-m", "bench.analytics", "--job", job, url, *[a or "" for a in args]],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{job} failed: {result.stderr[-2000:]}")
    return json.loads(result.stdout.splitlines()[-1])


def peak_mb() -> float:
    """This process's high-water mark of resident memory (VmHWM: unlike
    ru_maxrss it is not inherited from the parent across fork and exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def run_job(job: str, url: str, args: list[str]) -> None:
    # Imports and the first connection are not the job's work: done before timing.
    import pandas  # noqa: F401

    import analytics.export
    import analytics.report  # noqa: F401
    from feedbot.store.database import sync_engine

    with sync_engine(url).connect():
        pass
    began = time.perf_counter()
    found = JOBS[job](url, *[a or None for a in args])
    print(json.dumps({**found, "seconds": time.perf_counter() - began, "peak_mb": peak_mb()}))


def best_of(runs: int, job: str, url: str, *args: str | None) -> dict[str, Any]:
    results = [measure(job, url, *args) for _ in range(runs)]
    return min(results, key=lambda r: r["seconds"])


def bench_database(kind: str, surveys: int, runs: int) -> None:
    with (
        tempfile.TemporaryDirectory(prefix="feedbot-bench-") as tmp,
        fresh_database(kind, Path(tmp)) as url,
    ):
        print(f"\n== {kind}: writing {surveys:,} demo surveys…", file=sys.stderr, flush=True)
        filled = fill(url, surveys)
        report = best_of(runs, "report", url)
        baseline = best_of(runs, "pandas-report", url)
        print(
            f"\n{kind}: {report['responses']:,} responses in {surveys:,} surveys "
            f"(written in {filled:.0f} s)"
        )
        print(f"{'report by touchpoint':<28} {'seconds':>8} {'peak MB':>8}")
        print(f"{'  feedbot (SQL)':<28} {report['seconds']:>8.2f} {report['peak_mb']:>8.0f}")
        print(
            f"{'  pandas read_sql + groupby':<28} {baseline['seconds']:>8.2f} "
            f"{baseline['peak_mb']:>8.0f}"
        )
        print(f"{'  pandas / feedbot':<28} {baseline['seconds'] / report['seconds']:>7.1f}x")
        assert abs(report["nps"] - baseline["nps"]) < 1e-6, (report, baseline)

        tenth = date.fromordinal(NOW.date().toordinal() - int(DAYS * 0.9)).isoformat()
        print(f"\n{'CSV export':<28} {'rows':>9} {'seconds':>8} {'peak MB':>8}")
        exports = {}
        for label, until in (("a tenth", tenth), ("all", None)):
            out = str(Path(tmp) / "export.csv")
            ours = best_of(1, "export", url, until, out)
            theirs = best_of(1, "pandas-export", url, until, out)
            exports[label] = (ours, theirs)
            for name, found in ((f"  feedbot, {label}", ours), (f"  pandas, {label}", theirs)):
                print(
                    f"{name:<28} {found['rows']:>9,} {found['seconds']:>8.1f} "
                    f"{found['peak_mb']:>8.0f}"
                )
        (small, small_pd), (full, full_pd) = exports["a tenth"], exports["all"]
        growth = full["peak_mb"] / small["peak_mb"]
        growth_pd = full_pd["peak_mb"] / small_pd["peak_mb"]
        print(
            f"{'  peak memory, all / a tenth':<28} feedbot {growth:.2f}x, pandas {growth_pd:.2f}x"
        )
        print(f"{'  pandas / feedbot time, all':<28} {full_pd['seconds'] / full['seconds']:>7.2f}x")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--job":
        run_job(sys.argv[2], sys.argv[3], sys.argv[4:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--responses", type=int, default=1_000_000, help="answers to store")
    parser.add_argument(
        "--databases", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql"
    )
    parser.add_argument("--runs", type=int, default=3, help="report runs; the fastest counts")
    args = parser.parse_args()
    surveys = int(args.responses / ANSWERED)
    for kind in args.databases.split(","):
        bench_database(kind.strip(), surveys, args.runs)


if __name__ == "__main__":
    main()
