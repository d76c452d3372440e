"""SMS as a channel, through Twilio (bot.sms): the customer is a phone
number in E.164; quiet hours and one reminder apply; opt-outs are honoured
by the sender, which also stores what it delivered."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from bot.channels.port import (
    ChannelUnavailable,
    Contact,
    CustomerChannel,
    CustomerInvalid,
    NotDelivered,
    NoticeDesk,
    StartResult,
)
from bot.phones import InvalidPhone, region_locale, time_zone_of, to_e164
from bot.rasa_client import BotMessage
from bot.sms.channel import SmsChannel
from bot.sms.keywords import sms_parts
from feedbot.store.improvements import NOTICE, NOTICE_GAP, Notice, notice_subject
from feedbot.store.models import Author, Improvement, Survey
from feedbot.store.opt_outs import OptOutStore
from feedbot.store.sms_outbox import outbox_rows
from feedbot.store.turn_clocks import take_turn
from feedbot.touchpoints import ContactRules


def sms_text(message: str) -> str:
    """An improvement's message as texted: with how to stop, unless it says."""
    return message if "STOP" in message.upper() else f"{message} Reply STOP to opt out."


NOT_CONFIGURED = (
    "SMS is not configured: set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and "
    "TWILIO_FROM_NUMBER (or TWILIO_MESSAGING_SERVICE_SID)."
)


class SmsPort(CustomerChannel):
    name = "sms"
    quiet_hours = True
    reminders = True
    conversation_records_replies = False  # the sender stores what it delivered

    def __init__(
        self, sms: SmsChannel | None, opt_outs: OptOutStore, region: str, rules: ContactRules
    ) -> None:
        self._sms, self._opt_outs, self._region, self._rules = sms, opt_outs, region, rules

    def unavailable(self) -> str | None:
        return NOT_CONFIGURED if self._sms is None else None

    def customer_ref(self, contact: Contact) -> str | None:
        if not contact.phone:
            raise CustomerInvalid("An SMS survey needs a phone number.")
        try:
            return to_e164(contact.phone, self._region)
        except InvalidPhone as exc:
            raise CustomerInvalid(str(exc)) from None

    def default_locale(self, customer_ref: str | None) -> str | None:
        """Spanish for numbers in Spain and Spanish-speaking Latin America."""
        return region_locale(customer_ref, self._region) if customer_ref else None

    def time_zone(self, customer_ref: str | None, default: str) -> ZoneInfo:
        return time_zone_of(customer_ref, default) if customer_ref else ZoneInfo(default)

    async def opted_out(self, customer_ref: str | None) -> bool:
        return await self._opt_outs.is_opted_out(customer_ref or "")

    async def start(self, survey: Survey) -> StartResult:
        result = await self._channel().start(survey)
        return StartResult(result.status, result.reason)

    async def say(self, survey: Survey, text: str, author: Author) -> None:
        deliveries = await self._channel().sender.send(
            survey.customer_ref or "", text, survey_id=survey.id, author=author
        )
        failure = next((d for d in deliveries if not d.ok), None)
        if failure is not None:
            raise NotDelivered(f"The text was not sent: {failure.error or failure.status}.")

    async def deliver(self, survey: Survey, replies: list[BotMessage]) -> None:
        sender = self._channel().sender
        for reply in replies:
            await sender.send(survey.customer_ref or "", reply.text, survey_id=survey.id)

    async def remind(self, survey: Survey) -> None:
        await self._channel().remind(survey)

    async def tell(self, notice: Notice, improvement: Improvement, desk: NoticeDesk) -> int:
        """By text: never to a number that opted out; in the customer's quiet
        hours it waits for their end; at most one improvement per customer
        per 30 days (a turn clock). The parts go into the SMS outbox in the
        transaction that marks the notice sent; the sender sends them at
        its pace (TWILIO_MAX_PER_SECOND)."""
        phone, now = notice.customer_ref, desk.now()
        if self._sms is None:
            await desk.retry(notice, "SMS is not configured (TWILIO_*)")
            return 0
        if await self._opt_outs.is_opted_out(phone):
            await desk.store.skip(notice.id, "opted out")
            return 0
        quiet = self._rules.quiet()
        if quiet is not None:
            local = now.astimezone(time_zone_of(phone, self._rules.default_time_zone))
            allowed = quiet.next_end(local)
            if allowed != local:
                await desk.store.later(notice.id, allowed.astimezone(now.tzinfo), "quiet hours")
                return 0
        subject = notice_subject(notice.channel, phone)
        rows = outbox_rows(
            phone, sms_parts(sms_text(improvement.message)), now, notice.survey_id, Author.TEAM
        )
        async with desk.store.sessions.begin() as session:
            if not await take_turn(session, subject, NOTICE, now, NOTICE_GAP):
                told = True
            else:
                told = False
                await desk.store.finish(session, notice, now, rows)
        if told:
            await desk.store.skip(notice.id, "told of another improvement in the last 30 days")
            return 0
        await self._sms.sender.drain(phone)  # at the sender's pace; a failure stays in its outbox
        return 1

    def _channel(self) -> SmsChannel:
        if self._sms is None:
            raise ChannelUnavailable(NOT_CONFIGURED)
        return self._sms
