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
    StartResult,
)
from bot.phones import InvalidPhone, time_zone_of, to_e164
from bot.rasa_client import BotMessage
from bot.sms.channel import SmsChannel
from feedbot.store.models import Author, Survey
from feedbot.store.opt_outs import OptOutStore

NOT_CONFIGURED = (
    "SMS is not configured: set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and "
    "TWILIO_FROM_NUMBER (or TWILIO_MESSAGING_SERVICE_SID)."
)


class SmsPort(CustomerChannel):
    name = "sms"
    quiet_hours = True
    reminders = True
    conversation_records_replies = False  # the sender stores what it delivered

    def __init__(self, sms: SmsChannel | None, opt_outs: OptOutStore, region: str) -> None:
        self._sms, self._opt_outs, self._region = sms, opt_outs, region

    def unavailable(self) -> str | None:
        return NOT_CONFIGURED if self._sms is None else None

    def customer_ref(self, contact: Contact) -> str | None:
        if not contact.phone:
            raise CustomerInvalid("An SMS survey needs a phone number.")
        try:
            return to_e164(contact.phone, self._region)
        except InvalidPhone as exc:
            raise CustomerInvalid(str(exc)) from None

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

    def _channel(self) -> SmsChannel:
        if self._sms is None:
            raise ChannelUnavailable(NOT_CONFIGURED)
        return self._sms
