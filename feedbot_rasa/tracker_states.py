"""The policies' states of a conversation, carried on from where they were
last worked out (patch 8 of feedbot_rasa.patches; docs/performance.md has
the profile).

Before every prediction each policy asks for the states of the whole
conversation: `Domain.states_for_tracker_history` replays every event into
a new tracker from the start, and takes a state before each action. The
MemoizationPolicy asks once and the RulePolicy twice per prediction, three
or four predictions a turn, each time from the first event, so the work
grows with the conversation: an eighth of a Rasa instance's CPU here.

The states before an action never change once later events come, unless an
event is undone (a rewind, a restart). So `states_for_tracker_history`
below keeps, per tracker and per kind of question (the flags and the
rule-only data), the tracker it replays into, the events it has replayed
and the states taken so far, and only replays the events that came since,
when the events the tracker applies now begin with exactly the events
(the same objects) replayed before. Otherwise it starts again from the
first event, as Rasa does. The loop is Rasa's, step for step; the states
handed back are copies (sharing sub-states where Rasa's share them), so a
policy that edits them does not edit the kept ones.
tests/test_rasa_patches.py compares both on whole conversations with the
trained models.
"""

from __future__ import annotations

import copy
import operator
import weakref
from dataclasses import dataclass, field
from typing import Any

from rasa.shared.core.constants import PREVIOUS_ACTION
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted
from rasa.shared.core.trackers import DialogueStateTracker

# sha256 of each function's source, first 16 hex digits (checked by
# feedbot_rasa.patches before anything is replaced).
EXPECTED_SOURCES = {
    "Domain.states_for_tracker_history": "035111ce73ac90ba",
    "DialogueStateTracker.generate_all_prior_trackers": "a1f6954347b52649",
    "DialogueStateTracker.init_copy": "429fcd2243b9e0e1",
}


def replaced_functions() -> dict[str, Any]:
    """The code whose result `states_for_tracker_history` reproduces."""
    return {
        "Domain.states_for_tracker_history": Domain.states_for_tracker_history,
        "DialogueStateTracker.generate_all_prior_trackers": (
            DialogueStateTracker.generate_all_prior_trackers
        ),
        "DialogueStateTracker.init_copy": DialogueStateTracker.init_copy,
    }


@dataclass
class _Replay:
    """One kind of question about one tracker, answered up to `replayed`."""

    domain: Domain
    omit_unset_slots: bool
    ignore_rule_only_turns: bool
    rule_only_data: Any
    tracker: DialogueStateTracker  # the events so far replayed into it
    replayed: list[Any] = field(default_factory=list)
    states: list[dict[str, Any]] = field(default_factory=list)
    last_ml_action_sub_state: Any = None
    turn_was_hidden: bool = False
    # the state after the last event, taken after `last_after` events
    last: dict[str, Any] | None = None
    last_after: int = -1

    def answers(
        self,
        domain: Domain,
        omit_unset_slots: bool,
        ignore_rule_only_turns: bool,
        rule_only_data: Any,
    ) -> bool:
        return (
            self.domain is domain
            and self.omit_unset_slots == omit_unset_slots
            and self.ignore_rule_only_turns == ignore_rule_only_turns
            and self.rule_only_data == rule_only_data
        )

    def step(self, hide_rule_turn: bool, keep: bool) -> dict[str, Any] | None:
        """Rasa's loop body for the replayed tracker as it is now; with
        `keep` false (the state after the last event) it changes nothing
        kept, since the next events may add to it."""
        domain, tracker = self.domain, self.tracker
        last_ml_action_sub_state = self.last_ml_action_sub_state
        turn_was_hidden = self.turn_was_hidden
        state = None
        if self.ignore_rule_only_turns:
            if not turn_was_hidden:
                last_ml_action_sub_state = domain._get_prev_action_sub_state(tracker)
            if (
                not tracker.followup_action
                and not tracker.latest_action_name == tracker.active_loop_name
            ):
                turn_was_hidden = hide_rule_turn
        if not (self.ignore_rule_only_turns and turn_was_hidden):
            state = domain.get_active_state(tracker, omit_unset_slots=self.omit_unset_slots)
            if self.ignore_rule_only_turns:
                domain._remove_rule_only_features(state, self.rule_only_data)
                if self.states:
                    domain._substitute_rule_only_user_input(state, self.states[-1])
                if last_ml_action_sub_state:
                    state[PREVIOUS_ACTION] = last_ml_action_sub_state
            state = domain._clean_state(state)
        if keep:
            self.last_ml_action_sub_state = last_ml_action_sub_state
            self.turn_was_hidden = turn_was_hidden
            if state is not None:
                self.states.append(state)
        return state


@dataclass
class _TrackerReplays:
    """A tracker's replays, and the events it applies as last worked out
    (the three questions of a prediction ask about the same events)."""

    replays: list[_Replay] = field(default_factory=list)
    events: Any = None  # the tracker's deque of events when last worked out
    length: int = -1
    newest: Any = None
    applied: list[Any] = field(default_factory=list)

    def applied_events(self, tracker: DialogueStateTracker) -> list[Any]:
        events = tracker.events
        newest = events[-1] if events else None
        if events is not self.events or len(events) != self.length or newest is not self.newest:
            self.applied = tracker.applied_events()
            self.events, self.length, self.newest = events, len(events), newest
        return self.applied


# Each tracker's replays, by id, dropped with the tracker.
_replays: dict[int, _TrackerReplays] = {}


def _replays_of(tracker: DialogueStateTracker) -> _TrackerReplays:
    key = id(tracker)
    replays = _replays.get(key)
    if replays is None:
        replays = _replays[key] = _TrackerReplays()
        weakref.finalize(tracker, _replays.pop, key, None)
    return replays


def _copied(states: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """New state and sub-state dicts, a sub-state shared between states
    still shared (the values inside are strings and tuples)."""
    copies: dict[int, dict[str, Any]] = {}
    result = []
    for state in states:
        new = {}
        for kind, sub_state in state.items():
            sub_copy = copies.get(id(sub_state))
            if sub_copy is None:
                sub_copy = copies[id(sub_state)] = dict(sub_state)
            new[kind] = sub_copy
        result.append(new)
    return result


def states_for_tracker_history(
    self: Domain,
    tracker: DialogueStateTracker,
    omit_unset_slots: bool = False,
    ignore_rule_only_turns: bool = False,
    rule_only_data: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Replaces `Domain.states_for_tracker_history`: the same states."""
    of_tracker = _replays_of(tracker)
    events = of_tracker.applied_events(tracker)
    replays = of_tracker.replays
    replay = next(
        (
            r
            for r in replays
            if r.answers(self, omit_unset_slots, ignore_rule_only_turns, rule_only_data)
        ),
        None,
    )
    if replay is not None and (
        len(replay.replayed) > len(events) or not all(map(operator.is_, replay.replayed, events))
    ):
        replays.remove(replay)  # an event was undone: start again
        replay = None
    if replay is None:
        replay = _Replay(
            self,
            omit_unset_slots,
            ignore_rule_only_turns,
            copy.deepcopy(rule_only_data),
            tracker.init_copy(),
        )
        replays.append(replay)
    for event in events[len(replay.replayed) :]:
        if isinstance(event, ActionExecuted):
            replay.step(event.hide_rule_turn, keep=True)
        replay.tracker.update(event)
        replay.replayed.append(event)
    if replay.last_after != len(replay.replayed):
        replay.last = replay.step(False, keep=False)
        replay.last_after = len(replay.replayed)
    last = replay.last
    return _copied(replay.states + ([last] if last is not None else []))
