"""Bearer tokens for the API."""

from __future__ import annotations

import hmac

from aiohttp import web


def require_token(request: web.Request, expected: str | None) -> None:
    """401 unless the request carries ``Authorization: Bearer <expected>``."""
    header = request.headers.get("Authorization", "")
    given = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
    if not expected or not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise web.HTTPUnauthorized(
            text="A valid API token is required: Authorization: Bearer <FEEDBOT_API_TOKEN>.",
            headers={"WWW-Authenticate": "Bearer"},
        )
