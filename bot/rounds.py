"""Background work done in rounds: at once when something kicks it, else
every few seconds, or sooner when a round says when it next has work."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

# How long a round in progress may take to finish when the app stops.
STOP_GRACE_SECONDS = 10.0


async def finish_then_stop(work: Awaitable[T], grace: float = STOP_GRACE_SECONDS) -> T:
    """Await ``work``; when cancelled meanwhile (the app stopping), let it
    finish first, for up to ``grace`` seconds, then stop. A round cut off in
    the middle of a query leaves its connection half closed: on SQLite the
    connection's thread then never ends, and the process never exits."""
    task = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        await asyncio.wait({task}, timeout=grace)
        if not task.done():
            log.warning("a round still running %.0f s after the app began to stop; cut", grace)
            task.cancel()
        raise


async def stop(task: asyncio.Task[None]) -> None:
    """Stop a background loop and wait until it has (its round finished)."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


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
            wake = await finish_then_stop(one_round())
            if wake is not None:
                wait = max(0.05, min(every, (wake - clock()).total_seconds()))
        except Exception:  # keep the loop alive
            log.exception("the %s round failed", name)
        try:
            await asyncio.wait_for(kicked.wait(), timeout=wait)
        except TimeoutError:
            pass
