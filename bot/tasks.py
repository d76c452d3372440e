"""Work the app does after answering a request (inbound texts), kept track
of so that shutdown waits for it and a failure is logged, not lost."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Coroutine
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)
TASKS = web.AppKey("background_tasks", set)


def spawn(app: web.Application, work: Coroutine[Any, Any, None], name: str) -> None:
    task = asyncio.create_task(work, name=name)
    app[TASKS].add(task)
    task.add_done_callback(lambda t: _finished(app, t))


def _finished(app: web.Application, task: asyncio.Task[None]) -> None:
    app[TASKS].discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.error("%s failed", task.get_name(), exc_info=task.exception())


async def background_tasks(app: web.Application) -> AsyncIterator[None]:
    app[TASKS] = set()
    yield
    if app[TASKS]:
        await asyncio.wait(app[TASKS], timeout=30)
