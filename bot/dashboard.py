"""The analysts' dashboard (/dashboard), a conversation's transcript, and
logging in with a role token (/login), which sets a session cookie.

The figures come from the same report as `feedbot report` and GET
/api/report (analytics.report), built on a worker thread; the charts are
drawn in the browser by Chart.js, served from this app (no CDN).
"""

from __future__ import annotations

import asyncio
import json
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import aiohttp_jinja2
from aiohttp import web
from pydantic import ValidationError

from analytics.conversations import recent_detractors
from analytics.digest import build_digest, period_before, render_digest
from analytics.improvements import improvement_rows
from analytics.query import Dimension, Interval, Scope
from analytics.report import build_report, locations
from bot.analytics_api import ScopeQuery
from bot.auth import (
    GRANTS,
    SESSION_COOKIE,
    SESSION_SECONDS,
    Role,
    limited,
    may_see,
    person_of,
    role_of_request,
    role_of_token,
)
from bot.keys import (
    CLOCK,
    HANDOFFS,
    READ_ENGINE,
    SESSIONS,
    SETTINGS,
    STORE,
    SURVEY_CONFIG,
    THEME_LABELS,
)
from bot.limits import FAILURE_WINDOW_SECONDS, LIMITS
from feedbot.handoff_rules import REASON_WORDS
from feedbot.owners import DigestEvery, Owner
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
    """With an account's e-mail and password, or with a role token."""
    form = await request.post()
    email = str(form.get("email", "")).strip()
    token = str(form.get("token", "")).strip()
    wanted = _safe_next(str(form.get("next", "")))
    settings, sessions, now = request.app[SETTINGS], request.app[SESSIONS], request.app[CLOCK]()
    if email:
        limits, account = request.app[LIMITS], email.lower()
        if await limits.account_guessed(account):
            raise web.HTTPTooManyRequests(
                text="Too many wrong passwords for this account. Try again in a minute.",
                headers={"Retry-After": str(FAILURE_WINDOW_SECONDS)},
            )
        user = await sessions.check_password(email, str(form.get("password", "")))
        if user is None:
            await limits.account_failed(account)
            return _login_failed(
                request, wanted, "That e-mail and password do not match an account."
            )
        role, session = Role(user.role), await sessions.start(user.role, now, user_id=user.id)
    else:
        found = role_of_token(settings, token)
        if found is None or found is Role.API:
            return _login_failed(
                request, wanted, "That token is not an analyst, agent or admin token."
            )
        role, session = found, await sessions.start(found.value, now, role_token=token)
    response = web.HTTPFound(wanted or HOME[role])
    response.set_cookie(
        SESSION_COOKIE,
        session,
        max_age=SESSION_SECONDS,
        httponly=True,
        samesite="Strict",
        secure=settings.public_base_url.startswith("https://"),
        path="/",
    )
    raise response


def _login_failed(request: web.Request, wanted: str | None, problem: str) -> web.Response:
    return aiohttp_jinja2.render_template(
        "login.html", request, {"next": wanted or "", "error": problem}, status=401
    )


