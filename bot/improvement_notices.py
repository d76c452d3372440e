"""Telling customers what changed ("you said, we did"; docs/closing-the-loop.md).

A round takes due notices and, for each customer:
- **SMS**: never to a number that opted out; in the customer's quiet hours
  it waits for their end; at most one improvement per customer per 30 days
  (a turn clock). The text's parts go into the SMS outbox in the same
  transaction that marks the notice sent, then the sender sends them at
  its pace (TWILIO_MAX_PER_SECOND), as it sends everything else.
- **Web** (a customer id): a signed webhook event ``improvement.notify`` to
  each FEEDBOT_WEBHOOK_URLS, for the company's own systems to write to
  them; retried with backoff when it fails.
The message is kept in the transcript of the survey that raised the theme.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta

import aiohttp
from aiohttp import web

from bot.handoff_webhooks import SIGNATURE_HEADER, signature
from bot.phones import time_zone_of
from bot.rounds import run_rounds
from bot.sms.keywords import sms_parts
from bot.sms.twilio_sender import TwilioSender
from feedbot.contact_rules import QuietHours
from feedbot.store.improvements import (
    NOTICE,
    NOTICE_GAP,
    ImprovementStore,
    Notice,
    notice_subject,
)
from feedbot.store.models import Author, Direction, Improvement, Message
from feedbot.store.opt_outs import OptOutStore
from feedbot.store.sms_outbox import outbox_rows
from feedbot.store.turn_clocks import next_turn, take_turn
from feedbot.touchpoints import ContactRules

log = logging.getLogger(__name__)

EVENT = "improvement.notify"
FIRST_RETRY = timedelta(seconds=5)
LONGEST_WAIT = timedelta(minutes=10)
GIVE_UP_AFTER_TRIES = 12
ROUND_SECONDS = 5.0
# Customers worked on at once in a round.
AT_ONCE = 8


def sms_text(message: str) -> str:
    """The improvement's message as texted: with how to stop, unless it says."""
    return message if "STOP" in message.upper() else f"{message} Reply STOP to opt out."


