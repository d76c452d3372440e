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
from feedbot.bot_decisions import handed_over
from feedbot.customer_text import unguard
from feedbot.handoff_rules import HandoffConfig, HandoffReason, is_severe, when_someone_replies
from feedbot.store.models import SurveyState

NOT_UNDERSTOOD = "utter_default"  # outside the survey: "Sorry, I didn't get that"


def urgency_of(reason: HandoffReason, score: int | None, config: HandoffConfig) -> int:
    """3 for a severe detractor, 2 for a customer who asked, 1 otherwise; a
    low score makes any hand-off severe."""
    if reason is HandoffReason.SEVERE or is_severe(score, None, config):
        return 3
    return 2 if reason is HandoffReason.ASKED else 1


def customer_turns(tracker: Tracker) -> list[tuple[str, list[str]]]:
    """Each customer message, oldest first, with the actions the bot ran after it."""
    turns: list[tuple[str, list[str]]] = []
    for event in tracker.events:
        if event.get("event") == "user":
            turns.append((unguard(str(event.get("text") or "")), []))
        elif event.get("event") == "action" and turns:
            turns[-1][1].append(str(event.get("name")))
    return turns


def not_understood_in_a_row(tracker: Tracker) -> int:
    """How many messages in a row, this one included, the bot has not
    understood outside the survey: this one, and each before it that the
    bot answered with "Sorry, I didn't get that"."""
    earlier = customer_turns(tracker)[:-1]
    count = 1
    for _, actions in reversed(earlier):
        if NOT_UNDERSTOOD not in actions:
            break
        count += 1
    return count


class ActionCountNotUnderstood(Action):
    """Outside the survey, a message the bot did not understand: sets
    ``not_understood`` when it is the Nth in a row (touchpoints.yml,
    ``handoff.not_understood_in_a_row``), so a rule hands over."""

    def name(self) -> str:
        return "action_count_not_understood"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        limit = context.survey_config().handoff.not_understood_in_a_row
        hand_over = bool(limit) and not_understood_in_a_row(tracker) >= limit
        return [SlotSet("not_understood", True if hand_over else None)]


class ActionOpenHandoff(Action):
    def name(self) -> str:
        return "action_open_handoff"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        config = context.survey_config().handoff
        now = context.now(tracker)
        store = context.survey_store()
        survey = await store.get_survey(tracker.sender_id)
        score = survey.score if survey is not None else None
        if tracker.get_slot("not_understood"):
            reason = HandoffReason.NOT_UNDERSTOOD
            said = [text for text, _ in customer_turns(tracker)][-2:]
            detail = "not understood: " + " / ".join(repr(t) for t in said)
        else:
            reason = HandoffReason.ASKED
            detail = f"asked: {tracker.latest_message.get('text', '')}"
        handoff, _ = await context.handoff_store().open(
            tracker.sender_id, reason.value, detail[:500], urgency_of(reason, score, config), now
        )
        # The survey ends here, keeping what was said (completed when any
        # answer is in, else left); the agent takes the conversation on.
        answered = survey is not None and survey.answered_at is not None
        state = SurveyState.COMPLETED if answered else SurveyState.LEFT
        await store.finish(tracker.sender_id, state, now, reason="handed to a person")
        # The app tells the agents' consoles at once, without reading it back.
        dispatcher.utter_message(
            json_message=handed_over(state, score, handoff.id, handoff.urgency, handoff.reason)
        )
        return [
            SlotSet("handoff_when", when_someone_replies(config, now, context.language(tracker))),
            SlotSet("survey_finished", True),
        ]
