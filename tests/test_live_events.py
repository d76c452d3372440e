"""Live events: in one process, a listener that falls behind is told to read
the state again rather than left with a silent gap (the widget or console
would otherwise wait for a message that was dropped). Through Redis (the
server on this machine), an outage is told to the operator once, not once a
retry, and its end too."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

import pytest
import redis

from bot.live_events import QUEUE_SIZE, RESYNC, InProcessEvents, RedisEvents

REDIS_URL = "redis://127.0.0.1:6379/0"


async def test_a_listener_that_falls_behind_gets_one_resync_in_place_of_the_gap() -> None:
    events = InProcessEvents()
    async with events.listen("chat") as queue:
        for n in range(QUEUE_SIZE + 5):  # nobody reads meanwhile
            events.publish("chat", {"n": n})
        events.publish("chat", {"n": "after"})
        got = [queue.get_nowait() for _ in range(queue.qsize())]
    # What it had not read, and the event that did not fit, are replaced by
    # one resync; what came after follows it, in order.
    assert got[0] == RESYNC
    assert got[1:] == [{"n": n} for n in range(QUEUE_SIZE + 1, QUEUE_SIZE + 5)] + [{"n": "after"}]


async def test_a_listener_that_keeps_up_gets_every_event_and_no_resync() -> None:
    events = InProcessEvents()
    async with events.listen("chat") as queue:
        seen = []
        for n in range(3 * QUEUE_SIZE):
            events.publish("chat", {"n": n})
            seen.append(queue.get_nowait())
    assert seen == [{"n": n} for n in range(3 * QUEUE_SIZE)]


def _said(caplog: pytest.LogCaptureFixture, words: str) -> int:
    return sum(words in r.getMessage() for r in caplog.records if r.name == "bot.live_events")


async def test_redis_away_is_logged_once_then_once_a_while_not_at_every_retry(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A "Redis" that hangs up on every connection: the instance retries all
    the time, and the log says so once, then reminds at most once a period."""
    tries = 0
    many = asyncio.Event()

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal tries
        tries += 1
        if tries >= 40:
            many.set()
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    events = RedisEvents(f"redis://127.0.0.1:{port}/0", ("chat",), "outage")
    events.RECONNECT_SECONDS = 0.02
    events.REMIND_EVERY_SECONDS = 0.5
    caplog.set_level(logging.INFO, logger="bot.live_events")
    began = time.monotonic()
    starting = asyncio.create_task(events.start())
    await asyncio.wait_for(many.wait(), timeout=30)
    await asyncio.sleep(max(0.0, began + 1.2 - time.monotonic()))  # two periods at least
    starting.cancel()
    await events.close()
    server.close()
    away = time.monotonic() - began
    assert _said(caplog, "lost Redis") == 1
    assert 1 <= _said(caplog, "still no Redis after") <= away / 0.5 + 1 < tries / 4
    assert _said(caplog, "Redis is back") == 0


async def test_redis_lost_and_found_is_logged_once_each_and_events_flow_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The real Redis drops the instance's subscription (CLIENT KILL, as a
    restart would): one line when it goes, one when it is back, and a
    listener hears what is published afterwards, after a resync."""
    deployment = f"t{uuid.uuid4().hex[:8]}"
    events = RedisEvents(REDIS_URL, ("chat",), deployment)
    events.RECONNECT_SECONDS = 0.2
    caplog.set_level(logging.INFO, logger="bot.live_events")
    await events.start()
    try:
        async with events.listen("chat") as queue:
            admin = redis.Redis.from_url(REDIS_URL)
            try:
                name = f"feedbot-{deployment}-live"
                cut = [c["id"] for c in admin.client_list(_type="pubsub") if c["name"] == name]
                assert len(cut) == 1
                admin.client_kill_filter(_id=cut[0])
            finally:
                admin.close()
            assert await asyncio.wait_for(queue.get(), timeout=10) == RESYNC
            events.publish("chat", {"n": 1})
            assert await asyncio.wait_for(queue.get(), timeout=10) == {"n": 1}
    finally:
        await events.close()
    assert _said(caplog, "lost Redis") == 1
    assert _said(caplog, "Redis is back after") == 1
    assert _said(caplog, "live events through Redis") == 1  # at the start only
