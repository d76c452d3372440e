"""`POST /api/improvements` and `GET /api/improvements`: analysts and admins
log an improvement and tell the customers who raised it ("you said, we
did"; docs/closing-the-loop.md)."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

from aiohttp import web

from analytics.improvements import improvement_rows
from analytics.query import Scope
from bot.auth import Role, limited, person_of, require_role
from bot.errors import json_body
from bot.improvement_notices import IMPROVEMENT_NOTICES
from bot.keys import AUDIT, CLOCK, IMPROVEMENTS, READ_ENGINE, SURVEY_CONFIG, THEME_NAMES
from feedbot.improvements import ImprovementRequest

log = logging.getLogger(__name__)
routes = web.RouteTableDef()


@routes.post("/api/improvements")
async def log_improvement(request: web.Request) -> web.Response:
    role = require_role(request, Role.ANALYST)
    wanted = await json_body(request, ImprovementRequest)
    app = request.app
    refusal = wanted.refusal(app[SURVEY_CONFIG], app[THEME_NAMES])
    if refusal:
        raise web.HTTPBadRequest(text=refusal)
    person = person_of(request)
    if person is not None and (outside := wanted.outside(person.touchpoints, person.locations)):
        raise web.HTTPForbidden(text=outside)
    now = app[CLOCK]()
    store = app[IMPROVEMENTS]
    audience = await store.audience(
        wanted.theme,
        wanted.touchpoint,
        wanted.location,
        now - timedelta(days=wanted.lookback_days),
        now,
        web_reachable=app[IMPROVEMENT_NOTICES].reaches_web,
    )
    if wanted.dry_run:
        return web.json_response(
            {
                "recipients": len(audience.reach),
                "by_channel": audience.by_channel(),
                "excluded": audience.excluded,
            }
        )
    by = person.name if person else role.value
    improvement = await store.log(
        theme=wanted.theme,
        touchpoint=wanted.touchpoint,
        location=wanted.location,
        title=wanted.title,
        message=wanted.message,
        lookback_days=wanted.lookback_days,
        by=by,
        at=now,
        customers=audience.reach,
    )
    await app[AUDIT].record(
        by,
        role.value,
        "improvement.log",
        now,
        improvement.id,
        {"theme": wanted.theme, "recipients": improvement.recipients},
    )
    log.info(
        "improvement %s (%s) logged by %s: %d customer(s) to tell",
        improvement.id,
        wanted.theme,
        by,
        improvement.recipients,
    )
    app[IMPROVEMENT_NOTICES].kick()
    return web.json_response(
        {
            "improvement_id": improvement.id,
            "recipients": improvement.recipients,
            "by_channel": audience.by_channel(),
            "status": "sending" if improvement.recipients else "no recipients",
        },
        status=201,
    )


@routes.get("/api/improvements")
async def list_improvements(request: web.Request) -> web.Response:
    require_role(request, Role.ANALYST)
    scope = limited(request, Scope())
    today = request.app[CLOCK]().date()

    def read() -> list[dict[str, Any]]:
        with request.app[READ_ENGINE].connect() as conn:
            return improvement_rows(conn, scope, today)

    rows = await asyncio.to_thread(read)
    store = request.app[IMPROVEMENTS]
    for row in rows:
        row["notices"] = await store.status_counts(row["improvement_id"])
    return web.json_response({"improvements": rows})
