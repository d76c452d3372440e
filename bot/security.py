"""Security headers on every response, and refusing cross-site requests
that ride on an agent's or analyst's session cookie.

Headers are set as each response is prepared (`on_response_prepare`), so
errors, redirects, exports and WebSocket upgrades get them too, not only the
responses a handler returns.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from aiohttp import web

from bot.auth import SESSION_COOKIE
from bot.errors import Handler
from bot.keys import SETTINGS

log = logging.getLogger(__name__)

PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self' ws: wss:; frame-ancestors 'self'; base-uri 'none'; form-action 'self'"
)
# Named without versions: a version tells an attacker which advisories apply.
SERVER = "Feedbot"
_UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["Server"] = SERVER
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if response.content_type == "text/html":
        response.headers.setdefault("Content-Security-Policy", PAGE_POLICY)
    # Pages, API answers and exports carry customers' words and numbers:
    # kept by no cache. Static files (versioned) may be cached.
    if not request.path.startswith("/static/"):
        response.headers["Cache-Control"] = "no-store"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


@web.middleware
async def same_origin_only(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A state-changing request authenticated by the session cookie must come
    from one of Feedbot's own pages: its Origin (or, lacking one, its Referer)
    is this server's. Programs use bearer tokens and are not affected."""
    if (
        request.method in _UNSAFE_METHODS
        and request.path != "/login"  # authenticated by the token it carries, not the cookie
        and SESSION_COOKIE in request.cookies
        and not request.headers.get("Authorization", "").startswith("Bearer ")
    ):
        sent = request.headers.get("Origin") or request.headers.get("Referer") or ""
        own = {
            _origin(f"{request.scheme}://{request.host}"),
            _origin(request.app[SETTINGS].public_base_url),
        }
        if not sent or _origin(sent) not in own:
            log.info(
                "refused a cross-site %s %s (origin %r)", request.method, request.path, sent or None
            )
            raise web.HTTPForbidden(
                text="Cross-site request refused: send it from Feedbot's own pages."
            )
    return await handler(request)
