"""The web widget as a channel: the customer opens a link (or the widget on
the company's page) and the conversation is live over its WebSocket
(bot.web_chat); what is said from outside a turn is pushed to the open
widget, on whichever app instance it is connected to."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from aiohttp import web

from bot.channels.port import Contact, CustomerChannel, StartResult
from bot.rasa_client import BotMessage
from bot.web_chat import push_to_widget
from feedbot.store.models import Author, Direction, Survey
from feedbot.store.surveys import SurveyStore


class WebChannel(CustomerChannel):
    name = "web"

    def __init__(
        self, app: web.Application, store: SurveyStore, clock: Callable[[], datetime]
    ) -> None:
        self._app, self._store, self._clock = app, store, clock

    def customer_ref(self, contact: Contact) -> str | None:
        return contact.customer_id  # the company's own id, when it gives one

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
