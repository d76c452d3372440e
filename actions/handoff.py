"""Handing a conversation to a person: the hand-off is stored for the app,
which from then on sends the customer's messages to the agents, not to Rasa
(docs/handoff.md)."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import context
from feedbot.handoff_rules import HandoffConfig, HandoffReason, is_severe, when_someone_replies
from feedbot.store.models import SurveyState


def urgency_of(reason: HandoffReason, score: int | None, config: HandoffConfig) -> int:
    """3 for a severe detractor, 2 for a customer who asked, 1 otherwise; a
    low score makes any hand-off severe."""
    if reason is HandoffReason.SEVERE or is_severe(score, None, config):
        return 3
    return 2 if reason is HandoffReason.ASKED else 1


class ActionOpenHandoff(Action):
    def name(self) -> str:
        return "action_open_handoff"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        config = context.survey_config().handoff
        now = context.now()
        store = context.survey_store()
        survey = await store.get_survey(tracker.sender_id)
        score = survey.score if survey is not None else None
        reason = HandoffReason.ASKED
        await context.handoff_store().open(
            tracker.sender_id,
            reason.value,
            f"asked: {tracker.latest_message.get('text', '')}"[:500],
            urgency_of(reason, score, config),
            now,
        )
        # The survey ends here, keeping what was said (completed when any
        # answer is in, else left); the agent takes the conversation on.
        answered = survey is not None and survey.answered_at is not None
        state = SurveyState.COMPLETED if answered else SurveyState.LEFT
        await store.finish(tracker.sender_id, state, now, reason="handed to a person")
        return [
            SlotSet("handoff_when", when_someone_replies(config, now)),
            SlotSet("survey_finished", True),
        ]
