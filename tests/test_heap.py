"""What each process loaded at start is frozen out of the garbage
collector's walks (feedbot.heap for the app and the action server,
feedbot_rasa.heap, patch 10, for Rasa); what comes later is collected as
before. The freezing is tried in child processes: freezing the test
process itself would keep its objects from being collected."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from feedbot.settings import PROJECT_ROOT
from tests.system import System
from tests.test_rasa_patches import applied_after, in_rasa

# Run in a child process: garbage made before the load, objects the load
# makes, objects made after. `freeze` is the code under test.
TRIAL = """
import asyncio, gc, weakref

class Node:
    pass

def cycle():
    a, b = Node(), Node()
    a.b, b.a = b, a
    return a

garbage = weakref.ref(cycle())  # a cycle only the collector can free
loaded = []

async def load():
    loaded.extend(Node() for _ in range(5000))
    return "agent"

agent = asyncio.run(freeze(load))
later = Node()
walked = {id(o) for o in gc.get_objects()}
print("RESULT", agent, garbage() is None, gc.get_freeze_count() >= 5000,
      any(id(o) in walked for o in loaded), id(later) in walked)
"""

PROJECT = """
from feedbot.heap import freeze_loaded

async def freeze(load):
    agent = await load()
    freeze_loaded("test")
    return agent
"""

RASA = """
from feedbot_rasa.heap import frozen_after

async def freeze(load):
    return await frozen_after(load)()
"""


def trial_result(stdout: str) -> list[str]:
    line = next(x for x in stdout.splitlines() if x.startswith("RESULT "))
    return line.split()[1:]


@pytest.mark.parametrize("where", ["project", "rasa"])
def test_what_was_loaded_is_frozen_and_what_comes_later_is_walked(where: str) -> None:
    if where == "rasa":
        result = in_rasa(RASA + TRIAL)
    else:
        result = subprocess.run(
            [sys.executable, "-c", PROJECT + TRIAL],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 0, result.stderr[-3000:]
    agent, garbage_freed, frozen, loaded_walked, later_walked = trial_result(result.stdout)
    assert agent == "agent"  # the load's own result is handed on
    assert garbage_freed == "True"  # collected first, not frozen
    assert frozen == "True"
    assert loaded_walked == "False"  # frozen: never walked again
    assert later_walked == "True"  # made after: collected as before


def test_rasa_refuses_to_start_when_the_load_it_wraps_changed() -> None:
    said = applied_after(
        """
        from rasa.core import run

        async def load_agent_on_start(model_path, endpoints, remote_storage, app, loop):
            return None  # what an upgrade might bring

        run.load_agent_on_start = load_agent_on_start
        """
    )
    assert "refused: rasa.core.run.load_agent_on_start is not the code" in said


def test_every_running_process_froze_what_it_loaded(system: System) -> None:
    for log_name, process in (("rasa", "Rasa"), ("actions", "action server"), ("app-0", "app")):
        log = (system.log_dir / f"{log_name}.log").read_text(errors="replace")
        said = re.search(rf"\b{process}: (\d+) objects loaded at start frozen out", log)
        assert said, f"{log_name}.log says nothing frozen"
        # The libraries and, for Rasa, the model: far more than an empty process.
        assert int(said.group(1)) > 100_000, (log_name, said.group(0))
    rasa_log = (system.log_dir / "rasa.log").read_text(errors="replace")
    # Frozen once the model is loaded, not before.
    assert rasa_log.index("Loading model") < rasa_log.index("objects loaded at start")
