"""Ending a survey: completed, declined, or left halfway. Each ending is
told to the app in the turn's reply (feedbot.bot_decisions)."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import context
from feedbot.bot_decisions import survey_ended
from feedbot.store.models import SurveyState


class ActionCompleteSurvey(Action):
    def name(self) -> str:
        return "action_complete_survey"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        await context.survey_store().finish(
            tracker.sender_id, SurveyState.COMPLETED, context.now(tracker)
        )
        dispatcher.utter_message(json_message=survey_ended(SurveyState.COMPLETED, _score(tracker)))
        return [SlotSet("survey_finished", True)]


def ending_state(intent: str | None, has_score: bool, has_reason: bool) -> SurveyState:
    """How a survey the customer stopped early is recorded.

    Once the why is in, stopping (skipping the probing question, or leaving)
    still completes the survey. Before that, declining the why after a score
    completes it; declining the score declines it; saying goodbye leaves it
    (a partial response when the score is in).
    """
    if has_reason:
        return SurveyState.COMPLETED
    if intent == "goodbye":
        return SurveyState.LEFT
    return SurveyState.COMPLETED if has_score else SurveyState.DECLINED


class ActionStopSurvey(Action):
    def name(self) -> str:
        return "action_stop_survey"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        state = ending_state(
            intent, tracker.get_slot("score") is not None, tracker.get_slot("reason") is not None
        )
        await context.survey_store().finish(tracker.sender_id, state, context.now(tracker))
        dispatcher.utter_message(json_message=survey_ended(state, _score(tracker)))
        return [SlotSet("survey_finished", True)]


def _score(tracker: Tracker) -> int | None:
    score = tracker.get_slot("score")
    return int(score) if isinstance(score, int | float) else None
