"""Background work done in rounds: at once when something kicks it, else
every few seconds, or sooner when a round says when it next has work."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

log = logging.getLogger(__name__)


async def run_rounds(
    one_round: Callable[[], Awaitable[datetime | None]],
    kicked: asyncio.Event,
    clock: Callable[[], datetime],
    every: float,
    name: str,
) -> None:
    """Run ``one_round`` for ever; it returns when it next has work (or
    None). A failed round is logged and the next one tries again."""
    while True:
        kicked.clear()
        wait = every
        try:
            wake = await one_round()
            if wake is not None:
                wait = max(0.05, min(every, (wake - clock()).total_seconds()))
        except Exception:  # keep the loop alive
            log.exception("the %s round failed", name)
        try:
            await asyncio.wait_for(kicked.wait(), timeout=wait)
        except TimeoutError:
            pass
