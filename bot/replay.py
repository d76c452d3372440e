"""Answering the customers' messages that waited while no Rasa instance
could take them (feedbot's "awaiting the bot"): once Rasa is back, each
survey's waiting messages go to the bot in order, and its replies reach the
customer on their channel, by SMS or in their open widget (and in the
transcript, which a widget that reconnects reads back)."""

from __future__ import annotations

import logging

from aiohttp import web

from bot.keys import CONVERSATIONS, SMS_CHANNEL, STORE
from bot.web_chat import push_to_widget
from feedbot.store.models import Channel

log = logging.getLogger(__name__)


async def replay_awaiting(app: web.Application) -> int:
    """One round: every survey with waiting messages; how many were answered."""
    store, conversations = app[STORE], app[CONVERSATIONS]
    answered = 0
    for survey_id in await store.surveys_awaiting_bot():
        survey = await store.get_survey(survey_id)
        if survey is None:
            continue
        sms = app[SMS_CHANNEL] if survey.channel == Channel.SMS else None
        # By SMS the sender records what it delivers; on the web, the turn does.
        replies = await conversations.answer_awaiting(survey, record_replies=sms is None)
        if not replies:
            continue
        answered += 1
        for reply in replies:
            if sms is not None:
                await sms.sender.send(survey.customer_ref or "", reply.text, survey_id=survey.id)
            else:
                push_to_widget(app, survey.id, "bot", reply.text)
    return answered
