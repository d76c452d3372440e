"""The processes `feedbot run` starts: only the app faces the network. Rasa
and the action server trust whatever reaches them (the action server stores
answers for any conversation id it is given), so they listen on loopback."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import pytest

from tests.system import System

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
