"""`feedbot export` and the command line, run as a user runs them."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from analytics.export import COLUMNS, csv_cell, mask_phone
from analytics.query import Dimension, Scope
from analytics.report import build_report
from feedbot.settings import PROJECT_ROOT
from feedbot.store.database import async_engine, sync_engine
from feedbot.store.migrate import upgrade
from feedbot.store.models import SurveyState
from feedbot.store.surveys import NewSurvey, ReasonTags, SurveyStore, ThemeTag

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
FEEDBOT = [sys.executable, "-m", "commands.cli"]


def feedbot(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*FEEDBOT, *args],
        cwd=PROJECT_ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


async def _seed(url: str) -> list[str]:
    engine = async_engine(url)
    store = SurveyStore(engine)
    ids = []
    done = await store.create_survey(
        NewSurvey(
            "web", "delivery", "store-12", customer_ref="cust-881", interaction_id="order-1001"
        ),
        T0,
    )
    await store.mark_started(done.id, T0)
    await store.record_score(done.id, 9, T0 + timedelta(seconds=5))
    await store.record_reason(
        done.id,
        "Très rapide 👍, merci",
        T0 + timedelta(seconds=9),
        ReasonTags(
            themes=["wait_time", "delivery"],
            sentiment="positive",
            by_theme={"wait_time": ThemeTag("positive", ["rapide"])},  # delivery: no own reading
        ),
    )
    await store.finish(done.id, SurveyState.COMPLETED, T0 + timedelta(seconds=10))
    ids.append(done.id)
    partial = await store.create_survey(
        NewSurvey(
            "sms", "support", customer_ref="+447700900123", interaction_id="ticket-7", locale="es"
        ),
        T0 + timedelta(minutes=1),
    )
    await store.record_score(partial.id, 2, T0 + timedelta(minutes=2))
    ids.append(partial.id)
    risky = await store.create_survey(NewSurvey("web", "checkout"), T0 + timedelta(minutes=3))
    await store.record_score(risky.id, 5, T0 + timedelta(minutes=3))
    await store.record_reason(risky.id, '=HYPERLINK("http://evil","x")', T0 + timedelta(minutes=4))
    ids.append(risky.id)
    await engine.dispose()
    return ids


@pytest.fixture
def seeded(tmp_path: Path) -> tuple[dict[str, str], list[str]]:
    url = f"sqlite:///{tmp_path / 'export.db'}"
    upgrade(url)
    ids = asyncio.run(_seed(url))
    return {"DATABASE_URL": url}, ids


def test_csv_export_has_one_safe_row_per_survey(
    seeded: tuple[dict[str, str], list[str]], tmp_path: Path
) -> None:
    env, ids = seeded
    out = tmp_path / "surveys.csv"
    result = feedbot("export", "--format", "csv", "--out", str(out), env=env)
    assert result.returncode == 0, result.stderr
    assert "Wrote 3 surveys" in result.stderr
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # the BOM: spreadsheets then read UTF-8
    with out.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == COLUMNS
    assert [r["survey_id"] for r in rows] == ids
    done, partial, risky = rows
    assert (done["score"], done["category"], done["completed"]) == ("9", "promoter", "true")
    assert done["reason"] == "Très rapide 👍, merci"
    assert (done["themes"], done["sentiment"]) == ("delivery;wait_time", "positive")
    # Each theme's own sentiment (a theme without its own takes the answer's)
    # and the words that made it.
    assert done["theme_sentiment"] == "delivery:positive;wait_time:positive"
    assert done["theme_words"] == "delivery:;wait_time:rapide"
    assert partial["theme_sentiment"] == "" and partial["theme_words"] == ""
    assert done["completed_at"] == "2026-11-02T09:00:10+00:00"
    assert (partial["score"], partial["reason"], partial["completed"]) == ("2", "", "false")
    assert risky["reason"].startswith("'=HYPERLINK")  # not run as a formula
    # Joinable: the company's own ids and when each survey was made.
    assert (done["interaction_id"], done["customer_id"]) == ("order-1001", "cust-881")
    assert (partial["interaction_id"], partial["customer_id"]) == ("ticket-7", "")
    assert done["created_at"] == "2026-11-02T09:00:00+00:00"
    # A number exports as it is (masked), with no quote in front.
    assert partial["customer"] == "+44******0123"
    assert partial["channel"] == "sms"
    # The survey's language, for reports by language.
    assert (done["locale"], partial["locale"]) == ("", "es")


def test_jsonl_export_keeps_types(seeded: tuple[dict[str, str], list[str]], tmp_path: Path) -> None:
    env, ids = seeded
    result = feedbot("export", "--format", "jsonl", "--out", "-", env=env)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["survey_id"] for r in rows] == ids
    assert rows[0]["score"] == 9 and rows[0]["completed"] is True
    assert rows[0]["themes"] == ["delivery", "wait_time"] and rows[0]["sentiment"] == "positive"
    assert rows[0]["theme_sentiment"] == {"delivery": "positive", "wait_time": "positive"}
    assert rows[0]["theme_words"] == {"delivery": [], "wait_time": ["rapide"]}
    assert rows[1]["themes"] == [] and rows[1]["follow_up"] is None
    assert rows[1]["theme_sentiment"] == {} and rows[1]["theme_words"] == {}
    assert rows[1]["reason"] is None and rows[1]["completed"] is False
    assert rows[2]["reason"] == '=HYPERLINK("http://evil","x")'  # JSON needs no escaping


def test_unknown_export_format_is_a_clear_error(seeded: tuple[dict[str, str], list[str]]) -> None:
    env, _ = seeded
    result = feedbot("export", "--format", "xlsx", "--out", "-", env=env)
    assert result.returncode == 2
    message = " ".join(result.stderr.replace("│", " ").split())  # rich's box, unwrapped
    assert "Invalid value for '--format': 'xlsx' is not one of 'csv', 'jsonl', 'parquet'" in message


@pytest.mark.parametrize(
    ("value", "safe"),
    [
        ("=1+1", "'=1+1"),
        ("+44 7700", "'+44 7700"),
        ("+447700900123", "+447700900123"),  # E.164: no spreadsheet runs it; no quote
        ("+44******0123", "+44******0123"),
        ("+447700900123+1", "'+447700900123+1"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\uff1d1+1", "'\uff1d1+1"),  # fullwidth ＝, run as = by spreadsheets
        ("\uff0b44", "'\uff0b44"),
        ("\uff20SUM(A1)", "'\uff20SUM(A1)"),
        ("fine", "fine"),
        ({"staff": "negative", "price": None}, "staff:negative;price:"),
        ({"staff": ["rude", "waiter"], "price": []}, "staff:rude,waiter;price:"),
        (None, ""),
        (True, "true"),
        (7, 7),
    ],
)
def test_csv_cells_are_spreadsheet_safe(value: object, safe: object) -> None:
    assert csv_cell(value) == safe


def test_a_broken_touchpoint_file_stops_with_its_place(tmp_path: Path) -> None:
    broken = tmp_path / "touchpoints.yml"
    broken.write_text("default_touchpoint: x\ntouchpoints: []\n")
    result = feedbot("migrate", env={"FEEDBOT_TOUCHPOINTS": str(broken)})
    assert result.returncode == 2
    assert str(broken) in result.stderr and "touchpoints" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_bad_port_is_a_clear_error() -> None:
    result = feedbot("migrate", env={"PORT": "eighty"})
    assert result.returncode == 2
    assert "PORT must be a whole number" in result.stderr


@pytest.mark.parametrize(
    ("database", "said"),
    [
        ("nowhere", "Connection refused"),  # nothing listens on the port
        ("missing", 'database "feedbot_no_such_database" does not exist'),
    ],
)
def test_a_database_that_cannot_be_used_is_named_not_a_crash(database: str, said: str) -> None:
    """What the driver said, on one line, instead of a traceback: the first
    thing an operator meets when DATABASE_URL is wrong or the server is down."""
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    url = {
        "nowhere": f"postgresql://postgres@127.0.0.1:{free_port}/feedbot",
        "missing": "postgresql://postgres@127.0.0.1:5432/feedbot_no_such_database",
    }[database]
    for command in ("migrate", "serve"):
        result = feedbot(command, env={"DATABASE_URL": url})
        assert result.returncode == 1, result.stderr
        assert "the database (DATABASE_URL) could not be used" in result.stderr
        assert said in result.stderr
        assert "Traceback" not in result.stderr


def test_help_explains_each_command() -> None:
    result = feedbot("--help")
    assert result.returncode == 0
    for command in ("run", "serve", "train", "migrate", "export", "actions"):
        assert command in result.stdout


def test_a_port_in_use_is_named_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = feedbot(
            "run", env={"PORT": str(port), "DATABASE_URL": f"sqlite:///{tmp_path / 'db'}"}
        )
    assert result.returncode == 1
    assert f"port {port} (the app) is already in use" in result.stderr
    assert "Traceback" not in result.stderr


def understand(
    lines: list[str], *options: str
) -> tuple[subprocess.CompletedProcess[str], list[dict]]:
    """`feedbot understand` on these input lines: the run and its JSON lines."""
    result = subprocess.run(
        [*FEEDBOT, "understand", *options],
        cwd=PROJECT_ROOT,
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result, [json.loads(line) for line in result.stdout.splitlines()]


def test_understand_answers_each_line_in_order() -> None:
    lines = [
        '{"text": "3, the package arrived 2 days late"}',
        "not json",
        '{"text": "very likely"}',
        '{"text": 7}',
        '{"text": "🔟 fast delivery and well packed"}',
    ]
    result, out = understand(lines)
    assert result.returncode == 1  # two lines could not be read
    assert "2 line(s) could not be read" in result.stderr
    assert out[0] == {"score": 3, "themes": ["wait_time", "delivery"], "sentiment": "negative"}
    assert out[1] == {"error": 'line 2: expected a JSON object with a "text" string'}
    assert out[2] == {"score": None, "themes": [], "sentiment": "neutral"}
    assert out[3] == {"error": 'line 4: expected a JSON object with a "text" string'}
    assert out[4]["score"] == 10 and "delivery" in out[4]["themes"]
    assert out[4]["sentiment"] == "positive"


def test_understand_explain_names_the_words_behind_each_theme() -> None:
    lines = [
        '{"text": "the risotto was lovely but the waiter was rude"}',
        "not json",
        '{"text": "meh"}',
    ]
    result, out = understand(lines, "--explain")
    assert result.returncode == 1
    assert out[0]["themes"] == ["staff", "product"]
    assert out[0]["because"] == {"staff": ["waiter", "rude"], "product": ["risotto"]}
    assert out[0]["theme_sentiment"] == {"staff": "negative", "product": "positive"}
    assert out[1] == {"error": 'line 2: expected a JSON object with a "text" string'}
    assert out[2]["because"] == {} and out[2]["themes"] == []
    assert out[2]["theme_sentiment"] == {}


def test_understand_reads_each_line_in_its_language() -> None:
    """--locale sets the lines' language; a line's own "locale" wins; a
    language Feedbot does not speak is that line's error."""
    lines = [
        '{"text": "le doy un 3, el paquete llegó roto"}',
        '{"text": "nine, the staff were lovely", "locale": "en-GB"}',
        '{"text": "nueve, el personal fue muy amable", "locale": "es-MX"}',
        '{"text": "neuf", "locale": "fr"}',
    ]
    result, out = understand(lines, "--locale", "es", "--explain")
    assert result.returncode == 1
    assert out[0]["score"] == 3 and out[0]["sentiment"] == "negative"
    assert set(out[0]["themes"]) == {"product", "delivery"}
    assert out[0]["because"]["delivery"] == ["paquete", "llegó"]
    assert out[1] == {
        "score": 9,
        "themes": ["staff"],
        "sentiment": "positive",
        "because": {"staff": ["staff"]},
        "theme_sentiment": {"staff": "positive"},
    }
    assert (out[2]["score"], out[2]["themes"], out[2]["sentiment"]) == (9, ["staff"], "positive")
    assert out[3]["error"].startswith("line 4: Feedbot does not speak 'fr'")
    # Without --locale the lines are English: Spanish number words are not read.
    _, english = understand(['{"text": "nueve"}'])
    assert english[0]["score"] is None
    bad, _ = understand(['{"text": "x"}'], "--locale", "klingon")
    assert bad.returncode == 2 and "--locale" in bad.stderr and "Traceback" not in bad.stderr


