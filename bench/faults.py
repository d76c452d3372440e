"""Reliability: Rasa or the action server SIGKILLed in the middle of many
conversations, and what was lost or stored twice (docs/reliability.md).

    .venv/bin/python -m bench.faults [--customers 200] [--kill rasa|actions]

Starts its own stack (the `make run` layout, on SQLite, the scheduler every
second), begins every conversation over the widget, then kills Rasa (or the
action server) with SIGKILL while the customers answer their score and why,
starts it again after 2 s (as `feedbot run` does after its pause), and
counts what the store holds against what was said. Prints the counts, the turns that waited for
Rasa, and the time from the kill until the last customer had their answers.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from tests.helpers.outage import count, kill_midway
from tests.helpers.stack import temporary_stack


async def run(customers: int, workdir: Path, which: str) -> None:
    with temporary_stack(workdir, app_env={"FEEDBOT_SCHEDULER_INTERVAL_SECONDS": "1"}) as stack:
        result = await kill_midway(stack, customers, which)
        counts = count(stack.settings.database_url, result.survey_ids)
    print(f"conversations: {counts.surveys} (two answers each, all begun before the kill)")
    print(f"answers stored as said: {counts.answers_stored}; lost: {counts.answers_lost}")
    print(f"customer messages stored twice: {counts.messages_twice}")
    print(f"surveys not completed: {counts.incomplete}; still waiting: {counts.still_waiting}")
    print(f"turns that met the dead {which} and were answered later: {len(result.outcome.waited)}")
    print(
        f"{which} back {result.back_after:.1f} s after the kill (2 s pause + start); "
        f"every customer answered {result.all_answered_after:.1f} s after the kill"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--kill", choices=["rasa", "actions"], default="rasa", help="which process")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="feedbot-faults-") as workdir:
        asyncio.run(run(args.customers, Path(workdir), args.kill))


if __name__ == "__main__":
    main()
