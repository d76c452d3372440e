"""The processes `feedbot run` starts: only the app faces the network. Rasa
and the action server trust whatever reaches them (the action server stores
answers for any conversation id it is given), so they listen on loopback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from feedbot.settings import PROJECT_ROOT
from tests.system import System, free_port

pytestmark = pytest.mark.system

# Any 127.x.y.z reaches this machine's loopback interface on Linux: a server
# listening on every interface (0.0.0.0) answers there, one bound to
# 127.0.0.1 only refuses. A stand-in for "another address of this machine".
OTHER_ADDRESS = "127.0.0.2"


@pytest.mark.parametrize("which", ["rasa", "actions"])
def test_rasa_and_the_action_server_listen_on_127_0_0_1_only(system: System, which: str) -> None:
    port = urlsplit(system.rasa_url if which == "rasa" else system.action_server_url).port
    assert port is not None
    with socket.create_connection(("127.0.0.1", port), timeout=3):
        pass  # it is up
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((OTHER_ADDRESS, port), timeout=3).close()


def test_feedbot_actions_listens_on_its_urls_host_as_one_process(tmp_path: Path) -> None:
    """`feedbot actions` alone (Rasa elsewhere) listens where ACTION_SERVER_URL
    says, and is the server itself: one process (no waiting parent, no
    worker manager loading the readers a second time) that a supervisor
    signals directly, and that stops on SIGTERM."""
    port = free_port()
    env = dict(
        os.environ,
        ACTION_SERVER_URL=f"http://127.0.0.1:{port}",
        DATABASE_URL=f"sqlite:///{tmp_path / 'feedbot.db'}",
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "commands.cli", "actions"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=3):
                    break
            except OSError:
                assert server.poll() is None, "feedbot actions exited"
                assert time.monotonic() < deadline, "feedbot actions did not start"
                time.sleep(0.5)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((OTHER_ADDRESS, port), timeout=3).close()
        children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
        assert children == [], f"the action server started processes: {children}"
        command = Path(f"/proc/{server.pid}/cmdline").read_bytes().split(b"\0")
        assert b"commands.action_server" in command
        server.send_signal(signal.SIGTERM)
        assert server.wait(30) == 0
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(30)


@pytest.mark.parametrize(
    ("options", "said"),
    [
        (["--grpc"], "--grpc is not served here"),
        (["--auto-reload"], "needs Sanic"),
        (["--endpoints", "/no/such/endpoints.yml"], "no such file"),
    ],
)
def test_the_one_process_action_server_refuses_what_it_cannot_do_clearly(
    options: list[str], said: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "commands.action_server", *options],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and said in done.stderr, done.stderr
