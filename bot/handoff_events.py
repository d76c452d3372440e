"""Hand-off events for the agent consoles (server-sent events) and the help
desk's webhooks: a hand-off opened, a customer's message for an agent, a
claim, a reply, a note, a resolution. Consoles on every app instance hear
them (bot.live_events); the webhooks are sent once, by the instance where
the event happened."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from bot.live_events import InProcessEvents, LiveEvents

TOPIC = "handoffs"


class HandoffEvents:
    def __init__(self, live: LiveEvents | None = None) -> None:
        self._live = live or InProcessEvents()
        self._sinks: list[Callable[[dict[str, Any]], None]] = []

    def also_send_to(self, sink: Callable[[dict[str, Any]], None]) -> None:
        """Every event that happens here also goes to this (the outbound webhooks)."""
        self._sinks.append(sink)

    def publish(self, event: dict[str, Any]) -> None:
        for sink in self._sinks:
            sink(event)
        self._live.publish(TOPIC, event)

    @asynccontextmanager
    async def listen(self) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
        async with self._live.listen(TOPIC) as queue:
            yield queue
