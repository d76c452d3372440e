"""feedbot_rasa's tracker store, run in Rasa's own environment (.venv-rasa):
it writes exactly the rows Rasa's SQLTrackerStore writes, reuses a tracker
it saved only while the database still holds exactly that, and Rasa refuses
to start when the SQLTrackerStore code it relies on has changed.

Two stores on one database stand for two Rasa instances (the real ones, on
PostgreSQL and Redis, are in test_scale_out.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.databases import fresh_database
from tests.helpers.gate import Gate
from tests.system import System
from tests.test_rasa_patches import applied_after, in_rasa

pytestmark = pytest.mark.system

# Shared by the scripts below: a domain, stores on a database, and the events
# of a survey's turns (the same Event objects go to every store, so their
# timestamps are the same).
PRELUDE = """
import asyncio, json, sys
import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted, BotUttered, SessionStarted, SlotSet, UserUttered,
)
from feedbot_rasa.tracker_store import FeedbotTrackerStore

DOMAIN = Domain.load("domain.yml")
URL = sys.argv[1]

def store_kwargs(url):
    u = sa.engine.make_url(url)
    if u.get_backend_name() == "sqlite":
        return {"dialect": "sqlite", "db": u.database}
    return {"dialect": "postgresql", "host": u.host, "port": u.port, "db": u.database,
            "username": u.username}

def ours(url=URL):
    return FeedbotTrackerStore(domain=DOMAIN, **store_kwargs(url))

def turns():
    return [
        [ActionExecuted("action_session_start"), SessionStarted(),
         ActionExecuted("action_listen"), UserUttered("/start_survey", {"name": "start_survey"}),
         SlotSet("touchpoint", "support"), BotUttered("How likely…?"),
         ActionExecuted("action_listen")],
        [UserUttered("9", {"name": "give_feedback"}), SlotSet("score", 9),
         BotUttered("Why?"), ActionExecuted("action_listen")],
        [UserUttered("Friendly staff", {"name": "give_feedback"}),
         SlotSet("reason", "Friendly staff"), ActionExecuted("action_listen")],
    ]

async def turn(store, sender, events):
    tracker = await store.get_or_create_tracker(sender, append_action_listen=False)
    for event in events:
        tracker.update(event)
    await store.save(tracker)
    return tracker

def rows(store, sender):
    with store.engine.connect() as c:
        return [list(r) for r in c.execute(sa.text(
            "SELECT type_name, timestamp, intent_name, action_name, data FROM events "
            "WHERE sender_id = :s ORDER BY id"), {"s": sender})]
"""


# in_rasa runs `python -c script`: the database URL goes into the script.
def with_url(script: str, url: str) -> str:
    return script.replace("URL = sys.argv[1]", f"URL = {url!r}")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    with fresh_database(request.param, tmp_path) as url:
        yield url


def run_in(database_url: str, script: str) -> dict:
    result = in_rasa(
        with_url(PRELUDE, database_url)
        + script
        + "\nprint('RESULT ' + json.dumps(asyncio.run(main())))"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(x for x in result.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line[len("RESULT ") :])


def test_it_writes_the_rows_rasas_store_writes(database_url: str, tmp_path: Path) -> None:
    stock_db = f"sqlite:///{tmp_path / 'stock.db'}"
    result = run_in(
        database_url,
        f"""
async def main():
    mine = ours()
    stock = SQLTrackerStore(domain=DOMAIN, **store_kwargs({stock_db!r}))
    for events in turns():
        await turn(mine, "c1", events)
        await turn(stock, "c1", events)
    again = await mine.retrieve("c1")
    reloaded = await stock.retrieve("c1")
    return {{
        "ours": rows(mine, "c1"), "stock": rows(stock, "c1"),
        "events": [e.as_dict() for e in again.events],
        "stock_events": [e.as_dict() for e in reloaded.events],
        "slots": again.current_slot_values(), "stock_slots": reloaded.current_slot_values(),
        "state": again.current_state(), "stock_state": reloaded.current_state(),
    }}
""",
    )
    assert result["ours"] == result["stock"]
    assert len(result["ours"]) == 14
    # What it hands out at the next turn is what Rasa's reload would give
    # (the latest session only), not the longer tracker it saved.
    assert result["events"] == result["stock_events"]
    assert result["events"][0]["event"] == "session_started"
    assert result["slots"] == result["stock_slots"]
    assert result["slots"]["reason"] == "Friendly staff"
    # ...and so is the rest of its state (the loop, the latest message...).
    assert result["state"] == result["stock_state"]


def test_a_saved_tracker_is_reused_only_while_the_database_holds_it(
    database_url: str,
) -> None:
    result = run_in(
        database_url,
        """
