"""Turn time and throughput as Feedbot scales, against the code as it was at
commit 12d500a, all started in the same run and measured alternately.

    make bench-scale      (or: .venv/bin/python -m bench.scale --help)

Three stacks run side by side on 127.0.0.1:
  (a) baseline: commit 12d500a (a git worktree of this repository), one app,
      one Rasa, one action server, on SQLite;
  (b) now: the current code, the same single-machine layout (`make run`);
  (c) scaled: the current code as `feedbot run --app-instances 2
      --rasa-instances 2`, on a fresh PostgreSQL database and Redis.
Each conversation is the widget's three-turn survey (opening, a score, a
reason) over the WebSocket; with several app instances, conversations are
spread over them as a load balancer would. For each concurrency (1, 20,
100) the stacks take turns, round after round, so the machine's noise falls
on all of them; the median of the rounds is printed with ratios to (a).
Everything stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import aiohttp

from bench.checkouts import checkout
from bench.processes import rss_mb
from bench.turn_latency import SCRIPT, merge, run_load, via_app
from commands.runner import Layout
from feedbot import rasa_env
from tests.databases import fresh_database
from tests.helpers.stack import Stack, temporary_stack

BASELINE = "12d500a"
REDIS_URL = "redis://127.0.0.1:6379/0"
# (customers at once, conversations per round, seconds each customer takes
# to answer). With no time to answer, 100 customers keep 100 turns waiting
# at every moment, so a turn's mean time is 100 / (turns a second) (Little's
# law): at 40 turns/s, 2.5 s whatever the code. The last level is 100
# customers who take 1.5 s to read and answer each question (a fast typist).
LEVELS = [(1, 10, 0.0), (20, 60, 0.0), (100, 200, 0.0), (100, 200, 1.5)]


def spread_over(ws_urls: list[str], think_s: float = 0.0):  # type: ignore[no-untyped-def]
    """One conversation after another goes to the next app instance."""
    conversations = [via_app(url, think_s) for url in ws_urls]
    turn = itertools.cycle(conversations)

    async def converse(http: aiohttp.ClientSession) -> list[float]:
        return await next(turn)(http)

    return converse


@contextmanager
def baseline_stack(workdir: Path) -> Iterator[tuple[list[str], int]]:
    """Commit 12d500a from a git worktree, started by its own temporary stack
    in a child process (its packages shadow the current ones there)."""
    with checkout(BASELINE, workdir / "baseline") as tree:
        (tree / "models").symlink_to(rasa_env.MODELS_DIR)
        (tree / "stack").mkdir()
        script = (
            "import sys, time\n"
            "from pathlib import Path\n"
            "from feedbot.runner import temporary_stack\n"
            "with temporary_stack(Path(sys.argv[1])) as s:\n"
            "    print(f'ws://127.0.0.1:{s.port}/chat', flush=True)\n"
            "    sys.stdin.read()\n"
        )
        env = dict(os.environ, RASA_BIN=str(rasa_env.rasa_executable()))
        process = subprocess.Popen(
            [sys.executable, "-c", script, str(tree / "stack")],
            cwd=tree,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert process.stdout is not None
            line = process.stdout.readline().strip()
            if not line.startswith("ws://"):
                raise RuntimeError(f"the baseline did not start; logs in {tree / 'stack' / 'log'}")
            yield [line], process.pid
        finally:
            if process.stdin:
                process.stdin.close()
            process.wait(60)


def ws_urls(stack: Stack) -> list[str]:
    return [url.replace("http://", "ws://") + "/chat" for url in stack.app_urls]


def memory(stack: Stack) -> dict[str, float]:
    """MB per kind of process: one app instance, one Rasa, one action server."""
    kinds: dict[str, list[float]] = {}
    for child in stack.children:
        kind = child.name.split("-")[0]
        kinds.setdefault(kind, []).append(rss_mb(child.process.pid))
    return {kind: sum(v) / len(v) for kind, v in kinds.items()}


async def measure(layouts: dict[str, list[str]], rounds: int, ramp_s: float = 0.0) -> None:
    for urls in layouts.values():  # warm up: models, caches, connections
        await run_load(spread_over(urls), 6, 2)
    print(f"\n{rounds} rounds, median of rounds; a conversation = {1 + len(SCRIPT)} turns")
    header = f"{'concurrent':>10} {'stack':<10} {'p50 ms':>9} {'p95 ms':>9} {'turns/s':>8}"
    header += f" {'p50/a':>7} {'turns/s÷a':>10}"
    print(header)
    print("-" * len(header), flush=True)
    for concurrency, conversations, think_s in LEVELS:
        converse = {name: spread_over(urls, think_s) for name, urls in layouts.items()}
        ramp = ramp_s if concurrency >= 100 else 0.0
        if think_s:
            print(f"{concurrency} at once, each taking {think_s} s to answer:")
        if ramp:
            print(f"{concurrency} customers joining over {ramp} s; the steady part only:")
        results: dict[str, list[dict[str, float]]] = {name: [] for name in layouts}
        for _ in range(rounds):
            for name in layouts:
                results[name].append(
                    await run_load(converse[name], conversations, concurrency, ramp)
                )
        base = merge(results[next(iter(layouts))])
        for name in layouts:
            m = merge(results[name])
            print(
                f"{concurrency:>10} {name + ' ' + LABELS[name]:<10} {m['p50_ms']:>9.1f} "
                f"{m['p95_ms']:>9.1f} {m['turns_per_s']:>8.1f} "
                f"{m['p50_ms'] / base['p50_ms']:>6.2f}x "
                f"{m['turns_per_s'] / base['turns_per_s']:>9.2f}x",
                flush=True,
            )
        print()


LABELS = {"a": "12d500a", "b": "now", "c": "2+2"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per level")
    parser.add_argument(
        "--only", default="abc", help="which stacks to run (the ratios need a): e.g. ab"
    )
    parser.add_argument(
        "--ramp",
        type=float,
        default=0.0,
        help="at 100 at once, customers join over this many seconds instead of all in the "
        "same millisecond, and only the steady part (everyone in, before the last "
        "conversation is handed out) is measured",
    )
    args = parser.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="feedbot-bench-scale-") as tmp, ExitStack() as stacks:
        work = Path(tmp)
        print("Starting (a) 12d500a, (b) now and (c) 2 app + 2 Rasa instances…", flush=True)
        layouts: dict[str, list[str]] = {}
        baseline_pid = None
        if "a" in args.only:
            layouts["a"], baseline_pid = stacks.enter_context(baseline_stack(work))
        running: dict[str, Stack] = {}
        if "b" in args.only:
            (work / "b").mkdir()
            running["b"] = stacks.enter_context(temporary_stack(work / "b"))
        if "c" in args.only:
            (work / "c").mkdir()
            database = stacks.enter_context(fresh_database("postgresql", work))
            running["c"] = stacks.enter_context(
                temporary_stack(
                    work / "c",
                    database_url=database,
                    layout=Layout(app_instances=2, rasa_instances=2),
                    redis_url=REDIS_URL,
                )
            )
        layouts.update({name: ws_urls(stack) for name, stack in running.items()})
        print(f"started in {time.monotonic() - started:.0f} s", flush=True)
        asyncio.run(measure(layouts, args.rounds, args.ramp))
        print("memory per process (MB, RSS):")
        if baseline_pid:
            print(f"  a {LABELS['a']}: everything together {rss_mb(baseline_pid):.0f}")
        for name, stack in running.items():
            print(
                f"  {name} {LABELS[name]}: "
                + ", ".join(f"{kind} {mb:.0f}" for kind, mb in memory(stack).items())
            )


if __name__ == "__main__":
    main()
