"""`POST /api/improvements` and `GET /api/improvements`: analysts and admins
log an improvement and tell the customers who raised it ("you said, we
did"; docs/closing-the-loop.md)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web

from analytics.improvements import improvement_rows
from analytics.query import Scope
from bot.auth import Role, limited, person_of, require_role
from bot.errors import json_body
from bot.improvement_notices import IMPROVEMENT_NOTICES
from bot.keys import (
    AUDIT,
    CHANNELS,
    CLOCK,
    IMPROVEMENTS,
    READ_ENGINE,
    SETTINGS,
    SURVEY_CONFIG,
    THEME_LABELS,
)
from feedbot.improvements import ImprovementRequest, log_improvement

log = logging.getLogger(__name__)
routes = web.RouteTableDef()


@routes.post("/api/improvements")
async def post_improvement(request: web.Request) -> web.Response:
    role = require_role(request, Role.ANALYST)
    wanted = await json_body(request, ImprovementRequest)
    app = request.app
    refusal = wanted.refusal(app[SURVEY_CONFIG], app[THEME_LABELS])
    if refusal:
        raise web.HTTPBadRequest(text=refusal)
    person = person_of(request)
    if person is not None and (outside := wanted.outside(person.touchpoints, person.locations)):
        raise web.HTTPForbidden(text=outside)
    by = person.name if person else role.value
    answer = await log_improvement(
        wanted,
        app[IMPROVEMENTS],
        app[AUDIT],
        by=by,
        role=role.value,
        now=app[CLOCK](),
        reach=app[CHANNELS].notice_reach(app[SETTINGS]),
    )
    if wanted.dry_run:
        return web.json_response(answer)
    log.info(
        "improvement %s (%s) logged by %s: %d customer(s) to tell",
        answer["improvement_id"],
        wanted.theme,
        by,
        answer["recipients"],
    )
    app[IMPROVEMENT_NOTICES].kick()
    return web.json_response(answer, status=201)


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