def test_retag_applies_an_edited_taxonomy_to_stored_answers(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'retag.db'}"
    upgrade(url)

    async def seed() -> list[str]:
        engine = async_engine(url)
        store = SurveyStore(engine)
        ids = []
        for i, reason in enumerate(
            ["no space in the car park", "the cashier was rude, the car park was great", "meh"]
        ):
            survey = await store.create_survey(NewSurvey("web", "store_visit"), T0)
            await store.record_score(survey.id, 2 + i, T0)
            await store.record_reason(survey.id, reason, T0)
            ids.append(survey.id)
        await engine.dispose()
        return ids

    ids = asyncio.run(seed())
    taxonomy = tmp_path / "themes.yml"
    taxonomy.write_text(
        "themes:\n"
        "  parking: {label: Parking, phrases: [car park]}\n"
        "  staff: {label: Staff, phrases: [cashier]}\n"
    )
    result = feedbot("retag", env={"DATABASE_URL": url, "FEEDBOT_THEMES": str(taxonomy)})
    assert result.returncode == 0, result.stderr
    assert "Re-tagged 3 answers" in result.stderr

    out = feedbot("export", "--format", "jsonl", "--out", "-", env={"DATABASE_URL": url})
    rows = {r["survey_id"]: r for r in map(json.loads, out.stdout.splitlines())}
    assert rows[ids[0]]["themes"] == ["parking"]
    assert rows[ids[1]]["themes"] == ["parking", "staff"] and rows[ids[1]]["sentiment"] == "neutral"
    # Each theme's own sentiment and words, read by the new taxonomy.
    assert rows[ids[1]]["theme_sentiment"] == {"parking": "positive", "staff": "negative"}
    assert rows[ids[1]]["theme_words"] == {"parking": ["car park"], "staff": ["cashier"]}
    assert rows[ids[2]]["themes"] == [] and rows[ids[2]]["sentiment"] == "neutral"

    # Reports count the new themes too (theme rows carry their survey's facts).
    engine = sync_engine(url)
    with engine.connect() as conn:
        drivers = build_report(conn, Scope(), (Dimension.TOUCHPOINT,))["drivers"]
    engine.dispose()
    assert {d["theme"]: d["mentions"] for d in drivers} == {"parking": 2, "staff": 1}
    assert {d["theme"]: (d["positive"], d["negative"]) for d in drivers} == {
        "parking": (1, 1),  # "no space in the car park" is a complaint
        "staff": (0, 1),
    }

    # Retagging again with the shipped taxonomy changes the rows, not their number.
    again = feedbot("retag", env={"DATABASE_URL": url})
    assert again.returncode == 0
    out = feedbot("export", "--format", "jsonl", "--out", "-", env={"DATABASE_URL": url})
    rows = {r["survey_id"]: r for r in map(json.loads, out.stdout.splitlines())}
    assert rows[ids[1]]["themes"] == ["facilities", "staff"]
    assert rows[ids[1]]["theme_words"]["facilities"] == ["car park"]  # not also "park"
    assert "parking" not in rows[ids[0]]["themes"]


def test_retag_names_a_broken_taxonomy(tmp_path: Path) -> None:
    taxonomy = tmp_path / "themes.yml"
    taxonomy.write_text("themes: {}\n")
    result = feedbot(
        "retag",
        env={"DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", "FEEDBOT_THEMES": str(taxonomy)},
    )
    assert result.returncode == 2
    assert str(taxonomy) in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("phone", "masked"),
    [
        ("+15551234567", "+1******4567"),
        ("+447911123456", "+44******3456"),
        ("+353861234567", "+353*****4567"),
        ("+8613812345678", "+86*******5678"),
        ("customer-42", "customer-42"),  # not a phone number: a customer id, kept
        (None, None),
    ],
)
def test_phone_numbers_are_masked_to_country_code_and_last_four(
    phone: str | None, masked: str | None
) -> None:
    assert mask_phone(phone) == masked
