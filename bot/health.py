"""GET /healthz: 200 only when the app, Rasa, the action server and the
database all answer; otherwise 503 naming what does not. With several Rasa
instances (each with its action server), one healthy pair is enough to serve
every conversation; each instance's state is listed. Under `feedbot run`,
the processes it supervises are listed too (running, or restarting and
when), from the status file the runner keeps in FEEDBOT_VAR_DIR."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bot.keys import HTTP, LIVE_EVENTS, RASA, SETTINGS, STORE

routes = web.RouteTableDef()


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    app = request.app
    action_urls = app[SETTINGS].action_server_urls
    rasa, database, live, *actions = await asyncio.gather(
        app[RASA].ping(),
        app[STORE].ping(),
        app[LIVE_EVENTS].ping(),
        *(_ping_actions(app[HTTP], url) for url in action_urls),
        return_exceptions=True,
    )
    checks = {
        "app": "ok",
        "rasa": _state(rasa),
        "actions": "ok" if any(a is None for a in actions) else _state(actions[0]),
        "database": _state(database),
        "live_events": _state(live),
    }
    if isinstance(rasa, dict) and len(rasa) > 1:
        checks["rasa_instances"] = rasa
    if len(action_urls) > 1:
        checks["action_servers"] = {u: _state(a) for u, a in zip(action_urls, actions, strict=True)}
    healthy = all(v == "ok" for k, v in checks.items() if isinstance(v, str))
    found: dict[str, Any] = {"status": "ok" if healthy else "unavailable", "checks": checks}
    supervised = supervised_processes(app[SETTINGS].var_dir / STATUS_FILE)
    if supervised is not None:
        found["processes"] = supervised
    return web.json_response(found, status=200 if healthy else 503)


# Written by commands.runner (which sits above the app and is not imported here).
STATUS_FILE = "processes.json"


def supervised_processes(path: Path) -> dict[str, Any] | None:
    """The runner's children and their states, if a runner that is still
    alive wrote them (a file left by an earlier run says nothing)."""
    try:
        status = json.loads(path.read_text())
        os.kill(int(status["runner_pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    processes = status.get("processes")
    return processes if isinstance(processes, dict) else None


def _state(result: object) -> str:
    if not isinstance(result, BaseException):
        return "ok"
    return f"down: {result or type(result).__name__}"


async def _ping_actions(http: aiohttp.ClientSession, base_url: str) -> None:
    async with http.get(f"{base_url}/health", timeout=aiohttp.ClientTimeout(total=3)) as resp:
        if resp.status != 200:
            raise RuntimeError(f"action server answered {resp.status}")
