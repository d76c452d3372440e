"""The web widget as a channel: the customer opens a link (or the widget on
the company's page) and the conversation is live over its WebSocket
(bot.web_chat); what is said from outside a turn is pushed to the open
widget, on whichever app instance it is connected to."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime

import aiohttp
from aiohttp import web

from bot.channels.port import Contact, CustomerChannel, NoticeDesk, StartResult, notice_copy
from bot.handoff_webhooks import SIGNATURE_HEADER, signature
from bot.keys import HTTP, SETTINGS
from bot.rasa_client import BotMessage
from bot.web_chat import push_to_widget
from feedbot.settings import Settings
from feedbot.store.improvements import NOTICE, NOTICE_GAP, Notice, notice_subject
from feedbot.store.models import Author, Direction, Improvement, Survey
from feedbot.store.surveys import SurveyStore
from feedbot.store.turn_clocks import next_turn, take_turn

# The event a company's systems receive to tell a web customer what changed.
IMPROVEMENT_EVENT = "improvement.notify"


class WebChannel(CustomerChannel):
    name = "web"
    # Web customers are told through the company's systems (signed webhooks).
    untold_key = "web_without_webhook"

    def __init__(
        self, app: web.Application, store: SurveyStore, clock: Callable[[], datetime]
    ) -> None:
        self._app, self._store, self._clock = app, store, clock

    def customer_ref(self, contact: Contact) -> str | None:
        return contact.customer_id  # the company's own id, when it gives one

    @classmethod
    def untold(cls, settings: Settings) -> str | None:
        return None if settings.webhooks_on else cls.untold_key

    async def start(self, survey: Survey) -> StartResult:
        await self._store.mark_sent(survey.id, self._clock())  # ready at its link
        return StartResult("sent")

    async def say(self, survey: Survey, text: str, author: Author) -> None:
        await self._store.add_message(survey.id, Direction.OUTBOUND, author, text, self._clock())
        push_to_widget(self._app, survey.id, "agent" if author == Author.AGENT else "bot", text)

    async def deliver(self, survey: Survey, replies: list[BotMessage]) -> None:
        for reply in replies:  # (stored by the conversation)
            push_to_widget(self._app, survey.id, "bot", reply.text)

    def link(self, survey: Survey, base_url: str) -> str | None:
        return f"{base_url.rstrip('/')}/s/{survey.id}"

    async def tell(self, notice: Notice, improvement: Improvement, desk: NoticeDesk) -> int:
        """For a web customer with a customer id: a signed webhook event
        ``improvement.notify`` to each FEEDBOT_WEBHOOK_URLS, for the company's
        own systems to write to them; retried with backoff when it fails."""
        settings = self._app[SETTINGS]
        urls, secret = settings.webhook_urls, settings.webhook_secret or ""
        now = desk.now()
        if not settings.webhooks_on:
            await desk.store.skip(notice.id, "no FEEDBOT_WEBHOOK_URLS to reach web customers")
            return 0
        subject = notice_subject(notice.channel, notice.customer_ref)
        async with desk.store.sessions() as session:
            if notice.attempts == 1 and await next_turn(session, subject, NOTICE) > now:
                await desk.store.skip(notice.id, "told of another improvement in the last 30 days")
                return 0
        body = json.dumps(
            {
                "event": IMPROVEMENT_EVENT,
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
            SIGNATURE_HEADER: signature(secret, body),
        }
        for url in urls:
            try:
                async with self._app[HTTP].post(
                    url, data=body, headers=headers, timeout=aiohttp.ClientTimeout(total=10)
                ) as resp:
                    if not 200 <= resp.status < 300:
                        await desk.retry(notice, f"{url} answered HTTP {resp.status}")
                        return 0
            except (aiohttp.ClientError, TimeoutError) as exc:
                await desk.retry(notice, f"{url}: {type(exc).__name__}: {exc}")
                return 0
        async with desk.store.sessions.begin() as session:
            await take_turn(session, subject, NOTICE, now, NOTICE_GAP)
            await desk.store.finish(session, notice, now, [notice_copy(notice, improvement, now)])
        return 1
