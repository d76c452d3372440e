"""GET /api/report and GET /api/export: the command line's `feedbot report`
and `feedbot export` over HTTP, for the analyst role.

Both read the store through a synchronous engine on a worker thread (the
analytics code is plain SQLAlchemy, shared with the command line). An export
is streamed: the thread writes into a small bounded queue that the response
drains, so memory stays flat however many rows there are, and a client that
goes away stops the export.
"""

from __future__ import annotations

import asyncio
import io
import logging
import threading
from datetime import date
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from analytics import render
from analytics.export import ExportOptions, survey_rows, write_export
from analytics.query import ExportFormat, Interval, Scope, parse_by
from analytics.report import DEFAULT_MIN_SAMPLE, build_report
from bot.auth import Role, limited, require_role
from bot.keys import AUDIT, CLOCK, READ_ENGINE, SURVEY_CONFIG
from feedbot.validation import describe

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
CHUNK_BYTES = 64 * 1024
QUEUED_CHUNKS = 8


class ScopeQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    since: date | None = None
    until: date | None = None
    touchpoint: str | None = Field(default=None, max_length=64)
    location: str | None = Field(default=None, max_length=64)
    language: str | None = Field(default=None, max_length=8)

    @field_validator("language")
    @classmethod
    def _all_when_empty(cls, value: str | None) -> str | None:
        return value or None  # "language=" (the dashboard's "All"): every language

    def scope(self) -> Scope:
        return Scope(self.since, self.until, self.touchpoint, self.location, self.language)


class ReportQuery(ScopeQuery):
    by: str = "touchpoint"
    format: str = Field(default="json", pattern="^(json|csv)$")
    interval: Interval = Interval.WEEK
    min_sample: int = Field(default=DEFAULT_MIN_SAMPLE, ge=1)

    @field_validator("by")
    @classmethod
    def _known_dimensions(cls, value: str) -> str:
        parse_by(value)
        return value


class ExportQuery(ScopeQuery):
    format: ExportFormat = ExportFormat.CSV
    unmasked: bool = False


Q = TypeVar("Q", bound=BaseModel)


def _parse(request: web.Request, model: type[Q]) -> Q:
    try:
        parsed = model.model_validate(dict(request.query))
        if isinstance(parsed, ScopeQuery):
            parsed.scope()  # since after until
        return parsed
    except ValidationError as exc:
        raise web.HTTPBadRequest(text=describe(exc, top="query")) from None
    except ValueError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None


@routes.get("/api/report")
async def report(request: web.Request) -> web.Response:
    require_role(request, Role.ANALYST)
    query = _parse(request, ReportQuery)
    engine = request.app[READ_ENGINE]
    today = request.app[CLOCK]().date()

    def build() -> dict[str, Any]:
        with engine.connect() as conn:
            return build_report(
                conn,
                limited(request, query.scope()),
                parse_by(query.by),
                interval=query.interval,
                min_sample=query.min_sample,
                today=today,
            )

    found = await asyncio.to_thread(build)
    if query.format == "csv":
        return web.Response(text=render.as_csv(found), content_type="text/csv", charset="utf-8")
    return web.json_response(found)


class _QueueSink(io.RawIOBase):
    """A binary stream the export thread writes to; each write waits for room
    in the response's queue, and fails once the client has gone."""

    def __init__(self, queue: asyncio.Queue[bytes | None], loop: asyncio.AbstractEventLoop):
        self._queue, self._loop = queue, loop
        self.cancelled = threading.Event()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        if self.cancelled.is_set():
            raise BrokenPipeError("the client went away")
        chunk = bytes(data)
        asyncio.run_coroutine_threadsafe(self._queue.put(chunk), self._loop).result()
        return len(chunk)


@routes.get("/api/export")
async def export(request: web.Request) -> web.StreamResponse:
    role = require_role(request, Role.ANALYST)
    query = _parse(request, ExportQuery)
    if query.unmasked and role is not Role.ADMIN:
        raise web.HTTPForbidden(text="Full phone numbers (unmasked=true) need the admin role.")
    if query.unmasked:  # full phone numbers leave: who and when, in the audit log
        await request.app[AUDIT].record(
            "api",
            role.value,
            "export.unmasked",
            request.app[CLOCK](),
            None,
            limited(request, query.scope()).as_dict(),
        )
    names = request.app[SURVEY_CONFIG].touchpoint_names()
    options = ExportOptions(
        limited(request, query.scope()), unmasked=query.unmasked, touchpoint_names=names
    )
    engine = request.app[READ_ENGINE]
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=QUEUED_CHUNKS)
    sink = _QueueSink(queue, loop)

    def produce() -> int:
        try:
            with engine.connect() as conn, io.BufferedWriter(sink, CHUNK_BYTES) as out:
                rows = survey_rows(conn, options, transcripts=query.format.has_transcript)
                return write_export(rows, query.format, out)
        finally:
            asyncio.run_coroutine_threadsafe(queue.put(None), loop)

    response = web.StreamResponse(
        headers={
            "Content-Type": query.format.media_type,
            "Content-Disposition": f'attachment; filename="feedbot-surveys.{query.format}"',
        }
    )
    await response.prepare(request)
    producer = asyncio.ensure_future(asyncio.to_thread(produce))
    try:
        while (chunk := await queue.get()) is not None:
            await response.write(chunk)
        written = await producer
    except (ConnectionResetError, asyncio.CancelledError):
        log.info("export stopped: the client went away")
        await _stop(producer, sink, queue)
        raise
    except Exception:
        # The status line has gone out: the client can only be told by a
        # body that ends early, so the connection is closed mid-stream.
        log.exception("export failed part way")
        await _stop(producer, sink, queue)
        if request.transport is not None:
            request.transport.close()
        return response
    log.info("exported %d surveys as %s", written, query.format)
    await response.write_eof()
    return response


async def _stop(
    producer: asyncio.Future[int], sink: _QueueSink, queue: asyncio.Queue[bytes | None]
) -> None:
    """Stop the export thread: it fails its next write; drain until it has."""
    sink.cancelled.set()
    while not producer.done():
        try:
            queue.get_nowait()
        except asyncio.QueueEmpty:
            await asyncio.sleep(0.01)
    if not producer.cancelled():
        producer.exception()  # retrieved: it was the client's leaving, or is logged
