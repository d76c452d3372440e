"""Telling customers what changed ("you said, we did"; docs/closing-the-loop.md).

A round takes due notices and hands each to the customer's channel
(bot.channels, ``tell``): by SMS a text through the outbox (opt-outs, quiet
hours and the pacing apply); on the web a signed webhook event
``improvement.notify`` for the company's own systems. At most one
improvement per customer per 30 days; the message is kept in the
transcript of the survey that raised the theme. A failed try is retried
with backoff, and given up after GIVE_UP_AFTER_TRIES.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta

from aiohttp import web

from bot.channels import Channels
from bot.rounds import run_rounds, stop
from feedbot.store.improvements import ImprovementStore, Notice
from feedbot.store.models import Improvement

log = logging.getLogger(__name__)

FIRST_RETRY = timedelta(seconds=5)
LONGEST_WAIT = timedelta(minutes=10)
GIVE_UP_AFTER_TRIES = 12
ROUND_SECONDS = 5.0
# Customers worked on at once in a round.
AT_ONCE = 8


class ImprovementNotices:
    def __init__(
        self,
        store: ImprovementStore,
        channels: Channels,
        clock: Callable[[], datetime],
    ) -> None:
        self.store, self._channels, self._clock = store, channels, clock
        self._improvements: dict[str, Improvement] = {}
        self._kicked = asyncio.Event()

    def now(self) -> datetime:
        return self._clock()

    def kick(self) -> None:
        self._kicked.set()

    async def send_due(self) -> int:
        """Every notice due now; how many were sent. Up to ``AT_ONCE``
        customers are worked on together (each one's checks and outbox
        writes take database round trips); the sender's pace still rules
        how fast texts leave."""
        sent = 0
        gate = asyncio.Semaphore(AT_ONCE)

        async def one(notice: Notice) -> int:
            async with gate:
                try:
                    return await self._send(notice)
                except Exception:  # one customer's failure never stops the rest
                    log.exception("improvement notice %s failed", notice.id)
                    await self.retry(notice, "an unexpected error (logged)")
                    return 0

        while notices := await self.store.take_due(self._clock()):
            sent += sum(await asyncio.gather(*(one(n) for n in notices)))
        return sent

    async def _improvement(self, improvement_id: str) -> Improvement | None:
        if improvement_id not in self._improvements:
            found = await self.store.get(improvement_id)
            if found is None:
                return None
            self._improvements[improvement_id] = found
        return self._improvements[improvement_id]

    async def _send(self, notice: Notice) -> int:
        improvement = await self._improvement(notice.improvement_id)
        if improvement is None:
            await self.store.skip(notice.id, "the improvement is gone")
            return 0
        return await self._channels.named(notice.channel).tell(notice, improvement, self)

    async def retry(self, notice: Notice, why: str) -> None:
        if notice.attempts >= GIVE_UP_AFTER_TRIES:
            log.error(
                "improvement notice %s given up after %d tries: %s", notice.id, notice.attempts, why
            )
            await self.store.skip(notice.id, f"given up: {why}")
            return
        wait = min(FIRST_RETRY * 2 ** (notice.attempts - 1), LONGEST_WAIT)
        log.warning("improvement notice %s not sent (try %d): %s", notice.id, notice.attempts, why)
        await self.store.later(notice.id, self._clock() + wait, why)

    async def one_round(self) -> None:
        sent = await self.send_due()
        if sent:
            log.info("%d improvement notice(s) sent", sent)

    async def run(self, every: float = ROUND_SECONDS) -> None:
        await run_rounds(self.one_round, self._kicked, self._clock, every, "improvement notices")


IMPROVEMENT_NOTICES = web.AppKey("improvement_notices", ImprovementNotices)


async def improvement_notices_loop(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.create_task(app[IMPROVEMENT_NOTICES].run(), name="improvement notices")
    yield
    await stop(task)
