"""Asking a form's question without repeating what the bot just said.

Each question is first asked by a rule (so every response in domain.yml is
used by a rule), then the form takes over. The form's ask action speaks only
when that question is not already the bot's last word since the customer
last wrote: after a re-ask or an explanation, not right after the rule.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict


def asked_since_last_customer_message(tracker: Tracker, response: str) -> bool:
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            return False
        if event.get("event") == "action" and event.get("name") == response:
            return True
    return False


class AskOnceAction(Action, ABC):
    """Base for ``action_ask_<slot>``: utters ``utter_ask_<slot>`` unless just asked."""

    @property
    @abstractmethod
    def slot(self) -> str:
        """The form slot this action asks for."""

    def name(self) -> str:
        return f"action_ask_{self.slot}"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        response = f"utter_ask_{self.slot}"
        if not asked_since_last_customer_message(tracker, response):
            dispatcher.utter_message(response=response)
        return []