async def main():
    a, b = ours(), ours()  # two Rasa instances
    first, second, third = turns()
    saved = await turn(a, "c1", first)
    reused = await a.retrieve("c1")
    kept = reused is a._kept["c1"].tracker
    # The very object saved, cut to its latest session in place (the
    # policies' states carried on it stay valid), not a rebuilt copy.
    same_object = reused is saved
    first_event = reused.events[0].type_name
    await a.save(reused)

    # The conversation moves to b (a thought down) and comes back to a.
    await turn(b, "c1", second)
    back = await a.retrieve("c1")
    saw_b = back.get_slot("score")
    await a.save(back)

    # A turn that fails before saving leaves nothing behind.
    failed = await a.retrieve("c1")
    failed.update(SlotSet("reason", "never saved"))
    after_failure = await a.retrieve("c1")

    # A conversation deleted from the database (erasure) is gone.
    with a.engine.begin() as c:
        c.execute(sa.text("DELETE FROM events WHERE sender_id = 'c1'"))
    erased = await a.retrieve("c1")
    return {
        "kept": kept, "same_object": same_object, "first_event": first_event,
        "saw_b": saw_b,
        "after_failure": after_failure.get_slot("reason"),
        "fresh_object": after_failure is not failed,
        "erased": erased is None,
        "rows_after_b": len(rows(b, "c1")),
    }
""",
    )
    assert result["kept"] is True
    assert result["same_object"] is True
    assert result["first_event"] == "session_started"
    assert result["saw_b"] == 9  # b's turn, not a's stale tracker
    assert result["after_failure"] is None and result["fresh_object"] is True
    assert result["erased"] is True
    assert result["rows_after_b"] == 0


def test_no_event_is_stored_twice_when_two_instances_alternate(database_url: str) -> None:
    result = run_in(
        database_url,
        """
async def main():
    a, b = ours(), ours()
    stores = [a, b, a]
    for store, events in zip(stores, turns()):
        await turn(store, "c2", events)
    types = [r[0] for r in rows(a, "c2")]
    return {"types": types, "count": len(types)}
""",
    )
    assert result["count"] == 14  # 7 + 4 + 3 from the turns, each once
    assert result["types"].count("user") == 3


def test_a_database_not_answering_yet_is_waited_for_and_its_tables_made(tmp_path: Path) -> None:
    """PostgreSQL still starting when Rasa starts (after a reboot): Rasa's own
    start logs "Could not create tables" and goes on without them, so on a
    new database every turn would fail for good. The store waits, makes
    them once the database answers, and the first turn is stored."""
    script = (
        PRELUDE
        + """
import logging
logging.basicConfig(level=logging.INFO)
store = FeedbotTrackerStore(domain=DOMAIN, database_patience=60, **store_kwargs(URL))
asyncio.run(turn(store, "late", turns()[0]))
print(json.dumps(len(rows(store, "late"))))
"""
    )
    with fresh_database("postgresql", tmp_path) as url, Gate(5432) as late:
        late.open_after(4)
        late_url = sa.engine.make_url(url).set(port=late.port).render_as_string()
        result = in_rasa(with_url(script, late_url))
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == 7
    assert "Could not create tables" in result.stderr  # Rasa's start went on without them
    assert result.stderr.count("waiting for the database") == 1  # said once, not at every try
    assert "the database answers after" in result.stderr


def test_a_database_that_never_answers_stops_rasa_with_the_reason() -> None:
    """After its patience, the store refuses to start, naming the database's
    error, rather than serve turns that can only fail."""
    script = (
        PRELUDE
        + """
try:
    FeedbotTrackerStore(domain=DOMAIN, database_patience=2, **store_kwargs(URL))
except RuntimeError as error:
    print(json.dumps(str(error)))
"""
    )
    nowhere = Gate(5432)  # never opened
    url = f"postgresql://postgres@127.0.0.1:{nowhere.port}/feedbot"
    result = in_rasa(with_url(script, url))
    assert result.returncode == 0, result.stderr[-3000:]
    said = json.loads(result.stdout.strip().splitlines()[-1])
    assert said.startswith("Rasa's tracker store could not use its database for 2 s:")
    assert "Connection refused" in said


def test_rasa_refuses_to_start_when_the_tracker_store_it_relies_on_changed() -> None:
    said = applied_after(
        """
        from rasa.core.tracker_store import SQLTrackerStore

        async def save(self, tracker):  # what an upgrade might bring
            pass

        SQLTrackerStore.save = save
        """
    )
    assert "refused: SQLTrackerStore.save is not the code feedbot_rasa/tracker_store.py" in said


def test_the_running_rasa_uses_it(system: System) -> None:
    log = (system.log_dir / "rasa.log").read_text(errors="replace")
    assert "FeedbotTrackerStore on sqlite" in log
