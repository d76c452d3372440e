"""Starting a survey: the touchpoint, location, channel and locale come
with the app's /start_survey message as metadata."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import context
from feedbot.locales import language_of
from feedbot.store.surveys import NewSurvey


class ActionStartSurvey(Action):
    def name(self) -> str:
        return "action_start_survey"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        metadata = tracker.latest_message.get("metadata") or {}
        language = language_of(metadata.get("locale"))
        config = context.survey_config().in_language(language)
        touchpoint = config.touchpoint(str(metadata.get("touchpoint") or "")) or config.touchpoint(
            config.default_touchpoint
        )
        assert touchpoint is not None  # the config guarantees the default exists
        location = metadata.get("location") or tracker.get_slot("location")
        channel = metadata.get("channel") or tracker.get_input_channel() or "web"
        store = context.survey_store()
        await store.start_survey(
            tracker.sender_id,
            NewSurvey(channel=channel, touchpoint=touchpoint.id, location=location),
            context.now(tracker),
        )
        return [
            SlotSet("touchpoint", touchpoint.id),
            SlotSet("touchpoint_about", touchpoint.about),
            SlotSet("location", location),
            SlotSet("channel", channel),
            SlotSet("language", language),
        ]
