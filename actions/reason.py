"""The why question, and the one probing question after a vague answer."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import FormValidationAction
from rasa_sdk.types import DomainDict

from actions import context
from actions.asking import AskOnceAction
from feedbot.customer_text import unguard
from feedbot.nps import Category
from feedbot.retagging import tags_of


class ActionAskReason(AskOnceAction):
    slot = "reason"


class ActionAskFollowUp(AskOnceAction):
    slot = "follow_up"


def _category(tracker: Tracker) -> Category | None:
    value = tracker.get_slot("category")
    return Category(value) if value else None


async def take_reason(tracker: Tracker, reason: str) -> dict[str, Any]:
    """Store the reason with its themes and sentiment; the slots that follow."""
    reading = context.understanding(context.language(tracker)).reason(reason, _category(tracker))
    await context.survey_store().record_reason(
        tracker.sender_id,
        reason,
        context.now(tracker),
        tags_of(reading),
    )
    return {"reason": reason, "reason_vague": reading.vague}


class ValidateReasonForm(FormValidationAction):
    def name(self) -> str:
        return "validate_reason_form"

    async def validate_reason(
        self,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        reason = unguard(str(slot_value or ""))
        if not reason:
            return {"reason": None}
        return await take_reason(tracker, reason)


class ValidateProbeForm(FormValidationAction):
    def name(self) -> str:
        return "validate_probe_form"

    async def validate_follow_up(
        self,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        answer = unguard(str(slot_value or ""))
        if not answer:
            return {"follow_up": None}
        # Themes and sentiment describe the whole why: reason and answer together.
        whole = f"{tracker.get_slot('reason') or ''}. {answer}".strip(". ")
        reading = context.understanding(context.language(tracker)).reason(whole, _category(tracker))
        await context.survey_store().record_follow_up(
            tracker.sender_id,
            answer,
            context.now(tracker),
            tags_of(reading),
        )
        return {"follow_up": answer}
