"""`feedbot demo-data`, `feedbot report` and `feedbot export`, run as an
analyst runs them."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from sqlalchemy import select

from analytics.query import Dimension, Scope
from analytics.report import build_report
from feedbot.store.database import sync_engine
from feedbot.store.models import Survey
from tests.test_export_cli import feedbot


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    url = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.db'}"
    result = feedbot("demo-data", "--surveys", "1500", "--seed", "3", env={"DATABASE_URL": url})
    assert result.returncode == 0, result.stderr
    assert f"Wrote 1500 demo surveys to {url}" in result.stderr
    return {"DATABASE_URL": url}


def test_demo_data_is_realistic(demo: dict[str, str]) -> None:
    engine = sync_engine(demo["DATABASE_URL"])
    with engine.connect() as conn:
        report = build_report(conn, Scope(), (Dimension.TOUCHPOINT,))
        some = conn.execute(select(Survey.customer_ref).where(Survey.channel == "sms")).first()
    engine.dispose()
    assert {g["touchpoint"] for g in report["groups"]} == {
        "support",
        "delivery",
        "store_visit",
        "checkout",
    }
    overall = report["overall"]
    assert 1000 < overall["responses"] < 1300  # about three in four answer
    assert overall["promoters"] and overall["passives"] and overall["detractors"]
    assert {d["theme"] for d in report["drivers"]} >= {"staff", "wait_time", "delivery", "price"}
    assert report["overall"]["median_seconds_to_answer"] > 0
    assert some is not None and some[0].startswith("+44")


def test_report_as_json_is_the_report(demo: dict[str, str]) -> None:
    result = feedbot("report", "--by", "touchpoint,location", "--format", "json", env=demo)
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    engine = sync_engine(demo["DATABASE_URL"])
    with engine.connect() as conn:
        expected = build_report(conn, Scope(), (Dimension.TOUCHPOINT, Dimension.LOCATION))
    engine.dispose()
    assert printed == json.loads(json.dumps(expected))
    assert printed["by"] == ["touchpoint", "location"]


def test_report_filters_and_csv(demo: dict[str, str]) -> None:
    result = feedbot(
        "report", "--by", "location", "--touchpoint", "store_visit", "--format", "csv", env=demo
    )
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert {r["location"] for r in rows} == {"london-soho", "manchester", "leeds", "bristol"}
    leeds = next(r for r in rows if r["location"] == "leeds")
    others = [float(r["nps"]) for r in rows if r["location"] != "leeds"]
    assert float(leeds["nps"]) < min(others)  # the demo's Leeds store loses on staff
    # The demo's surveys have no locale: all English, none Spanish.
    english = feedbot("report", "--language", "en", "--format", "json", env=demo)
    spanish = feedbot("report", "--language", "es", "--format", "json", env=demo)
    everyone = feedbot("report", "--format", "json", env=demo)
    assert json.loads(english.stdout)["overall"] == json.loads(everyone.stdout)["overall"]
    assert json.loads(spanish.stdout)["overall"]["sent"] == 0


def test_report_table_reads_well(demo: dict[str, str]) -> None:
    result = feedbot("report", env={**demo, "COLUMNS": "160"})
    assert result.returncode == 0, result.stderr
    for heading in ("NPS by touchpoint", "What drives the score", "Exit points", "Trend by week"):
        assert heading in result.stdout
    assert "fewer than 30 answers" in result.stdout


def test_report_written_to_a_file_is_full_width(demo: dict[str, str]) -> None:
    """stdout is a pipe here, as in `feedbot report > file`: nothing is cut
    to 80 columns, unless --width says so."""
    wide = feedbot("report", "--by", "touchpoint,location", env=demo)
    assert wide.returncode == 0, wide.stderr
    lines = wide.stdout.splitlines()
    assert max(len(line) for line in lines) > 120
    assert not re.search(r"…\s*│", wide.stdout)  # no cell cut short ("ease, pr… │")
    assert "detractors talk about" in wide.stdout
    narrow = feedbot("report", "--by", "touchpoint,location", "--width", "80", env=demo)
    assert narrow.returncode == 0, narrow.stderr
    assert max(len(line) for line in narrow.stdout.splitlines()) <= 80


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--by", "store"], "by must be touchpoint, location or touchpoint,location, not 'store'"),
        (["--since", "2026-10-02", "--until", "2026-10-01"], "is after until"),
        (["--since", "yesterday"], "Invalid value for '--since'"),
        (["--format", "xml"], "Invalid value for '--format'"),
        (["--language", "fr"], "language 'fr' is not one of en, es"),
    ],
)
def test_report_refuses_bad_options_clearly(
    demo: dict[str, str], args: list[str], message: str
) -> None:
    result = feedbot("report", *args, env=demo)
    assert result.returncode == 2
    assert message in " ".join(result.stderr.replace("│", " ").split())
    assert "Traceback" not in result.stderr


def test_parquet_export_with_transcripts_filters_and_masking(
    demo: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "support.parquet"
    result = feedbot(
        "export", "--format", "parquet", "--out", str(out), "--touchpoint", "support", env=demo
    )
    assert result.returncode == 0, result.stderr
    table = pq.read_table(out).to_pylist()
    assert table and {r["touchpoint"] for r in table} == {"support"}
    assert f"Wrote {len(table)} surveys" in result.stderr
    sms = next(r for r in table if r["channel"] == "sms" and r["score"] is not None)
    assert sms["customer"].startswith("+44******") and len(sms["customer"]) == 3 + 6 + 4
    assert [m["author"] for m in sms["transcript"]][:3] == ["bot", "bot", "customer"]
    assert sms["transcript"][2]["text"] == str(sms["score"])
    assert sms["summary"].startswith(f"{sms['category'].capitalize()} ({sms['score']}) · ")

    full = feedbot("export", "--format", "jsonl", "--out", "-", "--unmasked", env=demo)
    phones = {json.loads(line)["customer"] for line in full.stdout.splitlines()}
    assert any(p and "*" not in p and p.startswith("+4479111") for p in phones)


def test_export_of_a_period(demo: dict[str, str]) -> None:
    result = feedbot("export", "--format", "jsonl", "--out", "-", "--since", "2099-01-01", env=demo)
    assert result.returncode == 0 and result.stdout == ""
