"""GET /healthz: 200 only when the app, Rasa, the action server and the
database all answer; otherwise 503 naming what does not."""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import web

from bot.keys import HTTP, RASA, SETTINGS, STORE

routes = web.RouteTableDef()


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    app = request.app
    names = ("rasa", "actions", "database")
    results = await asyncio.gather(
        app[RASA].ping(),
        _ping_actions(app[HTTP], app[SETTINGS].action_server_url),
        app[STORE].ping(),
        return_exceptions=True,
    )
    checks = {"app": "ok"}
    for name, result in zip(names, results, strict=True):
        checks[name] = "ok" if result is None else f"down: {result or type(result).__name__}"
    healthy = all(v == "ok" for v in checks.values())
    return web.json_response(
        {"status": "ok" if healthy else "unavailable", "checks": checks},
        status=200 if healthy else 503,
    )


async def _ping_actions(http: aiohttp.ClientSession, base_url: str) -> None:
    async with http.get(f"{base_url}/health", timeout=aiohttp.ClientTimeout(total=3)) as resp:
        if resp.status != 200:
            raise RuntimeError(f"action server answered {resp.status}")
