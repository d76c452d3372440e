"""The rules that fit a conversation, remembered (patch 11 of
feedbot_rasa.patches; docs/performance.md has the profile).

Before every prediction the RulePolicy filters all its rules (twice while a
form is active: the rules and the unhappy-path rules), turn by turn from
the latest state back, with a Python call per rule and turn:
`RulePolicy._get_possible_keys` was 7% of a Rasa instance's CPU. Its answer
depends on nothing but the rules and the conversation's states, and
surveys go through the same few sequences of states again and again.

`get_possible_keys` below gives the answer Rasa's method gave the first
time these rules met these states: the same set object, so that Rasa's
`max(rule_keys, key=len)` picks the same rule among equally long ones.
The states are turned into a key of their values (strings and tuples), so
a caller editing its states afterwards changes nothing remembered. The
rules are fixed once the model is loaded (the lookup is only built in
training, which does not run these patches); the remembered answers are
bounded, least recently used dropped first.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from rasa.core.policies.rule_policy import RulePolicy

# sha256 of each function's source, first 16 hex digits (checked by
# feedbot_rasa.patches before anything is replaced). `_find_action_from_rules`
# is the only caller: it must only read the set it is handed.
EXPECTED_SOURCES = {
    "RulePolicy._get_possible_keys": "2915fd81711e194c",
    "RulePolicy._is_rule_applicable": "64a108b016b46e57",
    "RulePolicy._does_rule_match_state": "d3109c1a97de319c",
    "RulePolicy._find_action_from_rules": "be6da6ee0f5429bd",
}

MAX_REMEMBERED = 20_000  # (rules, states) answers; each a few small tuples

_rasas = RulePolicy._get_possible_keys
_remembered: OrderedDict[tuple[int, Any], tuple[dict[str, Any], set[str]]] = OrderedDict()


def replaced_functions() -> dict[str, Any]:
    return {
        "RulePolicy._get_possible_keys": RulePolicy._get_possible_keys,
        "RulePolicy._is_rule_applicable": RulePolicy._is_rule_applicable,
        "RulePolicy._does_rule_match_state": RulePolicy._does_rule_match_state,
        "RulePolicy._find_action_from_rules": RulePolicy._find_action_from_rules,
    }


def _frozen(states: list[dict[str, dict[str, Any]]]) -> tuple[Any, ...]:
    return tuple(
        tuple(sorted((kind, tuple(sorted(sub.items()))) for kind, sub in state.items()))
        for state in states
    )


def get_possible_keys(
    self: RulePolicy, lookup: dict[str, str], states: list[dict[str, Any]]
) -> set[str]:
    """Replaces `RulePolicy._get_possible_keys`: the same answer."""
    try:
        key = (id(lookup), _frozen(states))
        found = _remembered.get(key)
    except TypeError:  # a value that cannot be a key (none in Rasa 3.6's states)
        return _rasas(self, lookup, states)
    if found is not None and found[0] is lookup:
        _remembered.move_to_end(key)
        return found[1]
    keys = _rasas(self, lookup, states)
    _remembered[key] = (lookup, keys)  # the lookup kept alive: its id stays its own
    if len(_remembered) > MAX_REMEMBERED:
        _remembered.popitem(last=False)
    return keys
