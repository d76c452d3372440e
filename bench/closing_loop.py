"""Closing the loop: alert latency, digest build time, and "you said, we
did" at the SMS rate limit (docs/closing-the-loop.md).

    make bench-loop          all three, with the defaults below
    .venv/bin/python -m bench.closing_loop alerts   [--detractors 50]
    .venv/bin/python -m bench.closing_loop digest   [--answers 100000]
    .venv/bin/python -m bench.closing_loop notices  [--recipients 10000 --rate 20]

alerts: the real stack (app, Rasa, action server on SQLite) with owners and a
real SMTP server (aiosmtpd). N detractors answer over the widget at once, each
at a location of its own, whose owner gets an alert; a regional owner owns
all N locations and gets them batched. For each detractor: from the bot's
last reply reaching the customer to the SMTP server accepting the e-mail
that carries it. The baseline, measured in the same run, is a turn: the
time from the customer's last answer to the bot's reply.

digest: a store whose one location has N answers (demo data), the weekly and
daily digests of its owner built and rendered, against the full dashboard
report of the same scope built in the same run.

notices: N SMS customers whose reason was about a theme; an improvement is
logged through the API and the app texts them at TWILIO_MAX_PER_SECOND
(fake Twilio). The rate achieved against the limit, and the app's memory.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import yaml

from bench.processes import rss_mb
from bench.sms import app_pid, sms_stack
from feedbot.settings import PROJECT_ROOT
from tests.fake_twilio import FakeTwilio
from tests.helpers.mail import RestartableSmtp
from tests.helpers.stack import temporary_stack

REGIONAL = "regional@example.com"


def quantile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def owner_of(n: int) -> str:
    return f"owner{n}@example.com"


# --- alerts -------------------------------------------------------------------


async def detractor(http: aiohttp.ClientSession, ws_url: str, n: int) -> tuple[str, float, float]:
    """One detractor over the widget: (survey id, the last turn's time, when
    the bot's last reply arrived (time.monotonic()))."""
    async with http.ws_connect(ws_url) as ws:
        survey_id = ""

        async def until_ready() -> None:
            nonlocal survey_id
            while True:
                frame = await ws.receive_json(timeout=120)
                if frame["type"] == "survey":
                    survey_id = frame["survey_id"]
                if frame["type"] == "ready":
                    return

        await ws.send_json({"type": "start", "touchpoint": "delivery", "location": f"loc-{n}"})
        await until_ready()
        await ws.send_json({"type": "message", "text": "2", "id": uuid.uuid4().hex})
        await until_ready()
        began = time.monotonic()
        await ws.send_json(
            {"type": "message", "text": "The parcel came broken and late", "id": uuid.uuid4().hex}
        )
        await until_ready()
        answered = time.monotonic()
        return survey_id, answered - began, answered


def all_arrived(smtp: RestartableSmtp, detractors: int, within: float) -> None:
    """Wait until every owner has their alert (the SMTP server is another thread)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if all(smtp.inbox.to(owner_of(n)) for n in range(detractors)):
            return
        time.sleep(0.1)


async def alerts(args: argparse.Namespace) -> None:
    smtp = RestartableSmtp().start()
    with tempfile.TemporaryDirectory(prefix="feedbot-bench-") as tmp:
        workdir = Path(tmp)
        touchpoints = yaml.safe_load((PROJECT_ROOT / "touchpoints.yml").read_text())
        touchpoints["contact_rules"]["quiet_hours"] = None
        places = [f"loc-{n}" for n in range(args.detractors)]
        touchpoints["owners"] = [
            {"name": f"Owner {n}", "email": owner_of(n), "locations": [place], "digest": "none"}
            for n, place in enumerate(places)
        ] + [{"name": "Regional", "email": REGIONAL, "locations": places, "digest": "none"}]
        (workdir / "touchpoints.yml").write_text(yaml.safe_dump(touchpoints))
        env = {
            "FEEDBOT_TOUCHPOINTS": str(workdir / "touchpoints.yml"),
            "SMTP_URL": f"smtp://127.0.0.1:{smtp.port}",
            "FEEDBOT_MAIL_FROM": "bench@example.com",
        }
        print("Starting Rasa, the action server and the app…", file=sys.stderr, flush=True)
        with temporary_stack(workdir, app_env=env) as stack:
            ws_url = stack.settings.public_base_url.replace("http", "ws", 1) + "/chat"
            async with aiohttp.ClientSession() as http:
                done = await asyncio.gather(
                    *(detractor(http, ws_url, n) for n in range(args.detractors))
                )
                await asyncio.to_thread(all_arrived, smtp, args.detractors, args.wait)
                await asyncio.sleep(1)
    smtp.stop()
    own, regional, turns, missing = [], [], [], 0
    arrivals = {id(m): at for at, m in smtp.inbox.messages}
    for n, (survey_id, turn, answered) in enumerate(done):
        turns.append(turn)
        mine = smtp.inbox.to(owner_of(n))
        if not mine:
            missing += 1
            continue
        own.append(arrivals[id(mine[0])] - answered)
        carrying = [m for m in smtp.inbox.to(REGIONAL) if survey_id in m.get_body().get_content()]
        if carrying:
            regional.append(arrivals[id(carrying[0])] - answered)
    base = statistics.median(turns)
    print(f"\n{args.detractors} detractors at once, each at a location with its own owner")
    print(f"the baseline, a turn (last answer → bot's reply): p50 {base:.2f} s")
    for label, values in (("own owner's alert", own), ("regional owner (batched)", regional)):
        if len(values) < 2:
            print(f"{label}: {len(values)} e-mail(s)")
            continue
        p50, p95 = statistics.median(values), quantile(values, 95)
        print(
            f"{label:<26} p50 {p50:6.2f} s  p95 {p95:6.2f} s  "
            f"({p50 / base:.1f}x / {p95 / base:.1f}x a turn; {len(values)} alerts)"
        )
    print(f"regional owner's e-mails: {len(smtp.inbox.to(REGIONAL))}; alerts never sent: {missing}")


# --- digest -------------------------------------------------------------------


def digest(args: argparse.Namespace) -> None:
    from sqlalchemy import update

    from analytics.digest import build_digest, period_before, render_digest
    from analytics.query import Dimension
    from analytics.report import build_report
    from bench.analytics import DAYS, NOW, fill
    from feedbot.owners import DigestEvery, Owner
    from feedbot.store.database import sync_engine
    from feedbot.store.models import Improvement, ResponseTheme, Survey
    from feedbot.touchpoints import load_survey_config

    with tempfile.TemporaryDirectory(prefix="feedbot-bench-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'digest.db'}"
        surveys = int(args.answers / 0.75)
        print(f"Writing {surveys:,} demo surveys (≈{args.answers:,} answers)…", file=sys.stderr)
        fill(url, surveys)
        engine = sync_engine(url)
        with engine.begin() as conn:  # every answer at one location
            conn.execute(update(Survey).values(location="big"))
            conn.execute(update(ResponseTheme).values(location="big"))
            for n, theme in enumerate(("wait_time", "staff", "price")):
                conn.execute(
                    Improvement.__table__.insert().values(
                        id=f"bench-{n}",
                        theme=theme,
                        location="big",
                        title=f"Improvement {n}",
                        message="m",
                        lookback_days=90,
                        created_at=NOW - timedelta(days=20 * (n + 1)),
                        created_by="bench",
                        recipients=0,
                    )
                )
        config = load_survey_config(PROJECT_ROOT / "touchpoints.yml")
        owner = Owner(name="Big store", email="big@example.com", locations=["big"])
        from analytics.digest import owner_scope

        timings: dict[str, list[float]] = {"weekly": [], "daily": [], "report": []}
        for _ in range(args.runs):
            for every in (DigestEvery.WEEKLY, DigestEvery.DAILY):
                period = period_before(every, NOW.date())
                began = time.perf_counter()
                with engine.connect() as conn:
                    found = build_digest(conn, owner, config, period, NOW)
                render_digest(found, "https://feedback.example.com")
                timings[every.value].append(time.perf_counter() - began)
            began = time.perf_counter()
            with engine.connect() as conn:
                build_report(conn, owner_scope(owner), (Dimension.TOUCHPOINT,), today=NOW.date())
            timings["report"].append(time.perf_counter() - began)
        engine.dispose()
    base = min(timings["report"])
    print(f"\nOne location with ≈{args.answers:,} answers over {DAYS} days (best of {args.runs})")
    print(f"the baseline, the dashboard's report of the same scope: {base:.2f} s")
    for every in ("weekly", "daily"):
        best = min(timings[every])
        print(f"{every} digest, built and rendered: {best:.2f} s ({best / base:.2f}x the report)")


# --- notices ------------------------------------------------------------------


def seed_customers(url: str, count: int) -> None:
    from sqlalchemy import insert

    from feedbot.store.database import sync_engine
    from feedbot.store.models import Response, ResponseTheme, Survey

    now = datetime.now(UTC) - timedelta(days=2)
    engine = sync_engine(url)
    with engine.begin() as conn:
        for start in range(0, count, 2000):
            ids = [uuid.uuid4().hex for _ in range(start, min(count, start + 2000))]
            conn.execute(
                insert(Survey),
                [
                    {
                        "id": survey_id,
                        "channel": "sms",
                        "touchpoint": "support",
                        "location": "bench",
                        "customer_ref": f"+4479115{start + k:05d}",
                        "state": "completed",
                        "created_at": now,
                        "score": 4,
                    }
                    for k, survey_id in enumerate(ids)
                ],
            )
            conn.execute(
                insert(Response),
                [
                    {"survey_id": s, "score": 4, "reason": "slow", "category": "detractor"}
                    for s in ids
                ],
            )
            conn.execute(
                insert(ResponseTheme),
                [
                    {
                        "survey_id": s,
                        "theme": "wait_time",
                        "touchpoint": "support",
                        "location": "bench",
                        "created_day": now.date().isoformat(),
                        "score": 4,
                        "sentiment": "negative",
                    }
                    for s in ids
                ],
            )
    engine.dispose()


def notices(args: argparse.Namespace) -> None:
    fake = FakeTwilio().start()
    import os

    os.environ.setdefault("FEEDBOT_ANALYST_TOKEN", "bench-analyst")
    with sms_stack(fake, args.rate) as settings:
        seed_customers(settings.database_url, args.recipients)
        pid = app_pid(settings.port)
        samples: list[tuple[int, float]] = []
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(1.0):
                samples.append((len(fake.received_at), rss_mb(pid)))

        rss_before = rss_mb(pid)
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()

        async def log_it() -> dict[str, object]:
            async with (
                aiohttp.ClientSession() as http,
                http.post(
                    settings.public_base_url + "/api/improvements",
                    json={
                        "theme": "wait_time",
                        "location": "bench",
                        "title": "Shorter queues",
                        "message": "You told us about the queue: we opened two more tills.",
                    },
                    headers={"Authorization": "Bearer bench-analyst"},
                ) as resp,
            ):
                assert resp.status == 201, await resp.text()
                return await resp.json()

        began = time.perf_counter()
        body = asyncio.run(log_it())
        logged = time.perf_counter() - began
        deadline = time.monotonic() + args.recipients / args.rate * 1.5 + 60
        while len(fake.received_at) < args.recipients and time.monotonic() < deadline:
            time.sleep(0.5)
        stop.set()
        sampler.join()
        rss_after = rss_mb(pid)
    arrivals = list(fake.received_at)
    achieved = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])
    print(f"\n{body['recipients']} recipients; the API answered in {logged:.2f} s")
    print(f"texts received by the fake Twilio: {len(arrivals)}")
    print(f"limit (TWILIO_MAX_PER_SECOND)  {args.rate:>8.2f} messages/s")
    print(f"achieved                       {achieved:>8.2f} messages/s")
    print(f"achieved / limit               {achieved / args.rate:>8.3f}x")
    print(f"\napp resident memory (MB): {rss_before:.0f} before")
    total = len(arrivals)
    for share in (0.1, 0.25, 0.5, 0.75, 1.0):
        point = next(((n, mb) for n, mb in samples if n >= share * total), None)
        if point is not None:
            print(f"  at {point[0]:>6} texts ({share:>4.0%}): {point[1]:7.1f}")
    print(f"  after:                  {rss_after:7.1f}")
    tenth = next((mb for n, mb in samples if n >= 0.1 * total), rss_before)
    print(f"growth from 10% to the end: {rss_after - tenth:+.1f} MB ({rss_after / tenth:.3f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    one = commands.add_parser("alerts", help="detractor → owner's e-mail, at once")
    one.add_argument("--detractors", type=int, default=50)
    one.add_argument("--wait", type=float, default=60, help="seconds to wait for the e-mails")
    two = commands.add_parser("digest", help="a digest for a location with many answers")
    two.add_argument("--answers", type=int, default=100_000)
    two.add_argument("--runs", type=int, default=3)
    three = commands.add_parser("notices", help="an improvement told at the SMS rate limit")
    three.add_argument("--recipients", type=int, default=10_000)
    three.add_argument("--rate", type=float, default=20.0)
    args = parser.parse_args()
    if args.command == "alerts":
        asyncio.run(alerts(args))
    elif args.command == "digest":
        digest(args)
    else:
        notices(args)


if __name__ == "__main__":
    main()
