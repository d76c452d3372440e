"""The SMS conversation: starting a survey, and each inbound text in order of
what matters: a duplicate is dropped, carrier keywords come first, an opted-out
number gets silence, a text with no open survey gets a short answer, the rest
goes to the bot."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from bot.channels.port import StartResult
from bot.conversations import Conversations, CustomerMessageRejected
from bot.phones import region_locale
from bot.rasa_client import BotMessage, RasaUnavailable
from bot.sms.keywords import Keyword, keyword_language, keyword_of
from bot.sms.twilio_sender import TwilioSender
from feedbot.app_words import app_words
from feedbot.customer_text import MAX_MESSAGE_CHARS
from feedbot.handoff_rules import IMPROVEMENT_REPLY_URGENCY, HandoffReason
from feedbot.locales import language_of
from feedbot.store.handoffs import HandoffStore
from feedbot.store.improvements import ImprovementStore
from feedbot.store.models import Author, Channel, Direction, Survey, SurveyState
from feedbot.store.opt_outs import OptOutStore
from feedbot.store.surveys import SurveyStore
from feedbot.touchpoints import SmsTexts, SurveyConfig

log = logging.getLogger(__name__)

# A survey whose first question Rasa could not give is sent again this much later.
START_AGAIN_AFTER = timedelta(minutes=1)
# A text this soon after an improvement's message, with no survey open, is a reply to it.
REPLIES_TO_IMPROVEMENTS_WITHIN = timedelta(days=30)


class SmsChannel:
    def __init__(
        self,
        sender: TwilioSender,
        store: SurveyStore,
        opt_outs: OptOutStore,
        conversations: Conversations,
        config: SurveyConfig,
        clock: Callable[[], datetime],
        handoffs: HandoffStore | None = None,
        improvements: ImprovementStore | None = None,
        region: str = "GB",
    ) -> None:
        """``config``: the operator's texts (touchpoints.yml, `sms:` and
        each language's); ``region``: for numbers without a country code."""
        self._config = config
        self._region = region
        self.sender = sender
        self._improvements = improvements
        self._store = store
        self._handoffs = handoffs or HandoffStore(store.engine)
        self._opt_outs = opt_outs
        self._conversations = conversations
        self._clock = clock

    async def start(self, survey: Survey) -> StartResult:
        phone = survey.customer_ref or ""
        if await self._opt_outs.is_opted_out(phone):  # since the survey was scheduled
            reason = "opted out before the survey was sent"
            await self._store.suppress(survey.id, reason)
            return StartResult("suppressed", reason)
        try:
            replies = await self._conversations.start(survey, record_replies=False, apologise=False)
        except RasaUnavailable as exc:
            # Nothing was texted: the scheduler tries again in a minute.
            reason = "the bot did not answer; tried again shortly"
            log.warning("survey %s: %s (%s)", survey.id, reason, exc)
            await self._store.schedule(survey.id, self._clock() + START_AGAIN_AFTER, reason)
            return StartResult("scheduled", reason)
        # One first text: who is writing, the greeting and the question, and
        # how to stop (a long text is one message on the phone, in parts).
        texts = self._texts(language_of(survey.locale))
        opening = texts.say("first_text", message=" ".join(r.text for r in replies))
        error = await self._deliver(phone, [BotMessage(text=opening)], survey.id)
        if error:
            await self._store.finish(survey.id, SurveyState.FAILED, self._clock(), reason=error)
            return StartResult("failed", error)
        await self._store.mark_sent(survey.id, self._clock())
        return StartResult("sent")

    async def remind(self, survey: Survey) -> None:
        """The one reminder to a customer who has not replied."""
        await self.sender.send(
            survey.customer_ref or "",
            self._texts(language_of(survey.locale)).say("reminder"),
            survey_id=survey.id,
        )

    async def inbound(self, message_sid: str, phone: str, body: str) -> None:
        opted_out = await self._opt_outs.is_opted_out(phone)
        keyword = keyword_of(body, opted_out)
        survey = await self._store.open_survey_for(Channel.SMS, phone)
        if survey is None and keyword is None:
            # The survey ended when a person took the conversation over: the
            # customer's texts go on to them.
            handed = await self._handoffs.open_for_customer(Channel.SMS, phone)
            survey = handed.survey if handed is not None else None
            if survey is None and not opted_out:
                survey = await self._reply_to_improvement(phone, body)
        external_id = f"sms:{message_sid}"
        if keyword is None and survey is not None and not opted_out:
            try:
                turn = await self._conversations.customer_says(
                    survey, body, external_id, record_replies=False, peer=phone
                )
            except CustomerMessageRejected as exc:  # e.g. a picture with no words
                log.info("survey %s: an SMS refused (%s)", survey.id, exc)
                await self.sender.send(phone, str(exc), survey_id=survey.id)
                return
            if not turn.duplicate:
                # Once its replies are in the outbox the message is answered:
                # what sending leaves there (Twilio down, the database busy)
                # a scheduler round sends, and no round takes the turn again.
                for reply in turn.replies:
                    await self.sender.queue(phone, reply.text, survey_id=survey.id)
                await self._conversations.answered(turn)
                await self.sender.drain(phone)
            return
        stored = await self._store.add_message(
            survey.id if survey else None,
            Direction.INBOUND,
            Author.CUSTOMER,
            body[:MAX_MESSAGE_CHARS],  # a keyword or a stray text: kept within the limit
            self._clock(),
            external_id=external_id,
            peer=phone,
        )
        if not stored:
            log.info("SMS %s delivered again, ignored", message_sid)
            return
        survey_id = survey.id if survey else None
        language = self._language(survey, phone, body)
        texts = self._texts(language)
        if keyword is Keyword.STOP:
            if await self._opt_outs.opt_out(phone, body.strip().upper(), self._clock()):
                log.info("a number opted out (%s)", body.strip().upper())
                await self.sender.send(
                    phone,
                    texts.say("stop_confirmation"),
                    survey_id=survey_id,
                    even_if_opted_out=True,
                )
            if survey is not None:
                await self._store.finish(
                    survey.id, SurveyState.DECLINED, self._clock(), reason="opted out (STOP)"
                )
        elif keyword is Keyword.START:
            if await self._opt_outs.opt_in(phone):
                log.info("a number opted back in")
                await self.sender.send(phone, texts.say("start_confirmation"), survey_id=survey_id)
        elif keyword is Keyword.HELP:
            # What this survey is about, when one is open (HELP after a
            # delivery survey does not talk of a visit).
            touchpoint = survey and self._config.in_language(language).touchpoint(survey.touchpoint)
            about = touchpoint.about if touchpoint else app_words(language).about_anything
            await self.sender.send(
                phone,
                texts.say("help", about=about),
                survey_id=survey_id,
                even_if_opted_out=True,
            )
        elif not opted_out:  # no open survey
            await self.sender.send(phone, texts.say("no_open_survey"))

    def _texts(self, language: str) -> SmsTexts:
        return self._config.in_language(language).sms

    def _language(self, survey: Survey | None, phone: str, body: str) -> str:
        """What to answer a text in: its survey's language; else the language
        of the keyword (BAJA, AYUDA); else the number's country's."""
        if survey is not None:
            return language_of(survey.locale)
        return keyword_language(body) or language_of(region_locale(phone, self._region))

    async def _reply_to_improvement(self, phone: str, body: str) -> Survey | None:
        """A text from a number told of an improvement lately, with no survey
        open: a reply to it, for the agents (a low-urgency hand-off)."""
        if self._improvements is None:
            return None
        since = self._clock() - REPLIES_TO_IMPROVEMENTS_WITHIN
        survey_id = await self._improvements.recent_notice(Channel.SMS, phone, since)
        survey = await self._store.get_survey(survey_id) if survey_id else None
        if survey is not None:
            await self._conversations.hand_over(
                survey,
                HandoffReason.IMPROVEMENT_REPLY,
                f"replied to an improvement's message: {body[:200]}",
                IMPROVEMENT_REPLY_URGENCY,
            )
        return survey

    async def _deliver(self, phone: str, replies: list[BotMessage], survey_id: str) -> str | None:
        """Send the bot's replies in order (buttons are for the widget only);
        the first failure stops the rest and is returned."""
        for reply in replies:
            for delivery in await self.sender.send(phone, reply.text, survey_id=survey_id):
                if not delivery.ok:
                    return delivery.error or delivery.status
        return None
