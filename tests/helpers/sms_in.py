"""A customer's text arriving as Twilio posts it: signed with the auth token
against the app's PUBLIC_BASE_URL, as the app checks it."""

from __future__ import annotations

import uuid

from aiohttp.test_utils import TestClient
from twilio.request_validator import RequestValidator

from bot.keys import SETTINGS
from tests.fake_twilio import AUTH_TOKEN


async def text_in(client: TestClient, phone: str, text: str) -> int:
    """POST /sms/inbound with a new MessageSid; the status the app answered."""
    form = {"MessageSid": "SM" + uuid.uuid4().hex, "From": phone, "Body": text}
    url = client.server.app[SETTINGS].public_base_url + "/sms/inbound"
    signature = RequestValidator(AUTH_TOKEN).compute_signature(url, form)
    resp = await client.post("/sms/inbound", data=form, headers={"X-Twilio-Signature": signature})
    return resp.status