@routes.post("/logout")
async def logout(request: web.Request) -> web.StreamResponse:
    """Ends the session here, not only in this browser."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        await request.app[SESSIONS].end(cookie, request.app[CLOCK]())
    response = web.HTTPFound("/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response


def _filters(request: web.Request) -> tuple[Scope, Interval, str | None]:
    """The dashboard's filters from the query string; a bad one is named, not fatal."""
    raw = {
        k: v
        for k, v in request.query.items()
        if k in ("since", "until", "touchpoint", "location", "language") and v
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
    scope = limited(request, scope)
    engine = request.app[READ_ENGINE]
    today = request.app[CLOCK]().date()

    def read() -> tuple[dict[str, Any], list[dict[str, Any]], list[str]]:
        with engine.connect() as conn:
            return (
                build_report(conn, scope, (Dimension.TOUCHPOINT,), interval=interval, today=today),
                recent_detractors(conn, scope),
                locations(conn, limited(request, Scope(touchpoint=scope.touchpoint))),
            )

    report, detractors, places = await asyncio.to_thread(read)
    config = request.app[SURVEY_CONFIG]
    names = config.touchpoint_names()
    labels = request.app[THEME_LABELS]  # theme ids stay in the API and exports
    return {
        "report": report,
        # "<" escaped: a location named "</script>" cannot end the data block.
        "report_json": json.dumps({**report, "names": names, "theme_labels": labels}).replace(
            "<", "\\u003c"
        ),
        "names": names,
        "detractors": detractors,
        "touchpoints": config.touchpoints,
        "locations": places,
        "scope": scope,
        "interval": interval.value,
        "problem": problem,
        "today": today.isoformat(),
        "presets": date_presets(today, scope),
        "export_url": "/api/export?" + urlencode({"format": "csv", **_filter_values(scope)}),
    }


def _filter_values(scope: Scope) -> dict[str, str]:
    values = {
        "since": scope.since.isoformat() if scope.since else None,
        "until": scope.until.isoformat() if scope.until else None,
        "touchpoint": scope.touchpoint,
        "location": scope.location,
        "language": scope.language,
    }
    return {k: v for k, v in values.items() if v}


def date_presets(today: date, scope: Scope) -> list[dict[str, Any]]:
    """Last 7, 30 and 90 days and this quarter, keeping the other filters;
    each with its link and whether it is the period shown."""
    quarter = today.replace(month=3 * ((today.month - 1) // 3) + 1, day=1)
    found = []
    for label, since in (
        ("Last 7 days", today - timedelta(days=6)),
        ("Last 30 days", today - timedelta(days=29)),
        ("Last 90 days", today - timedelta(days=89)),
        ("This quarter", quarter),
    ):
        values = {**_filter_values(scope), "since": since.isoformat(), "until": today.isoformat()}
        found.append(
            {
                "label": label,
                "href": "/dashboard?" + urlencode(values),
                "current": scope.since == since and scope.until == today,
            }
        )
    return found


@routes.get("/dashboard/surveys/{survey_id}")
@aiohttp_jinja2.template("transcript.html")
async def transcript(request: web.Request) -> dict[str, Any]:
    _require_page_role(request, Role.ANALYST)
    store = request.app[STORE]
    survey = await store.get_survey(request.match_info["survey_id"])
    if survey is None or not may_see(request, survey.touchpoint, survey.location):
        raise web.HTTPNotFound(text="No survey with that id.")  # the same, outside one's scope
    touchpoint = request.app[SURVEY_CONFIG].touchpoint(survey.touchpoint)
    return {
        "survey": survey,
        "response": survey.response,
        "touchpoint_name": touchpoint.name if touchpoint else survey.touchpoint,
        "themes": await store.theme_readings(survey.id),
        "messages": await store.transcript(survey.id),
        # The outcome of its hand-off, if a person had it.
        "handoff": await request.app[HANDOFFS].latest_for_survey(survey.id),
        "reasons": REASON_WORDS,
    }


@routes.get("/dashboard/improvements")
@aiohttp_jinja2.template("improvements.html")
async def improvements_page(request: web.Request) -> dict[str, Any]:
    """Log an improvement, preview who would be told, and see each one's effect."""
    _require_page_role(request, Role.ANALYST)
    scope = limited(request, Scope())
    today = request.app[CLOCK]().date()
    engine = request.app[READ_ENGINE]

    def read() -> tuple[list[dict[str, Any]], list[str]]:
        with engine.connect() as conn:
            return improvement_rows(conn, scope, today), locations(conn, scope)

    rows, places = await asyncio.to_thread(read)
    config = request.app[SURVEY_CONFIG]
    person = person_of(request)
    allowed = person.touchpoints if person else None
    return {
        "report": {"improvements": rows},
        "names": config.touchpoint_names(),
        "themes": sorted(request.app[THEME_LABELS]),
        "touchpoints": [t for t in config.touchpoints if allowed is None or t.id in allowed],
        "locations": places,
    }


@routes.get("/dashboard/digest")
async def digest_page(request: web.Request) -> web.Response:
    """The digest of the person's own scope (an owner's, when their e-mail
    is an owner's), as the e-mail shows it: ?period=daily|weekly."""
    _require_page_role(request, Role.ANALYST)
    person = person_of(request)
    config = request.app[SURVEY_CONFIG]
    every = DigestEvery.DAILY if request.query.get("period") == "daily" else DigestEvery.WEEKLY
    owner = Owner.model_construct(
        name=person.name if person else "you",
        email="",
        slack_webhook_url=None,
        touchpoints=list(person.touchpoints) if person and person.touchpoints else None,
        locations=list(person.locations) if person and person.locations else None,
    )
    now = request.app[CLOCK]()
    period = period_before(every, now.astimezone(ZoneInfo(config.owner_zone(owner))).date())
    settings, engine = request.app[SETTINGS], request.app[READ_ENGINE]

    def render() -> str:
        with engine.connect() as conn:
            found = build_digest(conn, owner, config, period, now, region=settings.default_region)
        return render_digest(found, settings.public_base_url, request.app[THEME_LABELS])[2]

    page = await asyncio.to_thread(render)
    # The e-mail's own HTML (inline styles, no scripts): its own policy.
    return web.Response(
        text=page,
        content_type="text/html",
        headers={
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
            "img-src data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
        },
    )


@routes.get("/agent")
@aiohttp_jinja2.template("agent.html")
async def agent_console(request: web.Request) -> dict[str, Any]:
    """The agents' console: the queue, a hand-off's card and transcript, and
    claim / reply / note / resolve; live through /agent/events."""
    _require_page_role(request, Role.AGENT)
    person = person_of(request)
    return {
        "flag_after": request.app[SURVEY_CONFIG].handoff.flag_waiting_after_minutes,
        "canned_replies": request.app[SURVEY_CONFIG].handoff.canned_replies,
        # With their own account, agents are who they logged in as.
        "account_name": person.name if person and person.user_id else None,
    }
