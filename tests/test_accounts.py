"""People's own accounts: made and managed with `feedbot user`, passwords
hashed with Argon2id, sessions kept server-side (disabling or resetting ends
them at once), and a scope that holds on every page and API: a store manager
cannot read another store's answers. The app runs for real on a port."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import requests
from sqlalchemy import select
from sqlalchemy.orm import Session

from analytics.demo import write_demo_data
from bot.app import create_app
from feedbot.settings import PROJECT_ROOT, Settings
from feedbot.store.database import async_engine, sync_engine
from feedbot.store.handoffs import HandoffStore
from feedbot.store.migrate import upgrade
from feedbot.store.models import Survey, User
from feedbot.understanding.reader import Understanding
from tests.helpers.served import served

PASSWORD = "correct horse battery"
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('accounts') / 'feedbot.db'}"
    upgrade(url)
    engine = sync_engine(url)
    write_demo_data(
        engine, Understanding.from_taxonomy(PROJECT_ROOT / "themes.yml"), 600, seed=3, now=NOW
    )
    engine.dispose()
    return url


def feedbot(url: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "commands.cli", *args],
        cwd=PROJECT_ROOT,
        env={**os.environ, "DATABASE_URL": url},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def people(database: str) -> dict[str, str]:
    """Accounts made as an operator makes them: with the command line."""
    made = {
        "leeds@example.com": [
            "--role",
            "analyst",
            "--name",
            "Leeds manager",
            "--location",
            "leeds",
        ],
        "all@example.com": ["--role", "analyst", "--name", "Head office"],
        "agent@example.com": [
            "--role",
            "agent",
            "--name",
            "Priya",
            "--touchpoint",
            "support",
        ],
    }
    for email, options in made.items():
        result = feedbot(
            database, "user", "add", "--email", email, *options, "--password-stdin",
            stdin=PASSWORD + "\n",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert f"Added {email}" in result.stderr
    return {email: PASSWORD for email in made}


@pytest.fixture(scope="module")
def base_url(database: str, people: dict[str, str]) -> Iterator[str]:
    with served(create_app(Settings(database_url=database), run_scheduler=False)) as base:
        yield base


def log_in(base_url: str, email: str, password: str = PASSWORD) -> requests.Session:
    session = requests.Session()
    resp = session.post(
        base_url + "/login",
        data={"email": email, "password": password},
        allow_redirects=False,
        timeout=30,
    )
    assert resp.status_code == 302, resp.text[:300]
    session.headers["Origin"] = base_url  # as the console's own pages send it
    return session


def test_the_command_line_makes_and_lists_accounts_and_refuses_mistakes(
    database: str, people: dict[str, str]
) -> None:
    listed = feedbot(database, "user", "list")
    assert listed.returncode == 0
    assert "leeds@example.com" in listed.stdout and "leeds" in listed.stdout
    for options, message in [
        (["--email", "x@example.com", "--role", "agent"], "at least 12 characters"),
        (["--email", "leeds@example.com", "--role", "agent"], "already an account"),
        (["--email", "y@example.com", "--role", "owner"], "analyst, agent, admin"),
        (["--email", "z@example.com", "--role", "agent", "--touchpoint", "nope"], "Unknown"),
    ]:
        password = "short" if "12" in message else PASSWORD
        result = feedbot(
            database, "user", "add", *options, "--password-stdin", stdin=password + "\n"
        )
        assert result.returncode == 2 and message in result.stderr, (options, result.stderr)
    asked = feedbot(database, "user", "add", "--email", "q@example.com", "--role", "agent")
    assert asked.returncode == 2 and "--password-stdin" in asked.stderr  # no terminal to ask
    engine = sync_engine(database)
    with Session(engine) as session:
        hashes = list(session.scalars(select(User.password_hash)))
    engine.dispose()
    assert hashes and all(h.startswith("$argon2id$") for h in hashes)
    assert not any(PASSWORD in h for h in hashes)


def test_logging_in_with_an_account_and_a_wrong_password(base_url: str) -> None:
    wrong = requests.post(
        base_url + "/login",
        data={"email": "all@example.com", "password": "not it at all"},
        allow_redirects=False,
        timeout=30,
    )
    assert wrong.status_code == 401 and "do not match an account" in wrong.text
    unknown = requests.post(
        base_url + "/login",
        data={"email": "nobody@example.com", "password": PASSWORD},
        allow_redirects=False,
        timeout=30,
    )
    assert unknown.status_code == 401 and "do not match an account" in unknown.text  # the same
    head_office = log_in(base_url, "all@example.com")
    assert head_office.get(base_url + "/dashboard", timeout=30).status_code == 200


def test_a_store_manager_sees_only_their_store_through_every_page_and_api(
    base_url: str, database: str
) -> None:
    manager = log_in(base_url, "leeds@example.com")
    everyone = log_in(base_url, "all@example.com")

    def report(session: requests.Session) -> dict:
        resp = session.get(base_url + "/api/report?by=location", timeout=30)
        assert resp.status_code == 200
        return resp.json()

    mine, all_of_it = report(manager), report(everyone)
    assert {g["location"] for g in mine["groups"]} == {"leeds"}
    assert len({g["location"] for g in all_of_it["groups"]}) > 3
    leeds = next(g for g in all_of_it["groups"] if g["location"] == "leeds")
    assert mine["overall"]["surveys"] == leeds["surveys"] > 0

    rows = manager.get(base_url + "/api/export?format=jsonl", timeout=30).text.splitlines()
    assert rows and all('"location": "leeds"' in r for r in rows)
    # Asking for another store gets nothing of it.
    other = manager.get(base_url + "/api/export?format=jsonl&location=bristol", timeout=30)
    assert other.status_code == 200 and other.text == ""
    other = manager.get(base_url + "/api/report?location=bristol", timeout=30).json()
    assert other["overall"]["surveys"] == 0

    engine = sync_engine(database)
    with Session(engine) as session:
        bristol = session.scalar(select(Survey.id).where(Survey.location == "bristol"))
        leeds_id = session.scalar(select(Survey.id).where(Survey.location == "leeds"))
    engine.dispose()
    assert manager.get(f"{base_url}/dashboard/surveys/{bristol}", timeout=30).status_code == 404
    assert manager.get(f"{base_url}/dashboard/surveys/{leeds_id}", timeout=30).status_code == 200
    assert everyone.get(f"{base_url}/dashboard/surveys/{bristol}", timeout=30).status_code == 200
    page = manager.get(base_url + "/dashboard", timeout=30).text
    detractors = page.split('data-testid="detractors-table"', 1)[1].split("</table>", 1)[0]
    assert "<td>leeds</td>" in detractors and "bristol" not in detractors
    locations = page.split('data-testid="filter-location"', 1)[1].split("</select>", 1)[0]
    assert "leeds" in locations and "bristol" not in locations


def test_an_agent_with_a_scope_sees_and_acts_only_within_it(base_url: str, database: str) -> None:
    engine = sync_engine(database)
    with Session(engine) as session:
        support = session.scalar(select(Survey.id).where(Survey.touchpoint == "support"))
        delivery = session.scalar(select(Survey.id).where(Survey.touchpoint == "delivery"))
    engine.dispose()

    async def open_handoffs() -> tuple[str, str]:
        store = HandoffStore(async_engine(database))
        mine, _ = await store.open(support or "", "asked_for_person", None, 1, NOW)
        theirs, _ = await store.open(delivery or "", "asked_for_person", None, 1, NOW)
        return mine.id, theirs.id

    mine, theirs = asyncio.run(open_handoffs())
    priya = log_in(base_url, "agent@example.com")
    queue = priya.get(base_url + "/api/handoffs", timeout=30).json()["handoffs"]
    assert mine in {h["id"] for h in queue} and theirs not in {h["id"] for h in queue}
    assert priya.get(f"{base_url}/api/handoffs/{theirs}", timeout=30).status_code == 404
    refused = priya.post(
        f"{base_url}/api/handoffs/{theirs}/claim", json={"agent": "Priya"}, timeout=30
    )
    assert refused.status_code == 404
    # With her own account she is herself, whatever name a request carries.
    claimed = priya.post(f"{base_url}/api/handoffs/{mine}/claim", json={"agent": "sam"}, timeout=30)
    assert claimed.status_code == 200
    card = priya.get(f"{base_url}/api/handoffs/{mine}", timeout=30).json()
    assert card["claimed_by"] == "Priya"
    # The console shows her name, fixed.
    console = priya.get(base_url + "/agent", timeout=30).text
    assert 'value="Priya" readonly' in console


def test_disabling_or_resetting_ends_sessions_at_once(base_url: str, database: str) -> None:
    result = feedbot(
        database, "user", "add", "--email", "temp@example.com", "--role", "analyst",
        "--password-stdin", stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert result.returncode == 0
    first = log_in(base_url, "temp@example.com")
    assert first.get(base_url + "/api/report", timeout=30).status_code == 200
    reset = feedbot(
        database, "user", "reset", "temp@example.com", "--password-stdin",
        stdin="a brand new passphrase\n",
    )  # fmt: skip
    assert reset.returncode == 0 and "sessions have ended" in reset.stderr
    assert first.get(base_url + "/api/report", timeout=30).status_code == 401
    second = log_in(base_url, "temp@example.com", "a brand new passphrase")
    assert second.get(base_url + "/api/report", timeout=30).status_code == 200
    disabled = feedbot(database, "user", "disable", "temp@example.com")
    assert disabled.returncode == 0
    assert second.get(base_url + "/api/report", timeout=30).status_code == 401
    again = requests.post(
        base_url + "/login",
        data={"email": "temp@example.com", "password": "a brand new passphrase"},
        allow_redirects=False,
        timeout=30,
    )
    assert again.status_code == 401
    unknown = feedbot(database, "user", "disable", "ghost@example.com")
    assert unknown.returncode == 2 and "No account for ghost@example.com" in unknown.stderr


def test_each_survey_location_is_known(database: str) -> None:
    """(A guard on the fixture: the demo data has several stores.)"""
    engine = sync_engine(database)
    with Session(engine) as session:
        places = set(session.scalars(select(Survey.location).distinct()))
    engine.dispose()
    assert {"leeds", "bristol"} <= places
