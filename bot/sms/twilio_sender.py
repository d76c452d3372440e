"""Sending SMS through Twilio's Messages API with the official `twilio` library.

Every part is stored in the outbox (feedbot.store.sms_outbox) before it is
sent, and its outcome recorded: Twilio's message SID and status, or the
error. Transient failures (429, 5xx, timeouts, connection errors) are retried
a few times at once, then from the outbox by scheduler rounds with a growing
delay, for up to a day; a permanent one (4xx: a bad number, a blocked
recipient) is recorded at once. Where a try's outcome is unknown (a timeout,
a stop mid-request), Twilio's list of the number's messages says whether it
arrived, so a text is sent once. Texts to a number leave in order. Nothing is
ever sent to a number that has opted out, except the one STOP confirmation.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import aiohttp
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from bot.sms.keywords import sms_parts
from bot.sms.rate_limit import RateLimiter
from feedbot.settings import Settings
from feedbot.store.models import Author
from feedbot.store.opt_outs import OptOutStore
from feedbot.store.sms_outbox import PENDING, Outgoing, SmsOutbox

log = logging.getLogger(__name__)

# A text that could not be sent is tried again after 5 s, then 10, 20...,
# at most every 10 minutes, until the outbox gives it up (GIVE_UP_AFTER).
RETRY_FIRST = timedelta(seconds=5)
RETRY_AT_MOST = timedelta(minutes=10)
# How many of a number's latest messages Twilio is asked for, to learn
# whether a text whose sending was cut off reached it.
LOOK_BACK = 20


class SmsNotConfigured(RuntimeError):
    pass


@dataclass(frozen=True)
class Delivery:
    # Twilio's status ("queued", "sent"...), "pending" (in the outbox, sent
    # later), "error", or "opted_out".
    status: str
    sid: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status not in ("error", "opted_out")


class TwilioSender:
    def __init__(
        self,
        settings: Settings,
        outbox: SmsOutbox,
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
        self._outbox = outbox
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
        """Store the text's parts in the outbox, then send what is due to
        this number, in order. A part that meets a transient failure stays
        in the outbox ("pending"), as do the parts behind it: a scheduler
        round sends them (``resume``)."""
        ids = await self.queue(
            to, text, survey_id=survey_id, author=author, even_if_opted_out=even_if_opted_out
        )
        if ids is None:
            return [Delivery(status="opted_out")]
        outcomes = await self.drain(to)
        return [outcomes.get(i, Delivery(status=PENDING)) for i in ids]

    async def queue(
        self,
        to: str,
        text: str,
        *,
        survey_id: str | None = None,
        author: Author = Author.BOT,
        even_if_opted_out: bool = False,
    ) -> list[int] | None:
        """Store the text's parts in the outbox, to be sent by ``drain`` (or,
        if that fails, by a scheduler round); their ids, or None when the
        number opted out."""
        if not even_if_opted_out and await self._opt_outs.is_opted_out(to):
            log.info("not texting %s: opted out", _masked(to))
            return None
        return await self._outbox.enqueue(
            to,
            sms_parts(text),
            self._clock(),
            survey_id=survey_id,
            author=author,
            despite_opt_out=even_if_opted_out,
        )

    async def drain(self, to: str) -> dict[int, Delivery]:
        """Send this number's due texts, oldest first, until none is left or
        one has to wait; what became of each, by message id."""
        outcomes: dict[int, Delivery] = {}
        while (message := await self._outbox.take_next(to, self._clock())) is not None:
            if not message.despite_opt_out and await self._opt_outs.is_opted_out(to):
                log.info("not texting %s: opted out while the text waited", _masked(to))
                await self._outbox.drop_opted_out(message.id, self._clock())
                outcomes[message.id] = Delivery(status="opted_out")
                continue
            delivery = await self._deliver(message)
            now = self._clock()
            if delivery.sid is not None:
                await self._outbox.sent(message.id, delivery.status, delivery.sid, now)
            elif delivery.status == PENDING:
                delay = min(RETRY_FIRST * 2 ** (message.attempts - 1), RETRY_AT_MOST)
                if await self._outbox.retry_later(message, delivery.error or "", now, delay):
                    log.warning(
                        "SMS to %s not sent yet (%s): tried again in %.0f s",
                        _masked(to),
                        delivery.error,
                        delay.total_seconds(),
                    )
                else:
                    log.error("SMS to %s given up: %s", _masked(to), delivery.error)
                    delivery = Delivery(status="error", error=delivery.error)
                outcomes[message.id] = delivery
                break  # the texts behind it wait: they would read wrong first
            else:
                await self._outbox.failed(message.id, delivery.error or delivery.status, now)
            outcomes[message.id] = delivery
        return outcomes

    async def resume(self) -> int:
        """One scheduler round of the outbox: texts an instance stopped
        while sending (Twilio is asked whether it has them before they are
        sent again), then every number with a text due; how many were sent."""
        for message in await self._outbox.claim_lapsed(self._clock()):
            try:
                found = await self._find_at_twilio(message)
            except (TwilioRestException, aiohttp.ClientError, TimeoutError) as exc:
                log.warning(
                    "could not ask Twilio about a text to %s: %s", _masked(message.peer), exc
                )
                continue  # the claim lapses again; asked next time
            if found is not None:
                log.info("a text to %s had reached Twilio before a stop", _masked(message.peer))
                await self._outbox.sent(message.id, found.status, found.sid, self._clock())
            else:
                log.warning("a text to %s was cut off by a stop: sent again", _masked(message.peer))
                await self._outbox.retry_later(
                    message, "an instance stopped while sending it", self._clock(), timedelta(0)
                )
        sent = 0
        for peer in await self._outbox.peers_due(self._clock()):
            sent += sum(1 for d in (await self.drain(peer)).values() if d.sid is not None)
        return sent

    async def _find_at_twilio(self, message: Outgoing) -> Delivery | None:
        """The message Twilio made of this text, if it has one (same number
        and words, made since the text was written, not already ours)."""
        listed = await asyncio.wait_for(
            self._client.messages.list_async(to=message.peer, limit=LOOK_BACK), self._timeout
        )
        since = message.created_at - timedelta(minutes=1)
        candidates = [
            m
            for m in listed
            if m.body == message.text
            and m.sid
            and isinstance(m.date_created, datetime)
            and m.date_created >= since
        ]
        known = await self._outbox.sids_known([m.sid for m in candidates if m.sid])
        for m in reversed(candidates):  # the oldest first: Twilio lists the newest first
            if m.sid not in known:
                return Delivery(status=m.status or "queued", sid=m.sid)
        return None

    async def _deliver(self, message: Outgoing) -> Delivery:
        """Ask Twilio to send one text, retrying transient failures a few
        times at once. After a try whose outcome is unknown (a timeout or a
        connection dropped mid-request), Twilio is asked whether it made the
        message before the text is sent again. PENDING when it must wait."""
        last_error = ""
        for attempt in range(self._attempts):
            if attempt:
                await asyncio.sleep(self._first_delay * 2 ** (attempt - 1))
            await self._pace.wait()
            try:
                made = await asyncio.wait_for(
                    self._client.messages.create_async(**self._params(message.peer, message.text)),
                    self._timeout,
                )
                return Delivery(status=made.status or "queued", sid=made.sid)
            except TwilioRestException as exc:
                last_error = f"Twilio {exc.status}: {exc.msg}"
                if exc.status != 429 and exc.status < 500:
                    log.warning("SMS to %s refused: %s", _masked(message.peer), last_error)
                    return Delivery(status="error", error=last_error)
            except aiohttp.ClientConnectorError as exc:  # never reached Twilio
                last_error = f"{type(exc).__name__}: {exc}".rstrip(": ")
            except (aiohttp.ClientError, TimeoutError) as exc:
                last_error = f"{type(exc).__name__}: {exc}".rstrip(": ")
                try:
                    found = await self._find_at_twilio(message)
                except (TwilioRestException, aiohttp.ClientError, TimeoutError):
                    return Delivery(status=PENDING, error=f"{last_error} (not known if sent)")
                if found is not None:
                    return found
            log.info(
                "SMS to %s failed (attempt %d): %s", _masked(message.peer), attempt + 1, last_error
            )
        return Delivery(status=PENDING, error=last_error)

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
