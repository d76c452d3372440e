"""Error shaping: every error a client sees is a short message, never a trace."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from bot.json_input import InputRefused, read_json
from feedbot.validation import describe

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Body = TypeVar("Body", bound=BaseModel)
_BODY_HEADERS = frozenset({"content-type", "content-length"})


async def json_body(request: web.Request, model: type[Body]) -> Body:
    """The request's JSON body as ``model``; a 400 that names the problem
    (not JSON, or which field is wrong) otherwise."""
    try:
        raw = read_json(await request.read())
    except InputRefused as exc:
        # One line for the operator, no traceback: refused input is routine.
        log.info("refused %s %s: %s", request.method, request.path, exc)
        raise web.HTTPBadRequest(text=f"The request body must be JSON: {exc}") from None
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise web.HTTPBadRequest(text=describe(exc, top="body")) from None


def _wants_json(request: web.Request) -> bool:
    return request.path.startswith(("/api/", "/sms/")) or "application/json" in request.headers.get(
        "Accept", ""
    )


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or not _wants_json(request):
            raise
        # Keep what the exception says besides its body (Retry-After, WWW-Authenticate).
        kept = {k: v for k, v in exc.headers.items() if k.lower() not in _BODY_HEADERS}
        return web.json_response({"error": exc.text or exc.reason}, status=exc.status, headers=kept)
    except Exception:
        log.exception("unexpected error on %s %s", request.method, request.path)
        message = "Something went wrong on our side. It has been logged."
        if _wants_json(request):
            return web.json_response({"error": message}, status=500)
        return web.Response(text=message, status=500)
