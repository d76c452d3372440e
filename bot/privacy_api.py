"""POST /api/erasures: an admin erases one customer (feedbot.privacy)."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, model_validator

from bot.auth import Role, require_role
from bot.errors import json_body
from bot.keys import AUDIT, CLOCK, SETTINGS
from bot.phones import InvalidPhone, to_e164
from feedbot.privacy import erase_with_settings

log = logging.getLogger(__name__)
routes = web.RouteTableDef()


class ErasureRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    phone: str | None = Field(default=None, min_length=1, max_length=32)
    customer_id: str | None = Field(default=None, min_length=1, max_length=128)

    @model_validator(mode="after")
    def one_identifier(self) -> ErasureRequest:
        if (self.phone is None) == (self.customer_id is None):
            raise ValueError('give exactly one of "phone" or "customer_id"')
        return self


@routes.post("/api/erasures")
async def erase(request: web.Request) -> web.Response:
    role = require_role(request, Role.ADMIN)
    body = await json_body(request, ErasureRequest)
    settings = request.app[SETTINGS]
    if body.phone is not None:
        try:
            kind, ref = "phone", to_e164(body.phone, settings.default_region)
        except InvalidPhone as exc:
            raise web.HTTPBadRequest(text=str(exc)) from None
    else:
        kind, ref = "customer_id", body.customer_id or ""
    erased = await asyncio.to_thread(
        erase_with_settings,
        settings,
        customer_ref=ref,
        kind=kind,
        by=role.value,
        at=request.app[CLOCK](),
    )
    await request.app[AUDIT].record(
        "api", role.value, "customer.erase", request.app[CLOCK](), None, {"kind": kind}
    )
    log.info("erased a customer (%s) for the %s role: %s", kind, role.value, erased.as_dict())
    return web.json_response({"kind": kind, "erased": erased.as_dict()})
