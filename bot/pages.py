"""Pages a person opens: the demo page with the widget, and survey links."""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web

from bot.keys import STORE, SURVEY_CONFIG
from feedbot.store.models import Channel

routes = web.RouteTableDef()


@routes.get("/")
@aiohttp_jinja2.template("demo.html")
async def demo(request: web.Request) -> dict[str, Any]:
    """A made-up company page with the widget open, surveying about a touchpoint
    chosen by ``?touchpoint=…&location=…`` (default: the configured one)."""
    config = request.app[SURVEY_CONFIG]
    touchpoint_id = request.query.get("touchpoint") or config.default_touchpoint
    location = request.query.get("location") or ""
    refusal = config.refusal(touchpoint_id, location)
    if refusal:
        raise web.HTTPBadRequest(text=refusal)
    return {"touchpoint": config.touchpoint(touchpoint_id), "location": location, "survey_id": ""}


@routes.get("/s/{survey_id}")
@aiohttp_jinja2.template("demo.html")
async def survey_link(request: web.Request) -> dict[str, Any]:
    """The link a customer gets for a web survey: the widget for that survey."""
    survey = await request.app[STORE].get_survey(request.match_info["survey_id"])
    if survey is None or survey.channel != Channel.WEB:
        raise web.HTTPNotFound(text="This survey link is not valid. It may have been mistyped.")
    touchpoint = request.app[SURVEY_CONFIG].touchpoint(survey.touchpoint)
    return {"touchpoint": touchpoint, "location": survey.location or "", "survey_id": survey.id}
