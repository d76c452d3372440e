"""Who may do what: bearer tokens for programs, a session for people.

Each role has its own token (settings): ``api`` starts surveys (a company's
systems), ``analyst`` reads reports and exports, ``agent`` answers hand-offs,
and ``admin`` may do all of these and see full phone numbers in exports.

People log in at /login with their own account (e-mail and password,
`feedbot user add`) or with a role token; the app keeps the session
server-side (feedbot.store.accounts) and the browser holds only a random
token in a cookie. Logging out, disabling the person, resetting their
password or changing the role token they logged in with ends it. An account
may be limited to some touchpoints and locations: every report, export,
page and hand-off it sees is within them.
"""

from __future__ import annotations

import hmac
from enum import StrEnum

from aiohttp import web

from analytics.query import Scope
from bot.errors import Handler
from bot.keys import CLOCK, SESSIONS, SETTINGS
from feedbot.settings import Settings
from feedbot.store.accounts import Person

SESSION_COOKIE = "feedbot_session"
SESSION_SECONDS = 12 * 3600
IDENTITY = "feedbot.identity"  # the request's Person, or None


class Role(StrEnum):
    API = "api"
    ANALYST = "analyst"
    AGENT = "agent"
    ADMIN = "admin"


# What holding each role's token allows.
GRANTS: dict[Role, frozenset[Role]] = {
    Role.API: frozenset({Role.API}),
    Role.ANALYST: frozenset({Role.ANALYST}),
    Role.AGENT: frozenset({Role.AGENT}),
    Role.ADMIN: frozenset(Role),
}
TOKEN_VARIABLES = {
    Role.API: "FEEDBOT_API_TOKEN",
    Role.ANALYST: "FEEDBOT_ANALYST_TOKEN",
    Role.AGENT: "FEEDBOT_AGENT_TOKEN",
    Role.ADMIN: "FEEDBOT_ADMIN_TOKEN",
}


def token_of(settings: Settings, role: Role) -> str | None:
    return {
        Role.API: settings.api_token,
        Role.ANALYST: settings.analyst_token,
        Role.AGENT: settings.agent_token,
        Role.ADMIN: settings.admin_token,
    }[role]


def role_of_token(settings: Settings, given: str) -> Role | None:
    """The role whose token this is (the most powerful, if tokens are shared)."""
    for role in (Role.ADMIN, Role.ANALYST, Role.AGENT, Role.API):
        expected = token_of(settings, role)
        if expected and given and hmac.compare_digest(given.encode(), expected.encode()):
            return role
    return None


def person_of(request: web.Request) -> Person | None:
    """Who is asking (set by the `identify` middleware), or None."""
    return request.get(IDENTITY)


def limited(request: web.Request, scope: Scope) -> Scope:
    """The scope, within what the person asking may see."""
    person = person_of(request)
    return scope.within(person.touchpoints, person.locations) if person else scope


def may_see(request: web.Request, touchpoint: str | None, location: str | None) -> bool:
    """Whether the person asking may see a survey of this touchpoint and location."""
    person = person_of(request)
    if person is None:
        return False
    if person.touchpoints is not None and touchpoint not in person.touchpoints:
        return False
    return person.locations is None or location in person.locations


def role_of_request(request: web.Request) -> Role | None:
    person = person_of(request)
    return Role(person.role) if person else None


@web.middleware
async def identify(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Who the request comes from: a bearer token's role, or the person of a
    live session cookie; nobody otherwise."""
    settings = request.app[SETTINGS]
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        role = role_of_token(settings, header.removeprefix("Bearer ").strip())
        request[IDENTITY] = Person(role=role.value, name=role.value) if role else None
    elif request.path.startswith("/static/"):
        pass  # files anyone may fetch: no session lookup for each of them
    elif cookie := request.cookies.get(SESSION_COOKIE):
        tokens = {r.value: token_of(settings, r) for r in Role}
        request[IDENTITY] = await request.app[SESSIONS].person(cookie, request.app[CLOCK](), tokens)
    return await handler(request)


def require_role(request: web.Request, needed: Role) -> Role:
    """The caller's role if it grants ``needed``; else 401 (no valid
    credentials) or 403 (valid, but not for this)."""
    role = role_of_request(request)
    if role is None:
        label = "API" if needed is Role.API else needed.value
        raise web.HTTPUnauthorized(
            text=f"A valid {label} token is required: "
            f"Authorization: Bearer <{TOKEN_VARIABLES[needed]}>"
            + (" (or log in at /login)." if needed is not Role.API else "."),
            headers={"WWW-Authenticate": "Bearer"},
        )
    if needed not in GRANTS[role]:
        raise web.HTTPForbidden(text=f"The {role.value} role may not do this; it needs {needed}.")
    return role
