"""The conversation store with its small SQLite page cache against SQLite's
default, in the same run (feedbot/store/database.py,
CONVERSATION_PAGE_CACHE_KIB).

    .venv/bin/python -m bench.page_cache --help

A fresh SQLite database is filled with demo surveys (so that tables and
indexes are larger than either cache), then concurrent workers each hold the
store's side of whole SMS surveys: find the customer's last survey, create,
mark sent and started, store the messages, the score and the reason, finish,
read it back. The two page-cache settings run alternately, in rounds, so the
machine's noise falls on both; the ratio is small cache / default.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from analytics.demo import write_demo_data
from feedbot.settings import Settings
from feedbot.store.database import CONVERSATION_PAGE_CACHE_KIB, async_engine, sync_engine
from feedbot.store.migrate import upgrade
from feedbot.store.models import Author, Direction, SurveyState
from feedbot.store.surveys import NewSurvey, SurveyStore
from feedbot.understanding.reader import Understanding


async def one_survey(store: SurveyStore, key: str) -> None:
    at = datetime.now(UTC)
    phone = f"+4477{abs(hash(key)) % 10**8:08d}"
    await store.last_surveyed_at(phone)
    survey = await store.create_survey(
        NewSurvey(channel="sms", touchpoint="support", customer_ref=phone, interaction_id=key),
        at,
    )
    await store.mark_sent(survey.id, at)
    await store.mark_started(survey.id, at)
    await store.add_message(survey.id, Direction.OUTBOUND, Author.BOT, "How likely…?", at)
    assert await store.open_survey_for("sms", phone) is not None
    await store.add_message(survey.id, Direction.INBOUND, Author.CUSTOMER, "8", at)
    await store.record_score(survey.id, 8, at)
    await store.add_message(survey.id, Direction.INBOUND, Author.CUSTOMER, "Quick, kind", at)
    await store.record_reason(survey.id, "Quick, kind", at)
    await store.finish(survey.id, SurveyState.COMPLETED, at)
    assert await store.get_survey(survey.id) is not None


async def one_round(url: str, cache_kib: int | None, tag: str, workers: int, each: int) -> float:
    """Seconds per survey with this page cache."""
    store = SurveyStore(async_engine(url, page_cache_kib=cache_kib))

    async def worker(w: int) -> None:
        for n in range(each):
            await one_survey(store, f"{tag}-{w}-{n}")

    began = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(workers)))
    elapsed = time.perf_counter() - began
    await store.close()
    return elapsed / (workers * each)


async def run(args: argparse.Namespace, url: str) -> None:
    timings: dict[str, list[float]] = {"small": [], "default": []}
    for r in range(args.rounds):
        for name, kib in (("small", CONVERSATION_PAGE_CACHE_KIB), ("default", None)):
            per = await one_round(url, kib, f"{name}{r}", args.workers, args.surveys)
            timings[name].append(per)
            print(f"round {r + 1}: {name:>7} cache  {per * 1000:7.2f} ms a survey", flush=True)
    small, default = (statistics.median(timings[k]) for k in ("small", "default"))
    print(
        f"\nmedian ms a survey: {CONVERSATION_PAGE_CACHE_KIB} KiB cache {small * 1000:.2f}, ",
        end="",
    )
    print(f"SQLite's default (2 MB) {default * 1000:.2f}")
    print(f"small / default: {small / default:.3f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prefill", type=int, default=100_000, help="demo surveys first")
    parser.add_argument("--workers", type=int, default=8, help="conversations at once")
    parser.add_argument("--surveys", type=int, default=150, help="surveys per worker per round")
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="feedbot-bench-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'feedbot.db'}"
        upgrade(url)
        print(f"Filling the store with {args.prefill} demo surveys…", flush=True)
        engine = sync_engine(url)
        understanding = Understanding.from_taxonomy(Settings.from_env().themes_file)
        write_demo_data(engine, understanding, args.prefill)
        engine.dispose()
        size = (Path(tmp) / "feedbot.db").stat().st_size / 2**20
        print(f"database: {size:.0f} MB\n")
        asyncio.run(run(args, url))


if __name__ == "__main__":
    main()
