"""The analysts' dashboard (/dashboard), a conversation's transcript, and
logging in with a role token (/login), which sets a session cookie.

The figures come from the same report as `feedbot report` and GET
/api/report (analytics.report), built on a worker thread; the charts are
drawn in the browser by Chart.js, served from this app (no CDN).
"""

from __future__ import annotations

import asyncio
import json
from datetime import date
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from pydantic import ValidationError

from analytics.conversations import recent_detractors
from analytics.query import Dimension, Interval, Scope
from analytics.report import build_report, locations
from bot.analytics_api import ScopeQuery
from bot.auth import (
    GRANTS,
    SESSION_COOKIE,
    SESSION_SECONDS,
    Role,
    role_of_request,
    role_of_token,
    session_cookie,
)
from bot.keys import READ_ENGINE, SETTINGS, STORE, SURVEY_CONFIG
from feedbot.validation import describe

routes = web.RouteTableDef()
HOME = {Role.ANALYST: "/dashboard", Role.ADMIN: "/dashboard", Role.AGENT: "/agent"}


def _login_redirect(request: web.Request) -> web.HTTPFound:
    return web.HTTPFound(f"/login?next={request.path_qs}")


def _require_page_role(request: web.Request, needed: Role) -> Role:
    """For pages: not logged in goes to the login page; the wrong role is 403."""
    role = role_of_request(request)
    if role is None:
        raise _login_redirect(request)
    if needed not in GRANTS[role]:
        raise web.HTTPForbidden(text=f"The {role.value} role may not open this page.")
    return role


def _safe_next(value: str | None) -> str | None:
    """Only a path on this site (no //host or scheme): no open redirect."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return None


@routes.get("/login")
@aiohttp_jinja2.template("login.html")
async def login_page(request: web.Request) -> dict[str, Any]:
    return {"next": _safe_next(request.query.get("next")) or "", "error": None}


@routes.post("/login")
async def login(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    token = str(form.get("token", "")).strip()
    wanted = _safe_next(str(form.get("next", "")))
    settings = request.app[SETTINGS]
    role = role_of_token(settings, token)
    if role is None or role is Role.API:
        return aiohttp_jinja2.render_template(
            "login.html",
            request,
            {"next": wanted or "", "error": "That token is not an analyst, agent or admin token."},
            status=401,
        )
    response = web.HTTPFound(wanted or HOME[role])
    response.set_cookie(
        SESSION_COOKIE,
        session_cookie(settings, role),
        max_age=SESSION_SECONDS,
        httponly=True,
        samesite="Strict",
        secure=settings.public_base_url.startswith("https://"),
        path="/",
    )
    raise response


@routes.post("/logout")
async def logout(request: web.Request) -> web.StreamResponse:
    response = web.HTTPFound("/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response


def _filters(request: web.Request) -> tuple[Scope, Interval, str | None]:
    """The dashboard's filters from the query string; a bad one is named, not fatal."""
    raw = {
        k: v
        for k, v in request.query.items()
        if k in ("since", "until", "touchpoint", "location") and v
    }
    try:
        scope = ScopeQuery.model_validate(raw).scope()
    except ValidationError as exc:
        return Scope(), Interval.WEEK, describe(exc)
    except ValueError as exc:
        return Scope(), Interval.WEEK, str(exc)
    interval = Interval.MONTH if request.query.get("interval") == "month" else Interval.WEEK
    return scope, interval, None


@routes.get("/dashboard")
@aiohttp_jinja2.template("dashboard.html")
async def dashboard(request: web.Request) -> dict[str, Any]:
    _require_page_role(request, Role.ANALYST)
    scope, interval, problem = _filters(request)
    engine = request.app[READ_ENGINE]

    def read() -> tuple[dict[str, Any], list[dict[str, Any]], list[str]]:
        with engine.connect() as conn:
            return (
                build_report(conn, scope, (Dimension.TOUCHPOINT,), interval=interval),
                recent_detractors(conn, scope),
                locations(conn, Scope(touchpoint=scope.touchpoint)),
            )

    report, detractors, places = await asyncio.to_thread(read)
    config = request.app[SURVEY_CONFIG]
    names = {t.id: t.name for t in config.touchpoints}
    return {
        "report": report,
        # "<" escaped: a location named "</script>" cannot end the data block.
        "report_json": json.dumps({**report, "names": names}).replace("<", "\\u003c"),
        "names": names,
        "detractors": detractors,
        "touchpoints": config.touchpoints,
        "locations": places,
        "scope": scope,
        "interval": interval.value,
        "problem": problem,
        "today": date.today().isoformat(),
    }


@routes.get("/dashboard/surveys/{survey_id}")
@aiohttp_jinja2.template("transcript.html")
async def transcript(request: web.Request) -> dict[str, Any]:
    _require_page_role(request, Role.ANALYST)
    store = request.app[STORE]
    survey = await store.get_survey(request.match_info["survey_id"])
    if survey is None:
        raise web.HTTPNotFound(text="No survey with that id.")
    touchpoint = request.app[SURVEY_CONFIG].touchpoint(survey.touchpoint)
    return {
        "survey": survey,
        "response": survey.response,
        "touchpoint_name": touchpoint.name if touchpoint else survey.touchpoint,
        "themes": await store.theme_readings(survey.id),
        "messages": await store.transcript(survey.id),
    }


@routes.get("/agent")
@aiohttp_jinja2.template("agent.html")
async def agent_console(request: web.Request) -> dict[str, Any]:
    """The agents' console: the queue, a hand-off's card and transcript, and
    claim / reply / note / resolve; live through /agent/events."""
    _require_page_role(request, Role.AGENT)
    return {"flag_after": request.app[SURVEY_CONFIG].handoff.flag_waiting_after_minutes}
