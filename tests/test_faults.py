"""Faults for real: Rasa, or the action server, is SIGKILLed in the middle of
50 conversations going on at once over the widget, and started again. Counted afterwards:
every answer stored once, every message once in its transcript, every
survey complete, nothing lost and nothing twice. The stack is this test's
own (the one the other tests share is not killed)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.outage import Counts, count, kill_midway
from tests.helpers.stack import Stack, temporary_stack

pytestmark = pytest.mark.system
CUSTOMERS = 50


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    # Rounds every second: waiting messages are answered soon after Rasa is back.
    with temporary_stack(tmp_path, app_env={"FEEDBOT_SCHEDULER_INTERVAL_SECONDS": "1"}) as s:
        yield s


@pytest.mark.parametrize("which", ["rasa", "actions"])
async def test_a_process_killed_mid_traffic_loses_nothing_and_doubles_nothing(
    stack: Stack, which: str
) -> None:
    """For the action server this holds through feedbot_rasa's fifth patch:
    without it Rasa saves the turn without the validation's events, and the
    answer is lost (checked by hand: every customer lost their why question)."""
    run = await kill_midway(stack, CUSTOMERS, which)
    assert count(stack.settings.database_url, run.survey_ids) == Counts(
        surveys=CUSTOMERS,
        answers_stored=CUSTOMERS,
        answers_lost=0,
        messages_twice=0,
        incomplete=0,
        still_waiting=0,
    )
    # The fault bit: turns were cut off or refused, and answered later.
    assert run.outcome.waited, f"no turn met the dead {which}: the kill came too late"
