"""How many statements the app sends its store for each turn of a survey.

    .venv/bin/python -m bench.store_queries

A real Rasa and action server (a temporary stack), and the app built in this
process on the stack's database, so that every SQL statement it sends can be
counted (SQLAlchemy's `before_cursor_execute`); the scheduler does not run.
Three web surveys are answered over the widget's WebSocket: a promoter with a
clear reason, a passive with a vague reason and a probe answer, a detractor
who is offered a person. For each kind of turn it prints the statements the
app sent between the customer's frame and the `ready` frame (the action
server's own statements are not the app's, and are not counted). Counts, not
times: the same on any machine.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import uuid
from collections import defaultdict
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import event

from bot.app import create_app
from bot.keys import STORE
from feedbot.settings import Settings
from tests.helpers.stack import temporary_stack

SURVEYS = {
    "promoter, clear reason": ["9", "the staff were friendly and quick"],
    "passive, vague reason, probe": ["7", "it was ok", "the queue was long"],
    "detractor, offered a person": ["2", "the parcel arrived broken", "no thanks"],
}


async def count_turns(settings: Settings, show: bool = False) -> dict[str, list[int]]:
    app = create_app(settings, run_scheduler=False)
    counts: dict[str, list[int]] = defaultdict(list)
    async with TestClient(TestServer(app)) as client:
        engine = app[STORE].engine.sync_engine
        statements = [0]

        def counted(_conn: object, _cursor: object, statement: str, *_: object) -> None:
            statements[0] += 1
            if show:
                print("   ", " ".join(statement.split())[:110])

        event.listen(engine, "before_cursor_execute", counted)
        for kind, answers in SURVEYS.items():
            async with client.ws_connect("/chat") as ws:
                frames = [{"type": "start", "touchpoint": "support"}] + [
                    {"type": "message", "text": a, "id": uuid.uuid4().hex} for a in answers
                ]
                for i, frame in enumerate(frames):
                    statements[0] = 0
                    await ws.send_json(frame)
                    while (await ws.receive_json(timeout=60))["type"] != "ready":
                        pass
                    turn = "opening" if i == 0 else f"{kind}: answer {i}"
                    counts[turn].append(statements[0])
                    if show:
                        print(f"  ^ {turn}")
        event.remove(engine, "before_cursor_execute", counted)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--show", action="store_true", help="print each statement")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        with temporary_stack(Path(workdir)) as stack:
            counts = asyncio.run(count_turns(stack.settings, args.show))
    print(f"{'turn':<48} {'statements':>10}")
    for turn, found in counts.items():
        print(f"{turn:<48} {statistics.mean(found):>10.1f}")
    every = [n for found in counts.values() for n in found]
    print(f"{'mean over every turn':<48} {statistics.mean(every):>10.1f}")


if __name__ == "__main__":
    main()
