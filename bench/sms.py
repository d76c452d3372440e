"""SMS benchmarks: the real app, Rasa and action server, and the real
`twilio` library talking to the fake Twilio (tests/fake_twilio.py), all on
127.0.0.1, started and stopped by the benchmark.

    make bench-sms         both, with the defaults below
    .venv/bin/python -m bench.sms turns --help
    .venv/bin/python -m bench.sms bulk --help

turns: 50 customers answer an SMS survey at once. For every inbound text it
measures how soon the app acknowledges Twilio's webhook, and how long until
the bot's reply reaches (the fake) Twilio. The same conversations over the web
widget's WebSocket, in alternate rounds of the same run, are the baseline.

bulk: `feedbot survey send --csv` with N interactions (default 10,000)
against an app configured with TWILIO_MAX_PER_SECOND. It reports the rate
the fake Twilio received messages at against the limit, and the app's
resident memory as the send goes on.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import yaml
from twilio.request_validator import RequestValidator

from bench.processes import rss_mb
from bench.turn_latency import SCRIPT, via_app
from feedbot.settings import PROJECT_ROOT, Settings
from tests.databases import fresh_database
from tests.fake_twilio import AUTH_TOKEN, FakeTwilio
from tests.helpers.stack import temporary_stack

TOKEN = "bench-token"
TOUCHPOINT = "support"


@contextlib.contextmanager
def sms_stack(
    fake: FakeTwilio, max_per_second: float | None = None, database_url: str | None = None
) -> Iterator[Settings]:
    """The stack with the SMS channel on, against the fake Twilio, on a fresh
    SQLite database unless an empty database's URL is given. Quiet hours are
    off so that results do not depend on the hour the benchmark runs at."""
    with tempfile.TemporaryDirectory(prefix="feedbot-bench-") as tmp:
        workdir = Path(tmp)
        touchpoints = yaml.safe_load((PROJECT_ROOT / "touchpoints.yml").read_text())
        touchpoints["contact_rules"]["quiet_hours"] = None
        (workdir / "touchpoints.yml").write_text(yaml.safe_dump(touchpoints))
        env = {
            "FEEDBOT_TOUCHPOINTS": str(workdir / "touchpoints.yml"),
            "FEEDBOT_API_TOKEN": TOKEN,
            **fake.app_env(),
        }
        if max_per_second:
            env["TWILIO_MAX_PER_SECOND"] = str(max_per_second)
        print("Starting Rasa, the action server and the app…", file=sys.stderr, flush=True)
        with temporary_stack(workdir, app_env=env, database_url=database_url) as stack:
            yield stack.settings


def phone_number(n: int) -> str:
    """Distinct valid UK mobile numbers (07911 7xxxxx)."""
    return f"+4479117{n:05d}"


def quantile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


# --- turns ------------------------------------------------------------------


async def next_arrival(fake: FakeTwilio, phone: str, seen: int, within: float = 120) -> float:
    deadline = time.perf_counter() + within
    while time.perf_counter() < deadline:
        arrivals = fake.arrivals(phone)
        if len(arrivals) > seen:
            return arrivals[seen]
        await asyncio.sleep(0.005)
    raise TimeoutError(f"no reply to {phone} within {within:.0f} s")


async def sms_conversation(
    http: aiohttp.ClientSession, settings: Settings, fake: FakeTwilio, phone: str
) -> tuple[list[float], list[float], list[float]]:
    """One customer's survey by SMS: (acknowledgement times, turn times, and
    the baseline for the acknowledgement: a static file fetched from the app
    just before each text, under the same load)."""
    async with http.post(
        f"{settings.public_base_url}/api/surveys",
        json={
            "channel": "sms",
            "phone": phone,
            "touchpoint": TOUCHPOINT,
            "interaction_id": uuid.uuid4().hex,
        },
        headers={"Authorization": f"Bearer {TOKEN}"},
    ) as resp:
        body = await resp.json()
        assert resp.status == 201 and body["status"] == "sent", body
    url = f"{settings.public_base_url}/sms/inbound"
    validator = RequestValidator(AUTH_TOKEN)
    acks, turns, floors = [], [], []
    for text in SCRIPT:
        began = time.perf_counter()
        async with http.get(f"{settings.public_base_url}/static/widget.css") as resp:
            await resp.read()
            assert resp.status == 200, resp.status
        floors.append(time.perf_counter() - began)
        seen = len(fake.arrivals(phone))
        form = {"MessageSid": "SM" + uuid.uuid4().hex, "From": phone, "Body": text}
        headers = {"X-Twilio-Signature": validator.compute_signature(url, form)}
        began = time.perf_counter()
        async with http.post(url, data=form, headers=headers) as resp:
            await resp.read()
            assert resp.status == 200, resp.status
        acks.append(time.perf_counter() - began)
        turns.append(await next_arrival(fake, phone, seen) - began)
    return acks, turns, floors


async def web_conversation(http: aiohttp.ClientSession, ws_url: str) -> list[float]:
    """The same answers over the widget: the turn times after the opening."""
    return (await via_app(ws_url)(http))[1:]


async def turns(args: argparse.Namespace) -> None:
    fake = FakeTwilio().start()
    numbers = iter(range(100_000))
    with sms_stack(fake) as settings:
        ws_url = f"ws://127.0.0.1:{settings.port}/chat"
        connector = aiohttp.TCPConnector(limit=args.concurrency * 3)
        async with aiohttp.ClientSession(connector=connector) as http:
            # Warm both paths (model, caches, connections).
            await sms_conversation(http, settings, fake, phone_number(next(numbers)))
            await web_conversation(http, ws_url)
            acks: list[float] = []
            floors: list[float] = []
            sms_turns: list[float] = []
            web_turns: list[float] = []
            for round_ in range(args.rounds):
                results = await asyncio.gather(
                    *(
                        sms_conversation(http, settings, fake, phone_number(next(numbers)))
                        for _ in range(args.concurrency)
                    )
                )
                for round_acks, round_turns, round_floors in results:
                    acks += round_acks
                    sms_turns += round_turns
                    floors += round_floors
                for times in await asyncio.gather(
                    *(web_conversation(http, ws_url) for _ in range(args.concurrency))
                ):
                    web_turns += times
                print(f"round {round_ + 1}/{args.rounds} done", file=sys.stderr, flush=True)
    ms = 1000
    print(
        f"\n{args.concurrency} concurrent conversations, {args.rounds} rounds, "
        f"{len(acks)} inbound texts and {len(web_turns)} web messages\n"
    )
    print(f"{'':<36} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    rows = [
        ("SMS webhook acknowledged", acks),
        ("static file from the app (baseline)", floors),
        ("SMS turn (inbound → reply sent)", sms_turns),
        ("web turn (message → reply shown)", web_turns),
    ]
    for name, values in rows:
        print(
            f"{name:<36} {statistics.median(values) * ms:>8.1f} "
            f"{quantile(values, 95) * ms:>8.1f} {quantile(values, 99) * ms:>8.1f}"
        )
    print(
        f"{'SMS turn / web turn':<36} "
        f"{statistics.median(sms_turns) / statistics.median(web_turns):>7.2f}x "
        f"{quantile(sms_turns, 95) / quantile(web_turns, 95):>7.2f}x "
        f"{quantile(sms_turns, 99) / quantile(web_turns, 99):>7.2f}x"
    )
    print(
        f"{'acknowledgement / static file':<36} "
        f"{statistics.median(acks) / statistics.median(floors):>7.2f}x "
        f"{quantile(acks, 95) / quantile(floors, 95):>7.2f}x "
        f"{quantile(acks, 99) / quantile(floors, 99):>7.2f}x"
    )


# --- bulk -------------------------------------------------------------------


def app_pid(port: int) -> int:
    """The `feedbot serve` child listening on this port."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if (
            b"commands.cli" in cmdline
            and b"serve" in cmdline
            and f"PORT={port}".encode() in environ
        ):
            return int(entry.name)
    raise RuntimeError(f"no app process found for port {port}")


