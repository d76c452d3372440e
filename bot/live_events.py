"""Live events between the app's instances: hand-off events for the agent
consoles, messages pushed to an open widget. One small interface, two
implementations: in this process (one instance), or Redis pub/sub (several
instances; any instance's event reaches every instance's listeners).

Delivery is at most once (Redis pub/sub keeps nothing for a listener that
is away). Where events may have been missed (Redis was lost and found
again, or a listener fell more than QUEUE_SIZE events behind), the listener
gets ``RESYNC`` instead and re-reads what it shows from the store: a console
its queue, a widget its transcript."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

log = logging.getLogger(__name__)
QUEUE_SIZE = 100
Event = dict[str, Any]
# "You may have missed events: read the state again." Carries no other key.
RESYNC: Event = {"event": "resync"}


class LiveEvents:
    """Publish an event on a topic; listen to a topic. ``publish`` never
    waits: a live event must not hold up a customer's turn."""

    def __init__(self) -> None:
        self._listeners: dict[str, set[asyncio.Queue[Event]]] = {}

    def publish(self, topic: str, event: Event) -> None:
        raise NotImplementedError

    async def start(self) -> None:
        """Connect (nothing to do in one process)."""

    async def close(self) -> None:
        """Disconnect."""

    async def ping(self) -> None:
        """Raises when events cannot reach the other instances."""

    @asynccontextmanager
    async def listen(self, topic: str) -> AsyncIterator[asyncio.Queue[Event]]:
        queue: asyncio.Queue[Event] = asyncio.Queue(QUEUE_SIZE)
        self._listeners.setdefault(topic, set()).add(queue)
        try:
            yield queue
        finally:
            self._listeners[topic].discard(queue)

    def _deliver(self, topic: str, event: Event) -> None:
        for queue in list(self._listeners.get(topic, ())):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                # A listener this far behind gets one resync in place of what
                # it has not read yet (and of this event): it re-reads state.
                while not queue.empty():
                    queue.get_nowait()
                queue.put_nowait(dict(RESYNC))
                log.warning(
                    "a %s listener fell %d events behind; it will read the state again",
                    topic,
                    QUEUE_SIZE,
                )


class InProcessEvents(LiveEvents):
    """One app instance: events go straight to this process's listeners."""

    def publish(self, topic: str, event: Event) -> None:
        self._deliver(topic, event)


class _Outage:
    """Redis away, told to an operator as one line when it goes, one a
    minute while it stays away (not one a retry), and one when it is back."""

    def __init__(self, doing: str, remind_every: float) -> None:
        self._doing = doing
        self._remind_every = remind_every
        self._since: float | None = None
        self._told = 0.0

    def failed(self, exc: BaseException) -> None:
        now = time.monotonic()
        if self._since is None:
            self._since = self._told = now
            log.warning("live events: lost Redis (%s); %s", exc, self._doing)
        elif now - self._told >= self._remind_every:
            self._told = now
            log.warning(
                "live events: still no Redis after %.0f s (%s); %s",
                now - self._since,
                exc,
                self._doing,
            )

    def ended(self) -> None:
        if self._since is not None:
            log.info("live events: Redis is back after %.0f s", time.monotonic() - self._since)
            self._since = None


class RedisEvents(LiveEvents):
    """Several app instances: every event goes through Redis pub/sub, and each
    instance hands what it receives (its own events too) to its listeners, so
    all instances see the same events in the same order."""

    RECONNECT_SECONDS = 1.0
    REMIND_EVERY_SECONDS = 60.0

    def __init__(self, url: str, topics: tuple[str, ...], deployment: str) -> None:
        super().__init__()
        import redis.asyncio as redis  # only needed with several instances

        # Pub/sub channels are shared by all of a Redis server's databases.
        self.CHANNEL_PREFIX = f"feedbot:{deployment}:live:"
        # Named, so an operator sees it in CLIENT LIST (and a test can cut it).
        self._redis = redis.Redis.from_url(url, client_name=f"feedbot-{deployment}-live")
        self._url = url
        self._topics = topics
        self._outbox: asyncio.Queue[tuple[str, Event]] = asyncio.Queue(10_000)
        self._tasks: list[asyncio.Task[None]] = []
        self._subscribed = asyncio.Event()

    def publish(self, topic: str, event: Event) -> None:
        try:
            self._outbox.put_nowait((topic, event))
        except asyncio.QueueFull:
            log.error("Redis is not taking live events; a %s event was dropped", topic)

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._receive(), name="live events from Redis"),
            asyncio.create_task(self._send(), name="live events to Redis"),
        ]
        # Listen before anything is published, so this instance hears its own events.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._subscribed.wait(), timeout=10)
        if not self._subscribed.is_set():
            log.error("live events: Redis at %s is not answering yet; retrying", self._url)

    async def close(self) -> None:
        # Give queued events a moment to leave before disconnecting.
        for _ in range(20):
            if self._outbox.empty():
                break
            await asyncio.sleep(0.05)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._redis.aclose()

    async def ping(self) -> None:
        await asyncio.wait_for(self._redis.ping(), timeout=3)
        if not self._subscribed.is_set():
            raise ConnectionError("not subscribed to live events yet")

    async def _send(self) -> None:
        while True:
            topic, event = await self._outbox.get()
            message = json.dumps(event)
            outage = _Outage("events wait to be published", self.REMIND_EVERY_SECONDS)
            while True:
                try:
                    await self._redis.publish(self.CHANNEL_PREFIX + topic, message)
                    break
                except (OSError, ConnectionError) as exc:
                    outage.failed(exc)
                    await asyncio.sleep(self.RECONNECT_SECONDS)

    async def _receive(self) -> None:
        from redis.exceptions import RedisError

        reconnected = False
        outage = _Outage("reconnecting", self.REMIND_EVERY_SECONDS)
        while True:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(*(self.CHANNEL_PREFIX + t for t in self._topics))
                self._subscribed.set()
                outage.ended()
                if reconnected:  # events may have been missed: listeners re-read state
                    for topic in self._topics:
                        self._deliver(topic, dict(RESYNC))
                else:
                    log.info("live events through Redis (%s)", ", ".join(self._topics))
                async for message in pubsub.listen():
                    if message.get("type") != "message":
                        continue
                    channel = message["channel"].decode()
                    self._deliver(
                        channel.removeprefix(self.CHANNEL_PREFIX), json.loads(message["data"])
                    )
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                self._subscribed.clear()
                reconnected = True
                outage.failed(exc)
                await asyncio.sleep(self.RECONNECT_SECONDS)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()


def live_events(redis_url: str | None, topics: tuple[str, ...], deployment: str) -> LiveEvents:
    return RedisEvents(redis_url, topics, deployment) if redis_url else InProcessEvents()