class ImprovementNotices:
    def __init__(
        self,
        store: ImprovementStore,
        opt_outs: OptOutStore,
        rules: ContactRules,
        clock: Callable[[], datetime],
        *,
        sender: TwilioSender | None,
        http: aiohttp.ClientSession,
        webhook_urls: tuple[str, ...],
        webhook_secret: str | None,
    ) -> None:
        self._store, self._opt_outs, self._rules, self._clock = store, opt_outs, rules, clock
        self._sender, self._http = sender, http
        self._urls, self._secret = webhook_urls, webhook_secret
        self._improvements: dict[str, Improvement] = {}
        self._kicked = asyncio.Event()
        self._quiet = (
            QuietHours(rules.quiet_hours.start, rules.quiet_hours.end)
            if rules.quiet_hours
            else None
        )

    @property
    def reaches_web(self) -> bool:
        return bool(self._urls and self._secret)

    def kick(self) -> None:
        self._kicked.set()

    async def send_due(self) -> int:
        """Every notice due now; how many were sent. Up to ``AT_ONCE``
        customers are worked on together (each one's checks and outbox
        writes take database round trips); the sender's pace still rules
        how fast texts leave."""
        sent = 0
        gate = asyncio.Semaphore(AT_ONCE)

        async def one(notice: Notice) -> int:
            async with gate:
                try:
                    return await self._send(notice)
                except Exception:  # one customer's failure never stops the rest
                    log.exception("improvement notice %s failed", notice.id)
                    await self._retry(notice, "an unexpected error (logged)")
                    return 0

        while notices := await self._store.take_due(self._clock()):
            sent += sum(await asyncio.gather(*(one(n) for n in notices)))
        return sent

    async def _improvement(self, improvement_id: str) -> Improvement | None:
        if improvement_id not in self._improvements:
            found = await self._store.get(improvement_id)
            if found is None:
                return None
            self._improvements[improvement_id] = found
        return self._improvements[improvement_id]

    async def _send(self, notice: Notice) -> int:
        improvement = await self._improvement(notice.improvement_id)
        if improvement is None:
            await self._store.skip(notice.id, "the improvement is gone")
            return 0
        if notice.channel == "sms":
            return await self._text(notice, improvement)
        return await self._post(notice, improvement)

    async def _text(self, notice: Notice, improvement: Improvement) -> int:
        phone, now = notice.customer_ref, self._clock()
        if self._sender is None:
            await self._retry(notice, "SMS is not configured (TWILIO_*)")
            return 0
        if await self._opt_outs.is_opted_out(phone):
            await self._store.skip(notice.id, "opted out")
            return 0
        if self._quiet is not None:
            local = now.astimezone(time_zone_of(phone, self._rules.default_time_zone))
            allowed = self._quiet.next_end(local)
            if allowed != local:
                await self._store.later(notice.id, allowed.astimezone(now.tzinfo), "quiet hours")
                return 0
        subject = notice_subject(notice.channel, phone)
        rows = outbox_rows(
            phone, sms_parts(sms_text(improvement.message)), now, notice.survey_id, Author.TEAM
        )
        async with self._store.sessions.begin() as session:
            if not await take_turn(session, subject, NOTICE, now, NOTICE_GAP):
                told = True
            else:
                told = False
                await self._store.finish(session, notice, now, rows)
        if told:
            await self._store.skip(notice.id, "told of another improvement in the last 30 days")
            return 0
        await self._sender.drain(phone)  # at the sender's pace; a failure stays in its outbox
        return 1

    async def _post(self, notice: Notice, improvement: Improvement) -> int:
        now = self._clock()
        if not self.reaches_web:
            await self._store.skip(notice.id, "no FEEDBOT_WEBHOOK_URLS to reach web customers")
            return 0
        subject = notice_subject(notice.channel, notice.customer_ref)
        async with self._store.sessions() as session:
            if notice.attempts == 1 and await next_turn(session, subject, NOTICE) > now:
                await self._store.skip(notice.id, "told of another improvement in the last 30 days")
                return 0
        body = json.dumps(
            {
                "event": EVENT,
                "at": now.isoformat(),
                "notice_id": notice.id,  # the same on every try: receivers drop repeats by it
                "customer_id": notice.customer_ref,
                "survey_id": notice.survey_id,
                "improvement": {
                    "id": improvement.id,
                    "theme": improvement.theme,
                    "touchpoint": improvement.touchpoint,
                    "location": improvement.location,
                    "title": improvement.title,
                    "message": improvement.message,
                },
            },
            separators=(",", ":"),
        ).encode()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature(self._secret or "", body),
        }
        for url in self._urls:
            try:
                async with self._http.post(
                    url, data=body, headers=headers, timeout=aiohttp.ClientTimeout(total=10)
                ) as resp:
                    if not 200 <= resp.status < 300:
                        await self._retry(notice, f"{url} answered HTTP {resp.status}")
                        return 0
            except (aiohttp.ClientError, TimeoutError) as exc:
                await self._retry(notice, f"{url}: {type(exc).__name__}: {exc}")
                return 0
        copy = Message(
            survey_id=notice.survey_id,
            direction=Direction.OUTBOUND,
            author=Author.TEAM,
            text=improvement.message,
            created_at=now,
        )
        async with self._store.sessions.begin() as session:
            await take_turn(session, subject, NOTICE, now, NOTICE_GAP)
            await self._store.finish(session, notice, now, [copy])
        return 1

    async def _retry(self, notice: Notice, why: str) -> None:
        if notice.attempts >= GIVE_UP_AFTER_TRIES:
            log.error(
                "improvement notice %s given up after %d tries: %s", notice.id, notice.attempts, why
            )
            await self._store.skip(notice.id, f"given up: {why}")
            return
        wait = min(FIRST_RETRY * 2 ** (notice.attempts - 1), LONGEST_WAIT)
        log.warning("improvement notice %s not sent (try %d): %s", notice.id, notice.attempts, why)
        await self._store.later(notice.id, self._clock() + wait, why)

    async def one_round(self) -> None:
        sent = await self.send_due()
        if sent:
            log.info("%d improvement notice(s) sent", sent)

    async def run(self, every: float = ROUND_SECONDS) -> None:
        await run_rounds(self.one_round, self._kicked, self._clock, every, "improvement notices")


IMPROVEMENT_NOTICES = web.AppKey("improvement_notices", ImprovementNotices)


async def improvement_notices_loop(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.create_task(app[IMPROVEMENT_NOTICES].run(), name="improvement notices")
    yield
    task.cancel()
