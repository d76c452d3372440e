"""Reliability: Rasa SIGKILLed in the middle of many conversations, and what
was lost or stored twice (docs/reliability.md).

    .venv/bin/python -m bench.faults [--customers 200]

Starts its own stack (the `make run` layout, on SQLite, the scheduler every
second), begins every conversation over the widget, then kills Rasa with
SIGKILL while the customers answer their score and why, starts it again
after 2 s (as `feedbot run` does after its pause), and counts what the store
holds against what was said. Prints the counts, the turns that waited for
Rasa, and the time from the kill until the last customer had their answers.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import tempfile
import time
from pathlib import Path

from tests.helpers.outage import STARTING_AT_ONCE, Outcome, count, customer, wait_for_url
from tests.helpers.stack import temporary_stack


async def run(customers: int, workdir: Path) -> None:
    with temporary_stack(workdir, app_env={"FEEDBOT_SCHEDULER_INTERVAL_SECONDS": "1"}) as stack:
        rasa = next(c for c in stack.children if c.name == "rasa")
        ws_url = stack.app_urls[0].replace("http://", "ws://") + "/chat"
        outcome = Outcome()
        started = asyncio.Barrier(customers + 1)
        starting = asyncio.Semaphore(STARTING_AT_ONCE)
        tasks = [
            asyncio.create_task(customer(ws_url, n, started, outcome, starting))
            for n in range(customers)
        ]
        await started.wait()
        await asyncio.sleep(0.3)
        killed = time.monotonic()
        os.killpg(rasa.process.pid, signal.SIGKILL)
        rasa.process.wait()
        await asyncio.sleep(2)
        rasa.start()
        await asyncio.to_thread(wait_for_url, stack.settings.rasa_url, 180)
        back = time.monotonic()
        survey_ids = await asyncio.wait_for(asyncio.gather(*tasks), timeout=600)
        done = time.monotonic()
        counts = count(stack.settings.database_url, survey_ids)
    print(f"conversations: {counts.surveys} (two answers each, all begun before the kill)")
    print(f"answers stored as said: {counts.answers_stored}; lost: {counts.answers_lost}")
    print(f"customer messages stored twice: {counts.messages_twice}")
    print(f"surveys not completed: {counts.incomplete}; still waiting: {counts.still_waiting}")
    print(f"turns that met the dead Rasa and were answered later: {len(outcome.waited)}")
    print(
        f"Rasa back {back - killed:.1f} s after the kill (2 s pause + model load); "
        f"every customer answered {done - killed:.1f} s after the kill"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="feedbot-faults-") as workdir:
        asyncio.run(run(args.customers, Path(workdir)))


if __name__ == "__main__":
    main()
