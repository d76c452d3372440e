"""The store's share of a turn, at an earlier commit and now, in the same run.

    .venv/bin/python -m bench.store_turn [--baseline 65d83ee] [--rounds 3]

Runs, in a process of its own for each side and the sides taking turns, the
store calls of 100 three-turn web surveys as the app and the action server
make them (the customer's message stored and held, "does a person have this
conversation?", "do earlier words wait for the bot?", the bot's replies
stored with the message marked answered; the survey started by the action
server) on a fresh PostgreSQL database, and prints the CPU milliseconds a
turn of the calling process (SQLAlchemy, the driver: what the app and the
action server pay), PostgreSQL's excluded. The baseline is a git worktree
of the given commit, run with this checkout's virtual environment.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.checkouts import checkout
from feedbot.settings import PROJECT_ROOT
from tests.databases import fresh_database

# Run in each side's checkout: uses whichever API that checkout has.
SCRIPT = """
import asyncio, sys, time
from datetime import UTC, datetime, timedelta
from feedbot.store.database import async_engine
from feedbot.store.handoffs import HandoffStore
from feedbot.store.migrate import upgrade
from feedbot.store.models import Author, Direction
from feedbot.store.surveys import NewSurvey, SurveyStore

url, surveys = sys.argv[1], int(sys.argv[2])
upgrade(url)

async def main():
    engine = async_engine(url)
    store, handoffs = SurveyStore(engine), HandoffStore(engine)
    now = datetime.now(UTC)

    async def customer_says(survey_id, text):
        if hasattr(store, "add_customer_message"):
            got = await store.add_customer_message(
                survey_id, text, now, held_until=now + timedelta(seconds=30)
            )
            message_id, behind = got.id, got.behind_waiting_words
            await handoffs.current_for_survey(survey_id)
        else:
            message_id = await store.add_message(
                survey_id, Direction.INBOUND, Author.CUSTOMER, text, now,
                held_until=now + timedelta(seconds=30),
            )
            await handoffs.current_for_survey(survey_id)
            behind = await store.is_awaiting_bot(survey_id, before=message_id)
        assert not behind
        await store.add_bot_replies(survey_id, [("Thanks!", None), ("Why?", None)], now,
                                    answering=message_id)

    async def survey(n):
        made = await store.create_survey(NewSurvey("web", "checkout"), now)
        new = NewSurvey("web", "checkout")
        if hasattr(store, "start_survey"):
            await store.start_survey(made.id, new, now)
        else:
            await store.ensure_survey(made.id, new, now)
            await store.mark_started(made.id, now)
        for text in ["9", "friendly staff", "thanks"]:
            await customer_says(made.id, text)

    for n in range(10):
        await survey(n)  # warm-up
    start = time.process_time()
    for n in range(surveys):
        await survey(n)
    print(1000 * (time.process_time() - start) / (3 * surveys))
    await engine.dispose()

asyncio.run(main())
"""


def side(checkout: Path, database: str, surveys: int) -> float:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, database, str(surveys)],
        cwd=checkout,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", default="65d83ee", help="the commit to compare with")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--surveys", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="feedbot-bench-store-") as tmp:
        work = Path(tmp)
        with checkout(args.baseline, work / "baseline") as base:
            results: dict[str, list[float]] = {"baseline": [], "now": []}
            for _ in range(args.rounds):
                for name, tree in [("baseline", base), ("now", PROJECT_ROOT)]:
                    with fresh_database("postgresql", work) as database:
                        results[name].append(side(tree, database, args.surveys))
    b = sorted(results["baseline"])[len(results["baseline"]) // 2]
    n = sorted(results["now"])[len(results["now"]) // 2]
    print(f"store calls, CPU ms a turn of the calling process (median of {args.rounds} rounds):")
    print(f"  {args.baseline}: {b:.2f}   now: {n:.2f}   ({n / b:.2f}×)")


if __name__ == "__main__":
    main()
