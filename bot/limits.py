"""Counting what one client address does in a window of time, to stop
guessing tokens and mass-creating surveys.

Fixed windows: a count per key and window, forgotten when the window ends.
With REDIS_URL the counts live in Redis (INCR and EXPIRE), so every app
instance sees the same ones; otherwise in this process.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

from aiohttp import web

from bot.errors import Handler

log = logging.getLogger(__name__)


class Counter(Protocol):
    async def add(self, key: str, window_seconds: int) -> int:
        """Count one more for key in the current window; the count so far."""
        ...

    async def get(self, key: str, window_seconds: int) -> int:
        """The count for key in the current window."""
        ...

    async def close(self) -> None: ...


class MemoryCounter:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._counts: dict[tuple[str, int], int] = {}

    def _slot(self, key: str, window_seconds: int) -> tuple[str, int]:
        window = int(self._clock() // window_seconds)
        if len(self._counts) > 10_000:  # forget ended windows now and then
            self._counts = {k: v for k, v in self._counts.items() if k[1] >= window}
        return key, window

    async def add(self, key: str, window_seconds: int) -> int:
        slot = self._slot(key, window_seconds)
        self._counts[slot] = self._counts.get(slot, 0) + 1
        return self._counts[slot]

    async def get(self, key: str, window_seconds: int) -> int:
        return self._counts.get(self._slot(key, window_seconds), 0)

    async def close(self) -> None:
        return None


class RedisCounter:
    def __init__(self, redis_url: str, prefix: str, clock: Callable[[], float] = time.time) -> None:
        import redis.asyncio as redis

        self._client = redis.Redis.from_url(redis_url)
        self._prefix = prefix
        self._clock = clock

    def _key(self, key: str, window_seconds: int) -> str:
        return f"{self._prefix}:limit:{key}:{int(self._clock() // window_seconds)}"

    async def add(self, key: str, window_seconds: int) -> int:
        name = self._key(key, window_seconds)
        async with self._client.pipeline(transaction=True) as pipe:
            count, _ = await pipe.incr(name).expire(name, window_seconds).execute()
        return int(count)

    async def get(self, key: str, window_seconds: int) -> int:
        return int(await self._client.get(self._key(key, window_seconds)) or 0)

    async def close(self) -> None:
        await self._client.aclose()


FAILURE_WINDOW_SECONDS = 60
SURVEY_WINDOW_SECONDS = 3600


class Limits:
    """The app's limits per client address (counts in `counter`)."""

    def __init__(self, counter: Counter, failures_per_minute: int, web_surveys_per_hour: int):
        self.counter = counter
        self.failures_per_minute = failures_per_minute
        self.web_surveys_per_hour = web_surveys_per_hour

    async def guessing(self, address: str) -> bool:
        """Whether this address has used up its failed attempts this minute."""
        failed = await self.counter.get(f"failed:{address}", FAILURE_WINDOW_SECONDS)
        return failed >= self.failures_per_minute

    async def failed(self, address: str, path: str) -> None:
        count = await self.counter.add(f"failed:{address}", FAILURE_WINDOW_SECONDS)
        log.warning(
            "failed credentials from %s on %s (%d of %d this minute)",
            address,
            path,
            count,
            self.failures_per_minute,
        )

    async def account_guessed(self, email: str) -> bool:
        """Whether this account has had its failed passwords this minute
        (from any address: a spread-out guesser is stopped too)."""
        failed = await self.counter.get(f"failed-account:{email}", FAILURE_WINDOW_SECONDS)
        return failed >= self.failures_per_minute

    async def account_failed(self, email: str) -> None:
        count = await self.counter.add(f"failed-account:{email}", FAILURE_WINDOW_SECONDS)
        log.warning(
            "wrong password for %s (%d of %d this minute)", email, count, self.failures_per_minute
        )

    async def new_web_survey(self, address: str) -> bool:
        """Count a new web survey from this address; False once it has made
        its hour's worth."""
        made = await self.counter.add(f"web-survey:{address}", SURVEY_WINDOW_SECONDS)
        if made > self.web_surveys_per_hour:
            log.info("refused a new web survey from %s (%d this hour)", address, made)
            return False
        return True


LIMITS = web.AppKey("limits", Limits)


def counter_for(redis_url: str | None, prefix: str) -> Counter:
    return RedisCounter(redis_url, prefix) if redis_url else MemoryCounter()


def _presents_credentials(request: web.Request) -> bool:
    return request.headers.get("Authorization", "").startswith("Bearer ") or (
        request.method == "POST" and request.path == "/login"
    )


@web.middleware
async def limit_guessing(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A request that presents a token (a bearer header, or the login form)
    from an address that failed too often this minute gets 429; a 401 to one
    that presented a token counts as a failure."""
    if not _presents_credentials(request):
        return await handler(request)
    limits = request.app[LIMITS]
    address = request.remote or "unknown"
    if await limits.guessing(address):
        log.info(
            "refused %s %s from %s: too many failed attempts", request.method, request.path, address
        )
        raise web.HTTPTooManyRequests(
            text="Too many failed attempts from your address. Try again in a minute.",
            headers={"Retry-After": str(FAILURE_WINDOW_SECONDS)},
        )
    try:
        response = await handler(request)
    except web.HTTPUnauthorized:
        await limits.failed(address, request.path)
        raise
    if response.status == 401:
        await limits.failed(address, request.path)
    return response
