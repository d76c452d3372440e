"""What the actions tell the app they decided, in their reply to a turn.

Rasa passes a custom payload (``json_message``) through its REST channel as
``{"custom": {"feedbot": {...}}}``. The actions that end a survey say so, and
the one that hands it to a person names the hand-off, so the app does not
read the store back after every turn to find out (docs/performance.md,
"Store statements per turn")."""

from __future__ import annotations

from typing import Any

KEY = "feedbot"


def survey_ended(state: str, score: int | None = None) -> dict[str, Any]:
    """The survey ended in this state (completed, declined, left)."""
    return {KEY: {"survey": state, "score": score}}


def handed_over(
    state: str, score: int | None, handoff_id: str, urgency: int, reason: str
) -> dict[str, Any]:
    """The survey ended because a person takes the conversation over."""
    told = survey_ended(state, score)
    told[KEY]["handoff"] = {"id": handoff_id, "urgency": urgency, "reason": reason}
    return told


def decisions(customs: list[dict[str, Any]]) -> dict[str, Any]:
    """The actions' decisions in one turn's custom payloads, merged."""
    found: dict[str, Any] = {}
    for custom in customs:
        mine = custom.get(KEY) if isinstance(custom, dict) else None
        if isinstance(mine, dict):
            found.update(mine)
    return found
