"""What Rasa loaded at start kept out of the garbage collector's way (patch
10 of feedbot_rasa.patches; docs/performance.md has the measurements).

Python's cyclic garbage collector now and then walks every object the
process holds, to find cycles. A Rasa instance holds about half a million
objects once its model is loaded (the libraries it imports, TensorFlow
among them, then the model's components and the domain), none of which are
ever freed while it serves. Under load, each full walk took about 0.3 s of
CPU, every conversation on the instance waiting, and the collector's work
was 6-7% of the instance's CPU.

`load_agent_on_start` is wrapped: once Rasa has loaded the model, the
garbage there is to collect is collected and everything left is frozen
(`gc.freeze()`: moved to a generation the collector never walks). Objects
made later (trackers, messages) are collected as before. Frozen objects are
still freed by reference counting; only cycles among them would stay.
feedbot/heap.py does the same for the app and the action server.
"""

from __future__ import annotations

import functools
import gc
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

# sha256 of the wrapped function's source, first 16 hex digits (checked by
# feedbot_rasa.patches before anything is wrapped).
EXPECTED_SOURCES = {"rasa.core.run.load_agent_on_start": "b23e12447febeb64"}


def replaced_functions() -> dict[str, Any]:
    from rasa.core import run

    return {"rasa.core.run.load_agent_on_start": run.load_agent_on_start}


def freeze_loaded() -> int:
    """Collect, then freeze what is left; how many objects were frozen."""
    started = time.perf_counter()
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    # Straight to Rasa's log: loading the model disables the loggers made
    # before it (Rasa's own "Rasa server is up and running" never shows).
    print(
        f"feedbot_rasa: Rasa: {frozen} objects loaded at start frozen out of the "
        f"garbage collector's walks ({time.perf_counter() - started:.2f} s)",
        file=sys.stderr,
        flush=True,
    )
    return frozen


def frozen_after(load: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """`load_agent_on_start`, then `freeze_loaded`."""

    @functools.wraps(load)
    async def load_then_freeze(*args: Any, **kwargs: Any) -> Any:
        agent = await load(*args, **kwargs)
        freeze_loaded()
        return agent

    return load_then_freeze
