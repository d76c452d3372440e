"""Reliability: Rasa or the action server SIGKILLed in the middle of many
conversations, or Twilio failing a share of its requests, and what was lost
or stored (or sent) twice (docs/reliability.md).

    .venv/bin/python -m bench.faults [--customers 200]
                                     [--kill rasa|actions|app-0|postgres|none]
                                     [--channel web|sms] [--twilio-failing 0.3]

Starts its own stack (the `make run` layout, on SQLite, the scheduler every
second) and a fake Twilio, begins every conversation (over the widget, or by
SMS through the API and Twilio's webhooks), then kills Rasa (or the action
server, or the app) with SIGKILL while the customers answer their score and
why, starts it again after 2 s (as `feedbot run` does after its pause), and
counts what
the store holds against what was said, and what each customer was texted
against what was stored. `--kill postgres` runs the stack on a fresh
PostgreSQL database (on this machine, dropped afterwards) and terminates
every connection to it three times, 0.7 s apart, instead. Prints the counts,
the turns that waited for Rasa, and the time from the fault until the last
customer had their answers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
from pathlib import Path

from tests.databases import fresh_database
from tests.fake_twilio import FakeTwilio
from tests.helpers.outage import (
    converse,
    count,
    kill_midway,
    sms_stack_env,
    terminating_connections,
)
from tests.helpers.stack import temporary_stack


async def run(customers: int, workdir: Path, which: str, channel: str, failing: float) -> None:
    twilio = FakeTwilio().start()
    texts = twilio if channel == "sms" else None
    with contextlib.ExitStack() as stacks:
        database_url = None
        if which == "postgres":
            database_url = stacks.enter_context(fresh_database("postgresql", workdir))
        stack = stacks.enter_context(
            temporary_stack(
                workdir, app_env=sms_stack_env(workdir, twilio), database_url=database_url
            )
        )
        twilio.fail_at_random(failing, 500, 503, 429, "drop")
        began = time.monotonic()
        if which in ("none", "postgres"):
            fault = terminating_connections(stack.settings.database_url) if database_url else None
            survey_ids, outcome = await converse(stack, customers, fault, texts)
            timing = f"every customer answered {time.monotonic() - began:.1f} s after they began"
            if fault is not None:
                timing += f"; connections terminated: {fault.terminated}"  # type: ignore[attr-defined]
        else:
            result = await kill_midway(stack, customers, which, twilio=texts)
            survey_ids, outcome = result.survey_ids, result.outcome
            timing = (
                f"{which} back {result.back_after:.1f} s after the kill (2 s pause + start); "
                f"every customer answered {result.all_answered_after:.1f} s after the kill"
            )
        counts = count(stack.settings.database_url, survey_ids, texts)
    print(f"conversations: {counts.surveys} by {channel} (two answers each)")
    print(f"answers stored as said: {counts.answers_stored}; lost: {counts.answers_lost}")
    print(f"customer messages stored twice: {counts.messages_twice}")
    print(f"surveys not completed: {counts.incomplete}; still waiting: {counts.still_waiting}")
    if texts is not None:
        refused = twilio.attempts - len(twilio.messages)
        print(
            f"texts: {len(twilio.messages)} made by Twilio, {refused} of {twilio.attempts} "
            f"requests failed; texts received twice: {counts.texts_twice}; "
            f"stored but never sent: {counts.texts_unsent}"
        )
    print(f"turns told to wait for the bot and answered later: {len(outcome.waited)}")
    print(f"widgets that connected again: {outcome.reconnected}")
    print(timing)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument(
        "--kill",
        choices=["rasa", "actions", "app-0", "postgres", "none"],
        default="rasa",
        help="which process (app-0: the app), or every PostgreSQL connection",
    )
    parser.add_argument("--channel", choices=["web", "sms"], default="web")
    parser.add_argument(
        "--twilio-failing",
        type=float,
        default=0.0,
        help="share of Twilio requests that fail (5xx, 429, or cut after the message was made)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="feedbot-faults-") as workdir:
        asyncio.run(
            run(args.customers, Path(workdir), args.kill, args.channel, args.twilio_failing)
        )


if __name__ == "__main__":
    main()
