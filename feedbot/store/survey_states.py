"""A survey's life in one place: which state may follow which, and what a
change records. Every change of a stored survey's state goes through
`transition` (feedbot.store.surveys), so a rule such as "a finished survey
keeps its first ending" or "an ending detractor's owners are alerted" holds
whichever way the survey ends.

    scheduled --(its time comes: claimed)--> started
    started --(sent, then put back: its text never left)--> scheduled
    started | scheduled --(a contact rule)--> suppressed
    started --(the conversation ends)--> completed | declined | left | expired | failed
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case

from feedbot.nps import DETRACTOR_AT_MOST
from feedbot.store.models import Survey, SurveyState

# Survey.alert_state of a detractor's survey that ended, until its owners'
# alerts are queued.
ALERT_DUE = "due"

ENDINGS = frozenset(
    {
        SurveyState.COMPLETED,
        SurveyState.DECLINED,
        SurveyState.LEFT,
        SurveyState.EXPIRED,
        SurveyState.FAILED,
    }
)
# The states each state may be reached from.
FROM: dict[SurveyState, frozenset[SurveyState]] = {
    SurveyState.STARTED: frozenset({SurveyState.SCHEDULED}),
    SurveyState.SCHEDULED: frozenset({SurveyState.STARTED, SurveyState.SCHEDULED}),
    SurveyState.SUPPRESSED: frozenset({SurveyState.STARTED, SurveyState.SCHEDULED}),
    **dict.fromkeys(ENDINGS, frozenset({SurveyState.STARTED})),
}


class NotAllowed(ValueError):
    """A change the survey's life does not have (a programming error)."""


@dataclass(frozen=True)
class Transition:
    """A change of state as one conditional UPDATE: only surveys in a state
    it may come from are changed (so two instances never both make it)."""

    where: ColumnElement[bool]
    values: dict[str, Any]


def transition(
    to: SurveyState,
    at: datetime | None = None,
    reason: str | None = None,
    *,
    came_from: frozenset[SurveyState] | None = None,
    **more: Any,
) -> Transition:
    """The change to ``to`` at ``at`` (needed to complete), why (``reason``,
    kept in state_reason),
    from ``came_from`` (default: every state it may come from), with ``more``
    columns set with it (send_at, started_at)."""
    allowed = FROM[to]
    sources = came_from if came_from is not None else allowed
    if not sources <= allowed:
        raise NotAllowed(f"a survey cannot go from {sorted(sources - allowed)} to {to}")
    values: dict[str, Any] = {"state": to, "state_reason": reason, **more}
    if to == SurveyState.COMPLETED:
        if at is None:
            raise NotAllowed("a survey is completed at a time")
        values["completed_at"] = at
    if to in ENDINGS:
        # Its owners hear of a detractor's survey however it ends (bot.owner_alerts).
        detractor = and_(Survey.score.is_not(None), Survey.score <= DETRACTOR_AT_MOST)
        values["alert_state"] = case((detractor, ALERT_DUE), else_=Survey.alert_state)
    return Transition(Survey.state.in_(sorted(sources)), values)
