"""Routing a customer's turn: store it, hand it to Rasa, store and return the
replies. Independent of the channel the customer uses."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from weakref import WeakValueDictionary

from bot.handoff_events import HandoffEvents
from bot.rasa_client import BotMessage, RasaClient, RasaUnavailable, RasaUnreachable
from feedbot.app_words import AppWords, all_of, app_words
from feedbot.bot_decisions import decisions
from feedbot.customer_text import MAX_MESSAGE_CHARS, guard
from feedbot.handoff_rules import HandoffConfig, is_severe, read_yes_no, when_someone_replies
from feedbot.locales import language_of
from feedbot.nps import DETRACTOR_AT_MOST
from feedbot.store.handoffs import OPEN, HandoffStore
from feedbot.store.models import Author, Direction, Handoff, HandoffState, Survey, SurveyState
from feedbot.store.rasa_tracker import MESSAGE_ID, RasaTracker
from feedbot.store.surveys import SurveyStore
from feedbot.touchpoints import SurveyConfig

log = logging.getLogger(__name__)

START_SURVEY = "/start_survey"


class CustomerMessageRejected(ValueError):
    """The message cannot be taken (empty, too long); the reason is for the customer."""


@dataclass(frozen=True)
class Turn:
    replies: list[BotMessage]
    duplicate: bool = False  # the message was delivered before; nothing was redone
    with_agent: bool = False  # a hand-off is open: the message is for the agent, not the bot
    # The customer's message, when the channel records the replies (SMS): it
    # calls Conversations.answered once it has them.
    unanswered: int | None = None


class Conversations:
    def __init__(
        self,
        store: SurveyStore,
        rasa: RasaClient,
        clock: Callable[[], datetime],
        handoffs: HandoffStore | None = None,
        survey_config: SurveyConfig | None = None,
        events: HandoffEvents | None = None,
        tracker: RasaTracker | None = None,
        hold: timedelta = timedelta(minutes=2),
        on_ended: Callable[[str], None] | None = None,
    ) -> None:
        """``tracker``: Rasa's, to find a turn that was cut off (without it,
        such a message is sent to Rasa again). ``hold``: how long a turn holds
        its customer's message before a scheduler round (of any instance)
        takes it over; longer than Rasa's timeout. ``on_ended``: told the
        survey's id after a turn that ended a detractor's survey (owners'
        alerts)."""
        self._store = store
        self._rasa = rasa
        self._clock = clock
        self._handoffs = handoffs or HandoffStore(store.engine)
        self._survey_config = survey_config
        self._events = events or HandoffEvents()
        self._tracker = tracker
        self._hold = hold
        self._on_ended = on_ended or (lambda _survey_id: None)
        # One turn at a time per survey keeps the transcript in order.
        self._locks: WeakValueDictionary[str, asyncio.Lock] = WeakValueDictionary()

    def _lock(self, survey_id: str) -> asyncio.Lock:
        lock = self._locks.get(survey_id)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[survey_id] = lock
        return lock

    async def start(
        self, survey: Survey, record_replies: bool = True, apologise: bool = True
    ) -> list[BotMessage]:
        """Let the bot open the conversation (greeting and first question).
        ``record_replies=False`` when the channel records what it delivers
        (SMS). When Rasa does not answer: an apology for the open widget, or
        (``apologise=False``) RasaUnavailable for a channel that tries later."""
        async with self._lock(survey.id):
            log.info("survey %s started on %s (%s)", survey.id, survey.channel, survey.touchpoint)
            return await self._forward(survey, START_SURVEY, record_replies, apologise)

    async def customer_says(
        self,
        survey: Survey,
        text: str,
        external_id: str | None,
        record_replies: bool = True,
        peer: str | None = None,
    ) -> Turn:
        text = text.strip()
        if not text:
            raise CustomerMessageRejected("Please type a message before sending.")
        if len(text) > MAX_MESSAGE_CHARS:
            raise CustomerMessageRejected(
                f"That message is too long ({len(text)} characters). "
                f"Please keep it under {MAX_MESSAGE_CHARS} characters."
            )
        async with self._lock(survey.id):
            now = self._clock()
            # Held by this turn: if the app stops before the bot's answer is
            # stored, a scheduler round answers it once the hold lapses.
            received = await self._store.add_customer_message(
                survey.id,
                text,
                now,
                held_until=now + self._hold,
                external_id=external_id,
                peer=peer,
            )
            if received is None:
                log.info("survey %s: message %s delivered again, ignored", survey.id, external_id)
                if not record_replies or external_id is None:
                    return Turn(replies=[], duplicate=True)
                # Sent again (the first try's answer may have been lost on
                # the way): the answer as stored, none while it waits.
                said = await self._store.answer_to(external_id, APP_NOTICES) or []
                return Turn(replies=[BotMessage(text=t) for t in said], duplicate=True)
            message_id = received.id
            handoff = await self._handoffs.current_for_survey(survey.id)
            if handoff is not None:
                said = await self._to_handoff(survey, handoff, text, record_replies)
                if said is not None:
                    await self._store.answered(message_id)  # not the bot's to answer
                    return said
            if received.behind_waiting_words:
                # Earlier words wait for the bot (Rasa is down): these wait
                # behind them, in order; the customer has been told.
                await self._store.mark_awaiting_bot(message_id, now)
                return Turn(replies=[])
            metadata = self._metadata(survey, message_id)
            try:
                replies, told = await self._bot_turn(survey, guard(text), metadata)
            except RasaUnreachable as exc:
                log.error(
                    "survey %s: no Rasa took the turn (%s); it waits for the bot", survey.id, exc
                )
                await self._store.mark_awaiting_bot(message_id, self._clock())
                said = await self._say(survey, _words(survey).bot_will_reply, record_replies)
                return Turn(replies=said)
            except RasaUnavailable as exc:
                # Too slow, or an error: Rasa may still finish and save the
                # turn. The message stays held; when the hold lapses a round
                # finds the turn in Rasa's tracker, or sends it again.
                log.error(
                    "survey %s: Rasa did not answer (%s); the bot answers later", survey.id, exc
                )
                said = await self._say(survey, _words(survey).bot_will_reply, record_replies)
                return Turn(replies=said)
            if record_replies:
                await self._store.add_bot_replies(
                    survey.id, _rows(replies), self._clock(), answering=message_id
                )
            return Turn(
                replies=replies + await self._after_bot_turn(survey, record_replies, told),
                unanswered=None if record_replies else message_id,
            )

    async def hand_over(self, survey: Survey, reason: str, detail: str, urgency: int) -> None:
        """Put the conversation in the agents' queue (the app's own hand-offs,
        such as a reply to an improvement's message)."""
        handoff, made = await self._handoffs.open(survey.id, reason, detail, urgency, self._clock())
        if made:
            log.info("survey %s handed over (%s)", survey.id, reason)
            self._events.publish({"event": "opened", "handoff_id": handoff.id, "urgency": urgency})

    async def answered(self, turn: Turn) -> None:
        """The channel has the turn's replies (SMS: in the outbox): the
        customer's message is answered."""
        if turn.unanswered is not None:
            await self._store.answered(turn.unanswered)

    async def answer_awaiting(
        self,
        survey: Survey,
        deliver: Callable[[list[BotMessage]], Awaitable[None]],
        record_replies: bool = True,
    ) -> int:
        """Answer the survey's messages that wait for the bot, in order: no
        Rasa took them, or the turn that held them never finished (the app
        stopped, Rasa was too slow). A turn Rasa saved is not sent again:
        its replies are read from Rasa's tracker, and those not yet stored
        are delivered. ``deliver`` hands the replies to the channel before
        the message is marked answered. How many were answered; if Rasa is
        still down, the rest wait again."""
        answered = 0
        async with self._lock(survey.id):
            while True:
                now = self._clock()
                message = await self._store.take_awaiting_bot(survey.id, now, now + self._hold)
                if message is None:
                    break
                got = await self._saved_answer(survey, message.id)
                told = None  # a turn read back from Rasa's tracker: its decisions unknown
                if got is None:
                    metadata = self._metadata(survey, message.id)
                    try:
                        got, told = await self._bot_turn(survey, guard(message.text), metadata)
                    except RasaUnavailable as exc:
                        if await self._failed_again(survey, message.id, exc, deliver):
                            answered += 1
                            continue
                        break
                    log.info("survey %s: a message that waited for the bot is answered", survey.id)
                if record_replies:
                    await self._store.add_bot_replies(
                        survey.id, _rows(got), self._clock(), answering=message.id
                    )
                await deliver(got + await self._after_bot_turn(survey, record_replies, told))
                if not record_replies:
                    await self._store.answered(message.id)
                answered += 1
        return answered

    async def _failed_again(
        self,
        survey: Survey,
        message_id: int,
        exc: RasaUnavailable,
        deliver: Callable[[list[BotMessage]], Awaitable[None]],
    ) -> bool:
        """The bot could not answer a message that waited. Rasa down (every
        instance refused): it waits again, for as long as that lasts. A turn
        begun and dropped (abandoned when the action server failed, an
        instance that died, a timeout) counts as a try: after MAX_BOT_TRIES
        the customer gets an apology and the message is given up (logged),
        rather than tried for ever. True when it was given up."""
        refused = isinstance(exc, RasaUnreachable) and not exc.mid_turn
        if not refused and await self._store.count_bot_try(message_id) >= MAX_BOT_TRIES:
            log.error(
                "survey %s: gave up a customer's message after %d failed turns (last: %s)",
                survey.id,
                MAX_BOT_TRIES,
                exc,
            )
            said = await self._say(survey, _words(survey).rasa_down_apology, record_replies=True)
            await deliver(said)
            await self._store.answered(message_id)
            return True
        if isinstance(exc, RasaUnreachable):  # unsaved: due again at once
            await self._store.mark_awaiting_bot(message_id, self._clock())
        # (else Rasa may still save the turn: the hold lapses first)
        log.info("survey %s: Rasa still not answering (%s)", survey.id, exc)
        return False

    async def _saved_answer(self, survey: Survey, message_id: int) -> list[BotMessage] | None:
        """The bot's replies not yet stored, if Rasa saved this message's
        turn (the app stopped, or gave up waiting, after Rasa had it)."""
        if self._tracker is None:
            return None
        saved = await self._tracker.answer_to(survey.id, message_id)
        if saved is None:
            return None
        stored = len(await self._store.bot_replies_after(survey.id, message_id, APP_NOTICES))
        log.info(
            "survey %s: Rasa had answered a message before its turn was cut off; "
            "%d of its %d replies were not stored yet",
            survey.id,
            max(0, len(saved) - stored),
            len(saved),
        )
        return [BotMessage(text=text, buttons=buttons or []) for text, buttons in saved[stored:]]

    async def _to_handoff(
        self, survey: Survey, handoff: Handoff, text: str, record_replies: bool
    ) -> Turn | None:
        """A message while a hand-off expects the customer; None when it is
        for the bot after all (an unclear answer to the offer of a person)."""
        if handoff.state in OPEN:  # a person has this conversation: not the bot
            log.info("survey %s: message for the agent (hand-off %s)", survey.id, handoff.id)
            self._events.publish(
                {"event": "customer_message", "handoff_id": handoff.id, "text": text}
            )
            return Turn(replies=[], with_agent=True)
        if handoff.state == HandoffState.OFFERED:  # "Would you like someone from our team…?"
            answer = read_yes_no(text)
            if answer is not None:
                return Turn(
                    replies=await self._answer_offer(survey, handoff, answer, record_replies)
                )
            # Anything else: the offer lapses and the words go to the bot.
            await self._handoffs.answer_offer(handoff.id, False, self._clock())
            return None
        # Resolved: the answer to "Did we sort this out for you?"
        said = read_yes_no(text)
        await self._handoffs.record_recovery(handoff.id, said or text, self._clock())
        # Logs carry no customer's words: "yes", "no", or that they wrote their own.
        log.info(
            "survey %s: recovery answer %s (hand-off %s)",
            survey.id,
            said or "(own words)",
            handoff.id,
        )
        thanks = self._handoff(survey).recovery_thanks
        return Turn(replies=await self._say(survey, thanks, record_replies))

    async def _after_bot_turn(
        self, survey: Survey, record_replies: bool, told: dict[str, Any] | None
    ) -> list[BotMessage]:
        """What follows a turn that ended the survey: tell the agents' consoles
        when the bot handed it over (the action server stores the hand-off), or
        offer a severe detractor a person. Nothing while the survey goes on.
        ``told``: what the actions said they decided (feedbot.bot_decisions);
        the store is read only when the survey ended, or when the decisions
        are unknown (a turn read back from Rasa's tracker)."""
        if told is not None and "survey" not in told:
            return []  # the survey goes on: nothing to read
        handoff = (told or {}).get("handoff")
        if handoff is not None:
            self._handed_over(survey, handoff["id"], handoff["urgency"], handoff["reason"])
            score = told.get("score") if told else None
            if score is not None and score <= DETRACTOR_AT_MOST:
                self._on_ended(survey.id)
            return []
        done = await self._store.get_survey(survey.id)
        if done is None or done.state == SurveyState.STARTED:
            return []
        opened = await self._handoffs.open_for_survey(survey.id) if told is None else None
        if opened is not None:
            self._handed_over(survey, opened.id, opened.urgency, opened.reason)
            offer = []
        else:
            offer = await self._offer_if_severe(done, record_replies)
        if done.score is not None and done.score <= DETRACTOR_AT_MOST:
            self._on_ended(survey.id)  # after the offer: the alert says a person was offered
        return offer

    def _handed_over(self, survey: Survey, handoff_id: str, urgency: int, reason: str) -> None:
        log.info("survey %s handed over (%s)", survey.id, reason)
        self._events.publish({"event": "opened", "handoff_id": handoff_id, "urgency": urgency})

    async def _bot_turn(
        self, survey: Survey, text: str, metadata: dict[str, Any]
    ) -> tuple[list[BotMessage], dict[str, Any]]:
        """Rasa's words for this turn, and what its actions decided."""
        replies = await self._rasa.send(
            survey.id, text, metadata, survey.channel, language_of(survey.locale)
        )
        said = [r for r in replies if r.custom is None]
        return said, decisions([r.custom for r in replies if r.custom is not None])

    async def _offer_if_severe(self, survey: Survey, record_replies: bool) -> list[BotMessage]:
        """Once a severe detractor's survey is done, offer them a person (once).
        ``survey`` is as stored after the turn, with its response."""
        response = survey.response
        if survey.state != SurveyState.COMPLETED or response is None:
            return []
        words = " ".join(t for t in (response.reason, response.follow_up) if t)
        severe = is_severe(response.score, words, self._handoff(survey))
        if severe is None:
            return []
        if await self._handoffs.offer(survey.id, severe, self._clock()) is None:
            return []  # offered (or handed over) before
        log.info("survey %s: a person offered (%s)", survey.id, severe)
        return await self._say(survey, self._handoff(survey).offer_question, record_replies)

    async def _answer_offer(
        self, survey: Survey, offered: Handoff, answer: str, record_replies: bool
    ) -> list[BotMessage]:
        now = self._clock()
        accepted = answer == "yes"
        await self._handoffs.answer_offer(offered.id, accepted, now)
        if not accepted:
            return await self._say(survey, self._handoff(survey).offer_declined, record_replies)
        log.info("survey %s handed over (severe detractor accepted)", survey.id)
        self._events.publish({"event": "opened", "handoff_id": offered.id, "urgency": 3})
        handoff = self._handoff(survey)
        when = when_someone_replies(handoff, now, language_of(survey.locale))
        text = handoff.offer_accepted.replace("{when}", when)
        return await self._say(survey, text, record_replies)

    def _handoff(self, survey: Survey) -> HandoffConfig:
        """The hand-off settings, with their texts in the survey's language."""
        if self._survey_config is None:
            return HandoffConfig()
        return self._survey_config.in_language(language_of(survey.locale)).handoff

    async def _say(self, survey: Survey, text: str, record_replies: bool) -> list[BotMessage]:
        """A message the app itself says (not Rasa), kept in the transcript."""
        if record_replies:
            await self._store.add_message(
                survey.id, Direction.OUTBOUND, Author.BOT, text, self._clock()
            )
        return [BotMessage(text=text)]

    def _metadata(self, survey: Survey, message_id: int | None = None) -> dict[str, Any]:
        return {
            # Stored by Rasa on the user event: how a turn is found again (RasaTracker).
            MESSAGE_ID: message_id,
            "survey_id": survey.id,
            "touchpoint": survey.touchpoint,
            "location": survey.location,
            "channel": survey.channel,
            "locale": survey.locale,
            # The action server stores times by this clock: one per conversation.
            "now": self._clock().isoformat(),
        }

    async def _forward(
        self, survey: Survey, text: str, record_replies: bool, apologise: bool = True
    ) -> list[BotMessage]:
        """Rasa's replies to this text (the survey's start), or an apology
        (or, ``apologise=False``, RasaUnavailable)."""
        try:
            replies, _ = await self._bot_turn(survey, text, self._metadata(survey))
        except RasaUnavailable as exc:
            if not apologise:
                raise
            # The customer's words are already stored; say so rather than fail.
            log.error("survey %s: Rasa did not answer: %s", survey.id, exc)
            replies = [BotMessage(text=_words(survey).rasa_down_apology)]
        if record_replies:
            await self._store.add_bot_replies(survey.id, _rows(replies), self._clock())
        return replies


def _rows(replies: list[BotMessage]) -> list[tuple[str, list[dict[str, str]] | None]]:
    return [(r.text, r.buttons or None) for r in replies]


# A waiting message whose turn Rasa began and dropped this often is given up.
MAX_BOT_TRIES = 10


def _words(survey: Survey) -> AppWords:
    return app_words(language_of(survey.locale))


# Said by the app itself (not Rasa), in the survey's language (feedbot.app_words).
RASA_DOWN_APOLOGY = app_words("en").rasa_down_apology
BOT_WILL_REPLY = app_words("en").bot_will_reply
# What the app says by itself about the bot (not the bot's answer), in any language.
APP_NOTICES = all_of("bot_will_reply") + all_of("rasa_down_apology")
