"""Background rounds stop cleanly: a round in progress when the app stops
finishes its work first (bot.rounds)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from bot.rounds import finish_then_stop, run_rounds, stop


async def test_a_round_in_progress_finishes_before_its_loop_stops() -> None:
    started, release = asyncio.Event(), asyncio.Event()
    finished: list[str] = []

    async def one_round() -> None:
        started.set()
        await release.wait()  # as if waiting for the database
        finished.append("round")
        return None

    task = asyncio.create_task(
        run_rounds(one_round, asyncio.Event(), lambda: datetime.now(UTC), 60.0, "test")
    )
    await started.wait()
    stopping = asyncio.create_task(stop(task))
    await asyncio.sleep(0.05)
    assert not stopping.done() and finished == []  # waits for the round
    release.set()
    await asyncio.wait_for(stopping, 2)
    assert finished == ["round"] and task.cancelled()


async def test_a_round_that_does_not_finish_in_time_is_cut() -> None:
    cut = asyncio.Event()

    async def endless() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cut.set()
            raise

    task = asyncio.create_task(finish_then_stop(endless(), grace=0.1))
    await asyncio.sleep(0.01)
    await asyncio.wait_for(stop(task), 2)
    assert cut.is_set() and task.cancelled()
