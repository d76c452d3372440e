"""Twilio's webhooks: an inbound text, and a delivery status.

Both check X-Twilio-Signature against PUBLIC_BASE_URL + the path (Twilio's
RequestValidator) and refuse a forged request with 403. An inbound text is
stored in the SMS inbox first (feedbot.store.sms_inbox), then acknowledged
with empty TwiML and handled in the background, so Twilio's 15-second
timeout and retries can never make a turn twice (a MessageSid seen before is
dropped), and a text Twilio was told arrived is never lost: if the app stops
before handling it, a scheduler round handles it later."""

from __future__ import annotations

import logging

from aiohttp import web
from twilio.request_validator import RequestValidator

from bot.keys import CLOCK, SETTINGS, SMS_CHANNEL, SMS_INBOX, STORE
from bot.tasks import spawn

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


async def _signed_form(request: web.Request) -> dict[str, str]:
    settings = request.app[SETTINGS]
    if request.app[SMS_CHANNEL] is None or not settings.twilio_auth_token:
        raise web.HTTPServiceUnavailable(text="SMS is not configured on this Feedbot.")
    form = {k: str(v) for k, v in (await request.post()).items()}
    url = settings.public_base_url + request.path_qs
    signature = request.headers.get("X-Twilio-Signature", "")
    if not RequestValidator(settings.twilio_auth_token).validate(url, form, signature):
        log.warning("refused a %s request with a bad Twilio signature", request.path)
        raise web.HTTPForbidden(text="Invalid Twilio signature.")
    return form


@routes.post("/sms/inbound")
async def inbound(request: web.Request) -> web.Response:
    form = await _signed_form(request)
    sid, phone, body = form.get("MessageSid"), form.get("From"), form.get("Body", "")
    if not sid or not phone:
        raise web.HTTPBadRequest(text="MessageSid and From are required.")
    if await request.app[SMS_INBOX].receive(sid, phone, body, request.app[CLOCK]()):
        spawn(request.app, handle(request.app, sid, phone, body), name=f"sms {sid}")
    else:
        log.info("SMS %s delivered again, ignored", sid)
    return web.Response(text=EMPTY_TWIML, content_type="text/xml")


async def handle(app: web.Application, sid: str, phone: str, body: str) -> None:
    """One inbound text, through the SMS channel, then marked handled."""
    channel = app[SMS_CHANNEL]
    assert channel is not None
    await channel.inbound(sid, phone, body)
    await app[SMS_INBOX].handled(sid, app[CLOCK]())


async def handle_lapsed(app: web.Application) -> int:
    """Texts stored but never handled (the app stopped mid-way), handled now."""
    texts = await app[SMS_INBOX].claim_unhandled(app[CLOCK]())
    for text in texts:
        log.warning("SMS %s was stored but not handled; handling it now", text.sid)
        await handle(app, text.sid, text.phone, text.body)
    return len(texts)


@routes.post("/sms/status")
async def status(request: web.Request) -> web.Response:
    form = await _signed_form(request)
    sid, state = form.get("MessageSid"), form.get("MessageStatus")
    if not sid or not state:
        raise web.HTTPBadRequest(text="MessageSid and MessageStatus are required.")
    error = form.get("ErrorCode")
    found = await request.app[STORE].set_delivery(
        request.app[CLOCK](),
        state,
        external_id=f"sms:{sid}",
        error=f"Twilio error {error}" if error else None,
    )
    if not found:
        log.info("delivery status %s for unknown message %s", state, sid)
    return web.Response(status=204)
