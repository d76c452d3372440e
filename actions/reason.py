"""The why question: any answer is the customer's reason, stored at once."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import FormValidationAction
from rasa_sdk.types import DomainDict

from actions import context
from actions.asking import AskOnceAction
from feedbot.customer_text import unguard


class ActionAskReason(AskOnceAction):
    slot = "reason"


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
        await context.survey_store().record_reason(tracker.sender_id, reason, context.now())
        return {"reason": reason}
