"""`feedbot run` keeps its children alive: a child that dies is restarted
after a pause that grows, the app goes on serving and /healthz says so, and
stopping takes seconds. The end-to-end test kills the real action server."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from bot.health import supervised_processes
from commands import runner
from commands.runner import Child, check_children, restart_delay, stop_children, write_status
from feedbot.settings import PROJECT_ROOT
from tests.helpers.stack import free_port

SLEEPER = [sys.executable, "-c", "import time; time.sleep(600)"]
# Ignores SIGTERM, as a Sanic worker may until its own grace period ends.
STUBBORN = [
    sys.executable,
    "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)",
]


@pytest.mark.parametrize(
    ("recent", "delay"), [(0, 1.0), (1, 2.0), (2, 4.0), (5, 32.0), (6, 60.0), (20, 60.0)]
)
def test_the_pause_before_a_restart_doubles_up_to_a_minute(recent: int, delay: float) -> None:
    assert restart_delay(recent) == delay


def test_a_dead_child_is_restarted_after_its_pause_and_never_given_up(tmp_path: Path) -> None:
    child = Child("actions", SLEEPER, dict(os.environ), tmp_path / "actions.log")
    other = Child("rasa", SLEEPER, dict(os.environ), tmp_path / "rasa.log")
    children = [child, other]
    try:
        for c in children:
            c.start()
        t = 1000.0
        for restart in range(8):  # more than the old limit of 5 a minute
            first_pid = child.process.pid
            child.process.kill()
            child.process.wait()
            assert check_children(children, now=t) is True  # noticed: a pause begins
            status = child.status(t)
            assert status["state"] == "restarting" and status["last_exit_code"] == -9
            assert status["next_start_in_seconds"] == restart_delay(restart)
            assert check_children(children, now=t + restart_delay(restart) - 0.1) is False
            assert check_children(children, now=t + restart_delay(restart)) is True  # started
            assert child.process.pid != first_pid and child.process.poll() is None
            assert child.status(t)["state"] == "running" and child.status(t)["restarts"] == (
                restart + 1
            )
            t += restart_delay(restart) + 1
        assert other.process.poll() is None  # the others carried on
        # After a quiet window the pause starts small again.
        child.process.kill()
        child.process.wait()
        check_children(children, now=t + runner.RESTART_WINDOW_SECONDS + 1)
        assert child.status(t + runner.RESTART_WINDOW_SECONDS + 1)["next_start_in_seconds"] == 1.0
    finally:
        stop_children(children)


def test_while_starting_a_death_stops_everything_with_the_last_lines(tmp_path: Path) -> None:
    child = Child(
        "rasa",
        [sys.executable, "-c", "print('model not found'); raise SystemExit(3)"],
        dict(os.environ),
        tmp_path / "rasa.log",
    )
    child.start()
    child.process.wait()
    with pytest.raises(runner.ChildFailed, match=r"(?s)rasa exited with code 3.*model not found"):
        check_children([child], restart=False)


def test_stopping_kills_what_ignores_sigterm_within_the_grace(tmp_path: Path) -> None:
    children = [
        Child("stubborn", STUBBORN, dict(os.environ), tmp_path / "s.log"),
        Child("polite", SLEEPER, dict(os.environ), tmp_path / "p.log"),
    ]
    for c in children:
        c.start()
    time.sleep(0.5)  # the stubborn one has set its handler
    began = time.monotonic()
    stop_children(children)
    took = time.monotonic() - began
    assert all(c.process.poll() is not None for c in children)
    assert took < runner.STOP_GRACE_SECONDS + 1.0


def test_health_reads_the_status_of_a_live_runner_only(tmp_path: Path) -> None:
    child = Child("actions", SLEEPER, dict(os.environ), tmp_path / "a.log")
    child.start()
    try:
        path = tmp_path / "processes.json"
        write_status([child], path)
        assert supervised_processes(path) == {
            "actions": {
                "state": "running",
                "pid": child.process.pid,
                "restarts": 0,
                "last_exit_code": None,
            }
        }
        stale = json.loads(path.read_text())
        stale["runner_pid"] = 2**22 + 12345  # no such process: a file left by an old run
        path.write_text(json.dumps(stale))
        assert supervised_processes(path) is None
        path.write_text("{half written")
        assert supervised_processes(path) is None
        assert supervised_processes(tmp_path / "missing.json") is None
    finally:
        stop_children([child])


def _health(url: str) -> dict:
    try:
        return requests.get(url, timeout=5).json()
    except (requests.RequestException, ValueError):
        return {}


def _until(condition, within: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, f"not {what} after {within:.0f} s"
        time.sleep(0.5)


def _until_healthy(url: str, within: float, what: str) -> dict:
    """The first /healthz answer that says "ok"."""
    answers: list[dict] = []

    def healthy() -> bool:
        answers.append(_health(url))
        return answers[-1].get("status") == "ok"

    _until(healthy, within, what)
    return answers[-1]


def test_feedbot_run_restarts_a_killed_action_server_and_stops_in_seconds(
    tmp_path: Path,
) -> None:
    port = free_port(4)
    env = {
        **os.environ,
        "PORT": str(port),
        "RASA_URL": f"http://127.0.0.1:{port + 1}",
        "ACTION_SERVER_URL": f"http://127.0.0.1:{port + 2}",
        "RASA_URL_ES": f"http://127.0.0.1:{port + 3}",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'feedbot.db'}",
        "FEEDBOT_VAR_DIR": str(tmp_path / "var"),
        "FEEDBOT_ANALYST_TOKEN": "t-analyst",
    }
    run = subprocess.Popen(
        [sys.executable, "-m", "commands.cli", "run"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    health = f"http://127.0.0.1:{port}/healthz"
    try:
        # The answer that first says "ok" already lists the runner's children.
        processes = _until_healthy(health, 180, "healthy")["processes"]
        # `feedbot run` speaks every language: a Rasa instance each.
        assert set(processes) == {"actions", "rasa", "rasa-es"}
        assert processes["actions"]["state"] == "running"

        os.kill(processes["actions"]["pid"], signal.SIGKILL)
        # The app keeps answering, and says the action server is restarting.
        seen: list[dict] = []

        def restarting() -> bool:
            answer = _health(health)
            if answer.get("processes", {}).get("actions", {}).get("state") == "restarting":
                seen.append(answer)
            return bool(seen)

        _until(restarting, 30, "seen restarting")
        assert seen[0]["status"] == "unavailable"
        assert seen[0]["checks"]["actions"].startswith("down")
        assert seen[0]["processes"]["rasa"]["state"] == "running"
        assert requests.get(f"http://127.0.0.1:{port}/login", timeout=5).status_code == 200
        now = _until_healthy(health, 90, "healthy again")["processes"]
        restarted = now["actions"]
        assert restarted["restarts"] == 1 and restarted["last_exit_code"] == -9
        assert restarted["pid"] != processes["actions"]["pid"]

        began = time.monotonic()
        run.send_signal(signal.SIGINT)
        run.wait(timeout=30)
        assert time.monotonic() - began < 3.0, "stopping took too long"
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
    output = (run.stdout.read() if run.stdout else b"").decode(errors="replace")
    assert "actions exited with code -9; restarting it in 1 s" in output
    # The app it serves itself froze what it loaded (feedbot.heap).
    assert re.search(r"app: \d{6,} objects loaded at start frozen out", output), output[-2000:]
    # Nothing it started is left running: no process in the children's groups
    # (Sanic's worker processes included).
    groups = {process["pid"] for process in now.values()}  # the Spanish Rasa's too
    # (A zombie, dead and waiting for this container's init to reap it, is gone.)
    table = subprocess.run(["ps", "-eo", "pgid=,stat=,args="], capture_output=True, text=True)
    left = [
        line
        for line in table.stdout.splitlines()
        if int(line.split()[0]) in groups and not line.split()[1].startswith("Z")
    ]
    assert left == []
