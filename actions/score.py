"""The score question: reading the answer, re-asking, and choosing the why."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import FormValidationAction
from rasa_sdk.types import DomainDict

from actions import context
from actions.asking import AskOnceAction
from actions.reason import take_reason
from feedbot.customer_text import unguard
from feedbot.nps import category_of
from feedbot.understanding.scores import read_score

# Answers that are not a 0–10 score get this many re-asks; after that the bot
# skips the number and asks the open question instead of insisting. Before
# that, `handoff.not_understood_in_a_row` unclear answers (default 2) hand the
# conversation to a person (actions/handoff.py).
MAX_REASKS = 2


class ActionAskScore(AskOnceAction):
    slot = "score"


class ValidateScoreForm(FormValidationAction):
    def name(self) -> str:
        return "validate_score_form"

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[str]:
        done = tracker.get_slot("score_skipped") or tracker.get_slot("not_understood")
        return [] if done else domain_slots

    async def validate_score(
        self,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        language = context.language(tracker)
        text = unguard(str(slot_value)) if slot_value is not None else None
        reading = read_score(text, language) if text is not None else None
        score = reading.score if reading else None
        if reading is None or score is None:
            attempts = int(tracker.get_slot("score_attempts") or 0) + 1
            hand_over_at = context.survey_config().handoff.not_understood_in_a_row
            if hand_over_at and attempts >= hand_over_at:
                return {"score": None, "score_attempts": attempts, "not_understood": True}
            return {
                "score": None,
                "score_attempts": attempts,
                "score_skipped": attempts > MAX_REASKS,
            }
        # Saved now, before the reason: a customer who leaves still counts.
        await context.survey_store().record_score(tracker.sender_id, score, context.now(tracker))
        category = category_of(score)
        touchpoint = context.texts(tracker).touchpoint(tracker.get_slot("touchpoint") or "")
        follow_up = (
            touchpoint.follow_up.for_category(category)
            if touchpoint is not None and touchpoint.follow_up is not None
            else None
        )
        slots = {"score": score, "category": category.value, "follow_up_question": follow_up}
        if reading.rest:  # "2. Waited 40 minutes on hold": the why came with the score
            slots |= await take_reason(_with_slots(tracker, slots), reading.rest)
            slots["reason_given"] = True
        return slots


def _with_slots(tracker: Tracker, slots: dict[str, Any]) -> Tracker:
    copy = tracker.copy()
    copy.slots.update(slots)
    return copy
