"""Who may do what: bearer tokens for programs, a session cookie for people.

Each role has its own token (settings): ``api`` starts surveys (a company's
systems), ``analyst`` reads reports and exports, ``agent`` answers hand-offs,
and ``admin`` may do all of these and see full phone numbers in exports.

A person logs in once with their token at /login; the app then sets a session
cookie: the role and an expiry, signed with HMAC-SHA256 keyed by that role's
token. No session store is needed, the token never sits in a URL, and
changing a role's token ends every session made with the old one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from enum import StrEnum

from aiohttp import web

from bot.keys import SETTINGS
from feedbot.settings import Settings

SESSION_COOKIE = "feedbot_session"
SESSION_SECONDS = 12 * 3600


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


def _signature(key: str, payload: str) -> str:
    digest = hmac.new(key.encode(), payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def session_cookie(settings: Settings, role: Role, now: float | None = None) -> str:
    token = token_of(settings, role)
    assert token, f"{role} has no token"
    payload = f"{role.value}:{int((now or time.time()) + SESSION_SECONDS)}"
    return f"{payload}:{_signature(token, payload)}"


def role_of_cookie(settings: Settings, value: str, now: float | None = None) -> Role | None:
    try:
        role_name, expires, signature = value.split(":")
        role = Role(role_name)
        expiry = int(expires)
    except ValueError:
        return None
    token = token_of(settings, role)
    if not token or expiry < (now or time.time()):
        return None
    expected = _signature(token, f"{role_name}:{expires}")
    return role if hmac.compare_digest(signature.encode(), expected.encode()) else None


def role_of_request(request: web.Request) -> Role | None:
    settings = request.app[SETTINGS]
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return role_of_token(settings, header.removeprefix("Bearer ").strip())
    cookie = request.cookies.get(SESSION_COOKIE)
    return role_of_cookie(settings, cookie) if cookie else None


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
