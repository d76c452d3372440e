"""CPU time per turn of every process a turn touches, for sizing: the app
instances, the Rasa instances, the action servers, and the PostgreSQL and
Redis servers, measured over the same load.

    .venv/bin/python -m bench.cpu [--conversations 200] [--concurrency 100]

It starts the current code as 2 app + 2 Rasa instances on a fresh PostgreSQL
database and Redis (as `bench.scale` (c) does), runs three-turn surveys over
the widget's WebSocket spread over both app instances, and prints each kind
of process's user + system CPU per turn (from /proc), the total, and what
that total means: turns per second per CPU core if the CPU were the only
limit. Other work on a shared machine shows up in PostgreSQL's and Redis's
figures only if it uses those servers at the same time.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import psycopg

from bench.processes import cpu_seconds, descendants
from bench.scale import REDIS_URL, spread_over, ws_urls
from bench.turn_latency import run_load
from commands.runner import Layout
from tests.databases import PG_ADMIN, fresh_database
from tests.helpers.stack import temporary_stack


def pids_named(name: str) -> list[int]:
    """Every process whose executable's name starts with ``name``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip().startswith(name):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def connections_opened(database_url: str) -> int:
    """How many connections PostgreSQL has accepted to this database so far."""
    name = database_url.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        row = conn.execute("SELECT sessions FROM pg_stat_database WHERE datname = %s", (name,))
        return int(row.fetchone()[0])


def snapshot(groups: dict[str, list[int]]) -> dict[str, float]:
    totals = {}
    for kind, pids in groups.items():
        total = 0.0
        for pid in pids:
            try:
                total += cpu_seconds(pid, with_waited_children=True)
            except OSError:  # a PostgreSQL backend that ended
                continue
        totals[kind] = total
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument(
        "--think", type=float, default=0.0, help="seconds each customer takes to answer"
    )
    parser.add_argument(
        "--ramp",
        type=float,
        default=0.0,
        help="customers join over this many seconds; figures of the steady part only",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="feedbot-bench-cpu-") as tmp:
        work = Path(tmp)
        with (
            fresh_database("postgresql", work) as database,
            temporary_stack(
                work,
                database_url=database,
                layout=Layout(app_instances=2, rasa_instances=2),
                redis_url=REDIS_URL,
            ) as stack,
        ):
            converse = spread_over(ws_urls(stack), args.think)
            asyncio.run(run_load(converse, 10, 4))  # warm up
            groups: dict[str, list[int]] = {}
            instances: dict[str, list[int]] = {}  # each Rasa instance on its own
            for child in stack.children:  # with their own children (Sanic's workers)
                pids = descendants(child.process.pid)
                groups.setdefault(child.name.split("-")[0], []).extend(pids)
                if child.name.startswith("rasa"):
                    instances[child.name] = pids
            before_pg = set(pids_named("postgres"))
            groups["redis"] = pids_named("redis-server")
            groups["postgres"] = list(before_pg)
            before = snapshot(groups)
            instances_before = snapshot(instances)
            opened_before = connections_opened(database)
            own_before = time.process_time()
            result = asyncio.run(
                run_load(converse, args.conversations, args.concurrency, args.ramp)
            )
            load_generator = time.process_time() - own_before
            # Backends that ended during the run are gone from /proc; the
            # connection pools keep theirs, so this loses little.
            groups["postgres"] = sorted(before_pg | set(pids_named("postgres")))
            after = snapshot(groups)
            instances_after = snapshot(instances)
            opened = connections_opened(database) - opened_before
    turns = result.get("all_turns", result["turns"])
    steady = f" (steady part: {result['turns']:.0f} turns)" if args.ramp else ""
    print(
        f"{turns:.0f} turns, {args.concurrency} at once: {result['turns_per_s']:.1f} turns/s, "
        f"p50 {result['p50_ms']:.0f} ms, p95 {result['p95_ms']:.0f} ms{steady}"
    )
    print(f"PostgreSQL connections opened: {opened} ({opened / turns:.2f} a turn)")
    print(f"{'process':<10} {'CPU ms a turn':>14}")
    total = 0.0
    for kind in groups:
        ms = 1000 * (after[kind] - before.get(kind, 0.0)) / turns
        total += ms
        print(f"{kind:<10} {ms:>14.1f}")
    print(f"{'total':<10} {total:>14.1f}")
    # Conversations are spread by a hash of their id: how evenly it fell.
    used = {name: instances_after[name] - instances_before[name] for name in instances}
    if len(used) > 1 and sum(used.values()) > 0:
        shares = ", ".join(f"{n} {100 * u / sum(used.values()):.0f}%" for n, u in used.items())
        print(f"Rasa's CPU by instance: {shares}")
    print(
        f"(and this load generator itself, on the same cores: "
        f"{1000 * load_generator / turns:.1f} ms a turn)"
    )
    print(f"=> about {1000 / total:.0f} turns/s per CPU core if CPU were the only limit")


if __name__ == "__main__":
    main()
