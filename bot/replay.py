"""Answering the customers' messages that wait for the bot: no Rasa
instance could take them, or the turn that held them never finished (its
app instance stopped, Rasa was too slow). Once Rasa is back, or the turn's
hold has lapsed, each survey's waiting messages are answered in order (a
turn Rasa had saved is read from its tracker, not sent again), and the
replies reach the customer on their channel (bot.channels): by SMS, or in
their open widget (and in the transcript, which a widget that reconnects
reads back)."""

from __future__ import annotations

import logging
from functools import partial

from aiohttp import web

from bot.keys import CHANNELS, CLOCK, CONVERSATIONS, STORE

log = logging.getLogger(__name__)


async def replay_awaiting(app: web.Application) -> int:
    """One round: every survey with messages due for the bot; how many
    messages were answered."""
    store, conversations, channels = app[STORE], app[CONVERSATIONS], app[CHANNELS]
    answered = 0
    for survey_id in await store.surveys_awaiting_bot(app[CLOCK]()):
        survey = await store.get_survey(survey_id)
        if survey is None:
            continue
        channel = channels.of(survey)
        answered += await conversations.answer_awaiting(
            survey,
            partial(channel.deliver, survey),
            record_replies=channel.conversation_records_replies,
        )
    return answered
