"""Live events in one process: a listener that falls behind is told to read
the state again rather than left with a silent gap (the widget or console
would otherwise wait for a message that was dropped)."""

from __future__ import annotations

from bot.live_events import QUEUE_SIZE, RESYNC, InProcessEvents


async def test_a_listener_that_falls_behind_gets_one_resync_in_place_of_the_gap() -> None:
    events = InProcessEvents()
    async with events.listen("chat") as queue:
        for n in range(QUEUE_SIZE + 5):  # nobody reads meanwhile
            events.publish("chat", {"n": n})
        events.publish("chat", {"n": "after"})
        got = [queue.get_nowait() for _ in range(queue.qsize())]
    # What it had not read, and the event that did not fit, are replaced by
    # one resync; what came after follows it, in order.
    assert got[0] == RESYNC
    assert got[1:] == [{"n": n} for n in range(QUEUE_SIZE + 1, QUEUE_SIZE + 5)] + [{"n": "after"}]


async def test_a_listener_that_keeps_up_gets_every_event_and_no_resync() -> None:
    events = InProcessEvents()
    async with events.listen("chat") as queue:
        seen = []
        for n in range(3 * QUEUE_SIZE):
            events.publish("chat", {"n": n})
            seen.append(queue.get_nowait())
    assert seen == [{"n": n} for n in range(3 * QUEUE_SIZE)]
