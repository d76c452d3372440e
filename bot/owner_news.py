"""The loop that keeps owners told: alerts queued and batched, digests made
when their hour comes, and the outbox sent (docs/closing-the-loop.md).

Every app instance runs it; each piece of work is claimed in the store, so
instances never do the same work twice. A turn that ends a detractor's
survey kicks it (an alert leaves within seconds); otherwise it runs every
``ROUND_SECONDS``, or sooner when a batch or a retry falls due.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import datetime

from aiohttp import web

from bot.owner_alerts import OwnerAlerts
from bot.owner_post import OwnerPost
from bot.rounds import run_rounds, stop

ROUND_SECONDS = 5.0


class OwnerNews:
    def __init__(
        self,
        alerts: OwnerAlerts,
        post: OwnerPost,
        clock: Callable[[], datetime],
        digests: Callable[[], object] | None = None,
    ) -> None:
        self.alerts, self.post, self._clock = alerts, post, clock
        self._digests = digests
        self._kicked = asyncio.Event()

    def kick(self, _survey_id: str | None = None) -> None:
        """A survey ended: look for alerts now rather than at the next round."""
        self._kicked.set()

    async def round(self) -> datetime | None:
        """One round of every job; when the next one falls due, if known."""
        await self.alerts.queue_due()
        wake = await self.alerts.batch_waiting()
        if self._digests is not None:
            await self._digests()
        await self.post.send_ready()
        retry = await self.post.next_due()
        if retry is not None and (wake is None or retry < wake):
            wake = retry
        return wake

    async def run(self, every: float = ROUND_SECONDS) -> None:
        await run_rounds(self.round, self._kicked, self._clock, every, "owner news")


OWNER_NEWS = web.AppKey("owner_news", OwnerNews)


async def owner_news_loop(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.create_task(app[OWNER_NEWS].run(), name="owner news")
    yield
    await stop(task)
