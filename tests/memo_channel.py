"""A customer channel for tests, in one file: what adding a channel takes
(README, "Adding a channel"). Customers are named by the company's own
customer_id; what Feedbot says to them lands in an in-memory inbox, and
they answer through ``customer_says`` (a real channel would take a webhook
or a socket here). The shared contract tests (tests/test_channels.py) run
it beside web and SMS."""

from __future__ import annotations

import uuid
from collections import defaultdict

from aiohttp import web

from bot.channels import Contact, CustomerChannel, CustomerInvalid, StartResult
from bot.channels.port import NoticeDesk, notice_copy
from bot.keys import CLOCK, CONVERSATIONS, STORE
from bot.rasa_client import BotMessage
from feedbot.store.improvements import NOTICE, NOTICE_GAP, Notice, notice_subject
from feedbot.store.models import Author, Direction, Improvement, Survey
from feedbot.store.turn_clocks import take_turn


class MemoChannel(CustomerChannel):
    name = "memo"

    def __init__(self, app: web.Application) -> None:
        self._app = app
        self.inbox: dict[str, list[str]] = defaultdict(list)  # customer -> what they got

    def customer_ref(self, contact: Contact) -> str | None:
        if not contact.customer_id:
            raise CustomerInvalid("A memo survey needs a customer_id.")
        return contact.customer_id

    async def start(self, survey: Survey) -> StartResult:
        replies = await self._app[CONVERSATIONS].start(survey)
        self._got(survey, [r.text for r in replies])
        await self._app[STORE].mark_sent(survey.id, self._app[CLOCK]())
        return StartResult("sent")

    async def say(self, survey: Survey, text: str, author: Author) -> None:
        now = self._app[CLOCK]()
        await self._app[STORE].add_message(survey.id, Direction.OUTBOUND, author, text, now)
        self._got(survey, [text])

    async def deliver(self, survey: Survey, replies: list[BotMessage]) -> None:
        self._got(survey, [r.text for r in replies])

    async def customer_says(self, survey_id: str, text: str) -> None:
        """The customer's message, as this channel's inbound side would take it."""
        survey = await self._app[STORE].get_survey(survey_id)
        assert survey is not None
        turn = await self._app[CONVERSATIONS].customer_says(
            survey, text, f"memo:{uuid.uuid4().hex}"
        )
        self._got(survey, [r.text for r in turn.replies])

    async def tell(self, notice: Notice, improvement: Improvement, desk: NoticeDesk) -> int:
        """ "You said, we did": at most once in 30 days per customer (a turn
        clock), kept in the transcript in the transaction that marks the
        notice sent."""
        now = desk.now()
        subject = notice_subject(notice.channel, notice.customer_ref)
        async with desk.store.sessions.begin() as session:
            if not await take_turn(session, subject, NOTICE, now, NOTICE_GAP):
                told = False
            else:
                told = True
                await desk.store.finish(
                    session, notice, now, [notice_copy(notice, improvement, now)]
                )
        if not told:
            await desk.store.skip(notice.id, "told of another improvement in the last 30 days")
            return 0
        self.inbox[notice.customer_ref].append(improvement.message)
        return 1

    def _got(self, survey: Survey, texts: list[str]) -> None:
        self.inbox[survey.customer_ref or ""].extend(texts)
