"""Answering the customers' messages that wait for the bot: no Rasa
instance could take them, or the turn that held them never finished (its
app instance stopped, Rasa was too slow). Once Rasa is back, or the turn's
hold has lapsed, each survey's waiting messages are answered in order (a
turn Rasa had saved is read from its tracker, not sent again), and the
replies reach the customer on their channel, by SMS or in their open widget
(and in the transcript, which a widget that reconnects reads back)."""

from __future__ import annotations

import logging
from functools import partial

from aiohttp import web

from bot.keys import CLOCK, CONVERSATIONS, SMS_CHANNEL, STORE
from bot.rasa_client import BotMessage
from bot.sms.channel import SmsChannel
from bot.web_chat import push_to_widget
from feedbot.store.models import Channel, Survey

log = logging.getLogger(__name__)


async def replay_awaiting(app: web.Application) -> int:
    """One round: every survey with messages due for the bot; how many
    messages were answered."""
    store, conversations = app[STORE], app[CONVERSATIONS]
    answered = 0
    for survey_id in await store.surveys_awaiting_bot(app[CLOCK]()):
        survey = await store.get_survey(survey_id)
        if survey is None:
            continue
        sms = app[SMS_CHANNEL] if survey.channel == Channel.SMS else None
        # By SMS the sender records what it delivers; on the web, the turn does.
        answered += await conversations.answer_awaiting(
            survey, partial(_deliver, app, survey, sms), record_replies=sms is None
        )
    return answered


async def _deliver(
    app: web.Application, survey: Survey, sms: SmsChannel | None, replies: list[BotMessage]
) -> None:
    for reply in replies:
        if sms is not None:
            await sms.sender.send(survey.customer_ref or "", reply.text, survey_id=survey.id)
        else:
            push_to_widget(app, survey.id, "bot", reply.text)
