"""Per-turn latency and throughput through the app, against Rasa's own REST
channel with the same model, action server and database, in the same run.

    make bench        (or: .venv/bin/python -m bench.turn_latency --help)

Each conversation is the survey a customer answers: the opening turn, a
score, a reason. Through the app it goes over the widget's WebSocket (and is
stored as a transcript); directly it is POSTed to Rasa's REST webhook. The two
are run alternately, in rounds, so that the machine's noise falls on both.
Everything runs on 127.0.0.1 and stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp

from tests.helpers.stack import temporary_stack

SCRIPT = ["9", "The staff were friendly and quick"]
Conversation = Callable[[aiohttp.ClientSession], Awaitable[list[float]]]


def via_app(ws_url: str, think_s: float = 0.0) -> Conversation:
    """The survey over the widget's WebSocket. ``think_s``: how long the
    customer takes to read and answer each question (not counted in the
    turn's time); 0 answers the instant the bot is ready."""

    async def converse(http: aiohttp.ClientSession) -> list[float]:
        times = []
        async with http.ws_connect(ws_url) as ws:
            for i, frame in enumerate(
                [{"type": "start", "touchpoint": "support"}]
                + [{"type": "message", "text": t, "id": uuid.uuid4().hex} for t in SCRIPT]
            ):
                if i and think_s:
                    await asyncio.sleep(think_s)
                began = time.perf_counter()
                await ws.send_json(frame)
                while (await ws.receive_json(timeout=60))["type"] != "ready":
                    pass
                times.append(time.perf_counter() - began)
        return times

    return converse


def via_rasa(rasa_url: str) -> Conversation:
    async def converse(http: aiohttp.ClientSession) -> list[float]:
        sender = uuid.uuid4().hex
        metadata = {"touchpoint": "support", "channel": "web"}
        times = []
        for text in ["/start_survey", *SCRIPT]:
            began = time.perf_counter()
            async with http.post(
                f"{rasa_url}/webhooks/rest/webhook",
                json={"sender": sender, "message": text, "metadata": metadata},
            ) as resp:
                assert resp.status == 200, await resp.text()
                await resp.json()
            times.append(time.perf_counter() - began)
        return times

    return converse


async def run_load(
    converse: Conversation, conversations: int, concurrency: int, ramp_s: float = 0.0
) -> dict[str, float]:
    """Run ``conversations`` surveys, ``concurrency`` at a time.

    With ``ramp_s`` (steady state, for many customers at once), customers
    join evenly over the first ``ramp_s`` seconds, as real ones arrive,
    instead of all in the same millisecond, and the figures are of the
    steady part of the run only: latencies of the conversations that began
    once every customer had joined and before the last conversation was
    handed out, and turns a second over that same window. Without it, every
    customer starts at once and every turn counts (one at a time, 20 at
    once)."""
    queue: asyncio.Queue[None] = asyncio.Queue()
    for _ in range(conversations):
        queue.put_nowait(None)
    runs: list[tuple[float, float, list[float]]] = []  # began, ended, turn times
    last_handed_out = 0.0

    async def worker(http: aiohttp.ClientSession, delay: float) -> None:
        nonlocal last_handed_out
        await asyncio.sleep(delay)
        while not queue.empty():
            queue.get_nowait()
            began = last_handed_out = time.perf_counter()
            times = await converse(http)
            runs.append((began, time.perf_counter(), times))

    connector = aiohttp.TCPConnector(limit=concurrency * 2)
    async with aiohttp.ClientSession(connector=connector) as http:
        start = time.perf_counter()
        await asyncio.gather(*(worker(http, ramp_s * k / concurrency) for k in range(concurrency)))
        elapsed = time.perf_counter() - start
    if not ramp_s:
        latencies = [t for _, _, times in runs for t in times]
        return summarise(latencies, len(latencies) / elapsed)
    steady_from, steady_to = start + ramp_s, last_handed_out
    if steady_to - steady_from < 1.0:
        raise ValueError(
            f"{conversations} conversations at {concurrency} at once leave no steady part "
            f"after a {ramp_s} s ramp: run more conversations"
        )
    latencies = [t for began, _, times in runs if steady_from <= began <= steady_to for t in times]
    done = sum(len(times) for _, ended, times in runs if steady_from <= ended <= steady_to)
    return summarise(latencies, done / (steady_to - steady_from)) | {
        "all_turns": sum(len(times) for _, _, times in runs)
    }


def summarise(latencies: list[float], turns_per_s: float) -> dict[str, float]:
    cuts = statistics.quantiles(latencies, n=100)
    return {
        "turns": len(latencies),
        "p50_ms": statistics.median(latencies) * 1000,
        "p95_ms": cuts[94] * 1000,
        "turns_per_s": turns_per_s,
    }


def merge(rounds: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}


async def benchmark(args: argparse.Namespace, ws_url: str, rasa_url: str) -> None:
    app, rasa = via_app(ws_url), via_rasa(rasa_url)
    await run_load(app, 5, 1)  # warm up both paths (model, caches, connections)
    await run_load(rasa, 5, 1)
    print(f"{args.rounds} rounds, median of rounds; each conversation = {1 + len(SCRIPT)} turns\n")
    header = f"{'concurrency':>11} {'path':<11} {'p50 ms':>8} {'p95 ms':>8} {'turns/s':>8}"
    print(header)
    print("-" * len(header))
    for concurrency, conversations in ((1, args.conversations_1), (20, args.conversations_20)):
        results: dict[str, list[dict[str, float]]] = {"app": [], "rasa": []}
        for _ in range(args.rounds):
            results["app"].append(await run_load(app, conversations, concurrency))
            results["rasa"].append(await run_load(rasa, conversations, concurrency))
        app_m, rasa_m = merge(results["app"]), merge(results["rasa"])
        for name, m in (("app (ws)", app_m), ("rasa rest", rasa_m)):
            print(
                f"{concurrency:>11} {name:<11} {m['p50_ms']:>8.1f} {m['p95_ms']:>8.1f} "
                f"{m['turns_per_s']:>8.1f}"
            )
        print(
            f"{'':>11} {'app/rasa':<11} {app_m['p50_ms'] / rasa_m['p50_ms']:>7.2f}x "
            f"{app_m['p95_ms'] / rasa_m['p95_ms']:>7.2f}x "
            f"{app_m['turns_per_s'] / rasa_m['turns_per_s']:>7.2f}x\n"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per level")
    parser.add_argument("--conversations-1", type=int, default=20, help="per round, 1 at a time")
    parser.add_argument("--conversations-20", type=int, default=60, help="per round, 20 at once")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="feedbot-bench-") as workdir:
        print("Starting Rasa, the action server and the app…", flush=True)
        with temporary_stack(Path(workdir)) as stack:
            settings = stack.settings
            asyncio.run(benchmark(args, f"ws://127.0.0.1:{settings.port}/chat", settings.rasa_url))


if __name__ == "__main__":
    main()
