"""How soon a hand-off appears in an open agent console.

    make bench-handoff     (or: .venv/bin/python -m bench.handoff --help)

Starts the stack (app, Rasa, action server on 127.0.0.1) with an agent
token, opens the console's live event stream (/agent/events, as the
console page does), then runs N customers at once on the widget's
WebSocket: each gives a score of 1 and a reason, and accepts the offer of a
person. For each, it measures from sending the "yes" to the `opened` event
reaching the console, against the same customer's own turn (sending the
"yes" until the widget has the bot's answer), in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp

from tests.helpers.stack import temporary_stack

TOKEN = "bench-agent-token"


def quantile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


async def console(http: aiohttp.ClientSession, base: str, seen: dict[str, float]) -> None:
    """Read the event stream; note when each hand-off's 'opened' arrived."""
    async with http.get(
        f"{base}/agent/events", headers={"Authorization": f"Bearer {TOKEN}"}
    ) as resp:
        assert resp.status == 200, resp.status
        async for line in resp.content:
            if line.startswith(b"data: "):
                event = json.loads(line[6:])
                if event["event"] == "opened":
                    seen.setdefault(event["handoff_id"], time.perf_counter())


async def customer(
    http: aiohttp.ClientSession, ws_url: str, base: str, seen: dict[str, float], asks: bool
) -> tuple[float, float]:
    """One detractor handed over: (to the console, own turn) in seconds, from
    the message that hands over: "yes" to the offer of a person (answered by
    the app), or asking for one (a Rasa turn and the action server)."""
    async with http.ws_connect(ws_url) as ws:

        async def turn(frame: dict[str, str]) -> dict[str, str]:
            await ws.send_json(frame)
            survey: dict[str, str] = {}
            while True:
                got = await ws.receive_json(timeout=120)
                if got["type"] == "survey":
                    survey = got
                if got["type"] == "ready":
                    return survey

        survey = await turn({"type": "start", "touchpoint": "support"})
        await turn({"type": "message", "text": "1", "id": uuid.uuid4().hex})
        await turn(
            {"type": "message", "text": "rude staff, I want a refund", "id": uuid.uuid4().hex}
        )
        before = set(seen)
        began = time.perf_counter()
        await turn({"type": "message", "text": "yes please", "id": uuid.uuid4().hex})
        answered = time.perf_counter() - began
    survey_id = survey["survey_id"]
    async with http.get(
        f"{base}/api/handoffs", headers={"Authorization": f"Bearer {TOKEN}"}
    ) as resp:
        queue = (await resp.json())["handoffs"]
    handoff_id = next(h["id"] for h in queue if h["survey_id"] == survey_id)
    for _ in range(600):
        if handoff_id in seen and handoff_id not in before:
            return seen[handoff_id] - began, answered
        await asyncio.sleep(0.01)
    raise TimeoutError(f"hand-off {handoff_id} never reached the console")


async def run(args: argparse.Namespace, base: str, ws_url: str) -> None:
    seen: dict[str, float] = {}
    connector = aiohttp.TCPConnector(limit=args.concurrency * 3)
    async with aiohttp.ClientSession(connector=connector) as http:
        listener = asyncio.create_task(console(http, base, seen))
        await asyncio.sleep(0.5)
        await customer(http, ws_url, base, seen, asks=True)  # warm-up
        times: dict[bool, tuple[list[float], list[float]]] = {True: ([], []), False: ([], [])}
        for round_ in range(args.rounds):
            for asks in (False, True):
                results = await asyncio.gather(
                    *(customer(http, ws_url, base, seen, asks) for _ in range(args.concurrency))
                )
                times[asks][0].extend(r[0] for r in results)
                times[asks][1].extend(r[1] for r in results)
            print(f"round {round_ + 1}/{args.rounds} done", file=sys.stderr, flush=True)
        listener.cancel()
    for asks, label in ((False, "accepts the offer ('yes')"), (True, "asks for a manager")):
        report(args, label, *times[asks])


def report(
    args: argparse.Namespace, label: str, to_console: list[float], own_turn: list[float]
) -> None:
    ms = 1000
    print(
        f"\n{args.concurrency} detractors at once, {args.rounds} rounds, "
        f"{len(to_console)} hand-offs; the customer {label}\n"
    )
    print(f"{'':<40} {'p50 ms':>8} {'p95 ms':>8}")
    for name, values in (
        ("→ the hand-off in the open console", to_console),
        ("→ the bot's answer in the widget", own_turn),
    ):
        print(
            f"{name:<40} {statistics.median(values) * ms:>8.1f} {quantile(values, 95) * ms:>8.1f}"
        )
    p50 = statistics.median(to_console) / statistics.median(own_turn)
    p95 = quantile(to_console, 95) / quantile(own_turn, 95)
    print(f"{'console / widget':<40} {p50:>7.2f}x {p95:>7.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, default=50, help="customers at once")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="feedbot-bench-") as workdir:
        print("Starting Rasa, the action server and the app…", file=sys.stderr, flush=True)
        with temporary_stack(Path(workdir), app_env={"FEEDBOT_AGENT_TOKEN": TOKEN}) as stack:
            settings = stack.settings
            asyncio.run(run(args, settings.public_base_url, f"ws://127.0.0.1:{settings.port}/chat"))


if __name__ == "__main__":
    main()
