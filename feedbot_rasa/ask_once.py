"""A form's question not sent to the action server when the answer is known
(patch 9 of feedbot_rasa.patches; docs/performance.md has the measurements).

Each of Feedbot's questions is first asked by a rule (`utter_ask_<slot>`),
then the form takes over and calls its ask action, `action_ask_<slot>`
(actions/asking.py, `AskOnceAction`), which says the question only when it
is not already the bot's last word since the customer last wrote. Right
after the rule it says nothing and changes nothing: an HTTP call, the whole
tracker as JSON both ways and the answer's checks, for an empty answer, at
every form's activation (two of a survey's eight action calls).

`ask_for_slot` below answers that case in Rasa, with the same test on the
same tracker the action server would be sent: walking back through the
events, `utter_ask_<slot>` executed before any customer message. Only for
the ask actions listed in `ASK_ONCE`; every other case goes to the action
server as before. tests/test_rasa_patches.py checks that `ASK_ONCE` names
exactly the `AskOnceAction`s of the `actions` package, and that Rasa and
the action server decide alike on the same trackers.
"""

from __future__ import annotations

from typing import Any

from rasa.core.actions.forms import FormAction
from rasa.shared.core.events import ActionExecuted, UserUttered

# sha256 of each function's source, first 16 hex digits (checked by
# feedbot_rasa.patches before anything is replaced).
EXPECTED_SOURCES = {
    "FormAction._ask_for_slot": "da7dae1d3ca94414",
    "FormAction._name_of_utterance": "16e51fdbf3eab9cb",
}

# Feedbot's ask actions that speak only when their question is not the bot's
# last word since the customer wrote (actions/asking.py), by the response
# they would say.
ASK_ONCE = {
    "action_ask_score": "utter_ask_score",
    "action_ask_reason": "utter_ask_reason",
    "action_ask_follow_up": "utter_ask_follow_up",
}

_rasa_ask_for_slot = FormAction._ask_for_slot


def replaced_functions() -> dict[str, Any]:
    """The code `ask_for_slot` wraps and relies on."""
    return {
        "FormAction._ask_for_slot": FormAction._ask_for_slot,
        "FormAction._name_of_utterance": FormAction._name_of_utterance,
    }


def asked_since_last_customer_message(events: Any, response: str) -> bool:
    """actions/asking.py's test, on Rasa's events (by the kind each is sent
    to the action server as, "user" or "action")."""
    for event in reversed(events):
        if event.type_name == UserUttered.type_name:
            return False
        if event.type_name == ActionExecuted.type_name and event.action_name == response:
            return True
    return False


async def ask_for_slot(
    self: FormAction,
    domain: Any,
    nlg: Any,
    output_channel: Any,
    slot_name: str,
    tracker: Any,
) -> list[Any]:
    """Replaces `FormAction._ask_for_slot`: no call when the ask action is
    known to say nothing."""
    response = ASK_ONCE.get(self._name_of_utterance(domain, slot_name) or "")
    if response is not None and asked_since_last_customer_message(tracker.events, response):
        return []
    return await _rasa_ask_for_slot(self, domain, nlg, output_channel, slot_name, tracker)
