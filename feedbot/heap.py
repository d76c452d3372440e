"""What a process loaded at start, kept out of the garbage collector's way
(docs/performance.md has the measurements).

Python's cyclic garbage collector now and then walks every object the
process holds. The app and the action server hold about 200,000 objects
once started (the libraries, the configuration; spaCy and the word lists in
the action server), none of which are ever freed while they serve. Under
load the collector's walks were a tenth of the app's CPU, and each full one
stopped the process's every conversation for a tenth of a second.

`freeze_loaded` collects what garbage there is and freezes the rest
(`gc.freeze()`: moved to a generation the collector never walks). Objects
made later are collected as before; frozen ones are still freed by
reference counting. feedbot_rasa/heap.py does the same for Rasa, in Rasa's
own environment (it cannot import this package).
"""

from __future__ import annotations

import gc
import logging
import time
from typing import Any

log = logging.getLogger(__name__)


def freeze_loaded(process: str) -> int:
    """Collect, then freeze what is left; how many objects are frozen."""
    started = time.perf_counter()
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.info(
        "%s: %d objects loaded at start frozen out of the garbage collector's walks (%.2f s)",
        process,
        frozen,
        time.perf_counter() - started,
    )
    return frozen


async def freeze_once_started(_app: Any) -> None:
    """An aiohttp `on_startup` hook, appended last: the app's resources are
    made by then."""
    freeze_loaded("app")