def bulk(args: argparse.Namespace) -> None:
    fake = FakeTwilio().start()
    with contextlib.ExitStack() as stack:
        database_url = None
        if args.database == "postgresql":
            database_url = stack.enter_context(fresh_database("postgresql", Path(".")))
        _bulk(args, fake, stack.enter_context(sms_stack(fake, args.rate, database_url)))


def _bulk(args: argparse.Namespace, fake: FakeTwilio, settings: Settings) -> None:
    pid = app_pid(settings.port)
    with tempfile.TemporaryDirectory(prefix="feedbot-bench-") as tmp:
        csv_path = Path(tmp) / "interactions.csv"
        with csv_path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["channel", "phone", "touchpoint", "location", "interaction_id"])
            for n in range(args.surveys):
                writer.writerow(["sms", phone_number(n), TOUCHPOINT, "", f"bulk-{n}"])

        samples: list[tuple[int, float]] = []  # (messages received, app RSS MB)
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(1.0):
                samples.append((len(fake.received_at), rss_mb(pid)))

        sampler = threading.Thread(target=sample, daemon=True)
        rss_before = rss_mb(pid)
        sampler.start()
        began = time.perf_counter()
        result = subprocess.run(
            [
                *(sys.executable, "-m", "commands.cli", "survey", "send"),
                *("--csv", str(csv_path), "--url", settings.public_base_url),
                *("--concurrency", str(args.concurrency)),
            ],
            env=dict(os.environ, FEEDBOT_API_TOKEN=TOKEN),
            cwd=PROJECT_ROOT,
            check=False,
        )
        elapsed = time.perf_counter() - began
        stop.set()
        sampler.join()
        rss_after = rss_mb(pid)
    arrivals = list(fake.received_at)
    if result.returncode != 0 or len(arrivals) < 2:
        sys.exit(f"the bulk send failed (exit {result.returncode}, {len(arrivals)} messages)")
    # The steady rate: messages after the first, over the time from the first.
    achieved = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])
    print(f"\n{args.surveys} surveys, {len(arrivals)} messages in {elapsed:.0f} s")
    print(f"limit (TWILIO_MAX_PER_SECOND)  {args.rate:>8.2f} messages/s")
    print(f"achieved at the fake Twilio    {achieved:>8.2f} messages/s")
    print(f"achieved / limit               {achieved / args.rate:>8.3f}x")
    print(f"\napp resident memory (MB): {rss_before:.0f} before the send")
    total = len(arrivals)
    for share in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0):
        point = next(((n, mb) for n, mb in samples if n >= share * total), None)
        if point is not None:
            print(f"  at {point[0]:>6} messages ({share:>4.0%}): {point[1]:7.1f}")
    print(f"  after the send:            {rss_after:7.1f}")
    tenth = next((mb for n, mb in samples if n >= 0.1 * total), rss_before)
    print(f"growth from 10% to the end: {rss_after - tenth:+.1f} MB ({rss_after / tenth:.3f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    turns_parser = commands.add_parser("turns", help="webhook acknowledgement and turn times")
    turns_parser.add_argument("--concurrency", type=int, default=50, help="conversations at once")
    turns_parser.add_argument("--rounds", type=int, default=3, help="alternating SMS/web rounds")
    bulk_parser = commands.add_parser("bulk", help="a bulk send at a rate limit")
    bulk_parser.add_argument("--surveys", type=int, default=10_000, help="rows in the CSV")
    bulk_parser.add_argument(
        "--rate", type=float, default=10.0, help="TWILIO_MAX_PER_SECOND for the app"
    )
    bulk_parser.add_argument(
        "--concurrency", type=int, default=8, help="requests the CLI keeps in flight"
    )
    bulk_parser.add_argument(
        "--database",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help="the app's store: a fresh SQLite file, or a fresh database on the "
        "PostgreSQL server at 127.0.0.1:5432 (dropped afterwards)",
    )
    args = parser.parse_args()
    if args.command == "turns":
        asyncio.run(turns(args))
    else:
        bulk(args)


if __name__ == "__main__":
    main()
