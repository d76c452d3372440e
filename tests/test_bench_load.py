"""The load generator the benchmarks share: with a ramp, only the steady part counts."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from bench.turn_latency import run_load


def survey(turn_s: float):  # type: ignore[no-untyped-def]
    """A stand-in conversation of three turns (the benchmarks' real ones need
    a running stack; this checks only how run_load counts)."""

    async def converse(http: aiohttp.ClientSession) -> list[float]:
        times = []
        for _ in range(3):
            await asyncio.sleep(turn_s)
            times.append(turn_s)
        return times

    return converse


def test_without_a_ramp_every_turn_counts() -> None:
    result = asyncio.run(run_load(survey(0.001), 12, 4))
    assert result["turns"] == 36


def test_with_a_ramp_only_the_steady_part_counts() -> None:
    result = asyncio.run(run_load(survey(0.005), 400, 4, ramp_s=0.2))
    assert result["all_turns"] == 1200
    # Conversations begun during the ramp (and the first of every customer) are left out.
    assert 0 < result["turns"] < 1200
    assert result["turns"] % 3 == 0
    assert result["turns_per_s"] > 0


def test_a_run_too_short_for_a_steady_part_is_refused() -> None:
    with pytest.raises(ValueError, match="no steady part"):
        asyncio.run(run_load(survey(0.001), 8, 4, ramp_s=0.1))
