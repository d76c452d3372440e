"""Live hand-off events for the agent console (server-sent events): a
hand-off opened, a customer's message for an agent, a claim, a reply, a
note, a resolution. In-process: each open console has a small queue."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

log = logging.getLogger(__name__)
QUEUE_SIZE = 100


class HandoffEvents:
    def __init__(self) -> None:
        self._listeners: set[asyncio.Queue[dict[str, Any]]] = set()
        self._sinks: list[Callable[[dict[str, Any]], None]] = []

    def also_send_to(self, sink: Callable[[dict[str, Any]], None]) -> None:
        """Every event also goes to this (the outbound webhooks)."""
        self._sinks.append(sink)

    def publish(self, event: dict[str, Any]) -> None:
        for sink in self._sinks:
            sink(event)
        for queue in list(self._listeners):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:  # a stalled console misses events; it re-reads the queue
                log.warning("an agent console is not keeping up; an event was dropped")

    @asynccontextmanager
    async def listen(self) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_SIZE)
        self._listeners.add(queue)
        try:
            yield queue
        finally:
            self._listeners.discard(queue)
