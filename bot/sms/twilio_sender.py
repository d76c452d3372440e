"""Sending SMS through Twilio's Messages API with the official `twilio` library.

Every part is stored before it is sent and its outcome recorded: Twilio's
message SID and status, or the error. Transient failures (429, 5xx, timeouts,
connection errors) are retried with exponential backoff; a permanent one
(4xx: a bad number, a blocked recipient) is recorded at once. Nothing is ever
sent to a number that has opted out, except the one STOP confirmation.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import aiohttp
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from bot.sms.keywords import sms_parts
from bot.sms.rate_limit import RateLimiter
from feedbot.settings import Settings
from feedbot.store.models import Author
from feedbot.store.opt_outs import OptOutStore
from feedbot.store.surveys import SurveyStore

log = logging.getLogger(__name__)


class SmsNotConfigured(RuntimeError):
    pass


@dataclass(frozen=True)
class Delivery:
    status: str  # Twilio's status ("queued", "sent"...), "error", or "opted_out"
    sid: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status not in ("error", "opted_out")


class _Permanent(Exception):
    pass


class TwilioSender:
    def __init__(
        self,
        settings: Settings,
        store: SurveyStore,
        opt_outs: OptOutStore,
        clock: Callable[[], datetime],
        *,
        attempts: int = 4,
        first_delay: float = 0.5,
        timeout: float = 10.0,
    ) -> None:
        if not (settings.twilio_account_sid and settings.twilio_auth_token):
            raise SmsNotConfigured("set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN to send SMS")
        if not (settings.twilio_from_number or settings.twilio_messaging_service_sid):
            raise SmsNotConfigured(
                "set TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID to send SMS"
            )
        self._settings = settings
        self._store = store
        self._opt_outs = opt_outs
        self._clock = clock
        self._attempts = attempts
        self._first_delay = first_delay
        # Enforced here: the library's own timeout does not reach aiohttp 3.12.
        self._timeout = timeout
        self._http = AsyncTwilioHttpClient()
        self._pace = RateLimiter(settings.twilio_max_per_second)
        self._client = Client(
            settings.twilio_account_sid, settings.twilio_auth_token, http_client=self._http
        )
        self._client.api.base_url = settings.twilio_api_base  # a local fake in tests

    async def close(self) -> None:
        if self._http.session is not None:
            await self._http.session.close()

    async def send(
        self,
        to: str,
        text: str,
        *,
        survey_id: str | None = None,
        author: Author = Author.BOT,
        even_if_opted_out: bool = False,
    ) -> list[Delivery]:
        deliveries = []
        for part in sms_parts(text):
            if not even_if_opted_out and await self._opt_outs.is_opted_out(to):
                log.info("not texting %s: opted out", _masked(to))
                deliveries.append(Delivery(status="opted_out"))
                break
            message_id = await self._store.add_outbound(survey_id, to, author, part, self._clock())
            delivery = await self._deliver(to, part)
            await self._store.set_delivery(
                self._clock(),
                delivery.status,
                message_id=message_id,
                new_external_id=f"sms:{delivery.sid}" if delivery.sid else None,
                error=delivery.error,
            )
            deliveries.append(delivery)
            if not delivery.ok:
                break  # later parts would read wrong without this one
        return deliveries

    async def _deliver(self, to: str, body: str) -> Delivery:
        last_error = ""
        for attempt in range(self._attempts):
            if attempt:
                await asyncio.sleep(self._first_delay * 2 ** (attempt - 1))
            await self._pace.wait()
            try:
                message = await asyncio.wait_for(
                    self._client.messages.create_async(**self._params(to, body)), self._timeout
                )
                return Delivery(status=message.status or "queued", sid=message.sid)
            except TwilioRestException as exc:
                last_error = f"Twilio {exc.status}: {exc.msg}"
                if exc.status != 429 and exc.status < 500:
                    log.warning("SMS to %s refused: %s", _masked(to), last_error)
                    return Delivery(status="error", error=last_error)
            except (aiohttp.ClientError, TimeoutError) as exc:
                last_error = f"{type(exc).__name__}: {exc}".rstrip(": ")
            log.info("SMS to %s failed (attempt %d): %s", _masked(to), attempt + 1, last_error)
        log.error(
            "SMS to %s given up after %d attempts: %s", _masked(to), self._attempts, last_error
        )
        return Delivery(
            status="error", error=f"gave up after {self._attempts} attempts: {last_error}"
        )

    def _params(self, to: str, body: str) -> dict[str, str]:
        params = {
            "to": to,
            "body": body,
            "status_callback": f"{self._settings.public_base_url}/sms/status",
        }
        if self._settings.twilio_messaging_service_sid:
            params["messaging_service_sid"] = self._settings.twilio_messaging_service_sid
        else:
            params["from_"] = self._settings.twilio_from_number or ""
        return params


def _masked(phone: str) -> str:
    """Logs name numbers like exports do: +44*******123."""
    return phone[:3] + "*" * max(0, len(phone) - 6) + phone[-3:]
