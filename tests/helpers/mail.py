"""A real SMTP server for tests (aiosmtpd), and a Slack incoming-webhook
receiver: what owners are sent arrives here as it would at theirs."""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Inbox:
    """What the SMTP server accepted, with when (time.monotonic())."""

    messages: list[tuple[float, EmailMessage]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        with self.lock:
            self.messages.append((time.monotonic(), parsed))
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [m for _, m in self.messages if m["To"] == address]

    def wait_for(self, address: str, count: int = 1, within: float = 15) -> list[EmailMessage]:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            found = self.to(address)
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(
            f"{count} e-mail(s) to {address} expected, got {len(self.to(address))}"
        )


def body(message: EmailMessage, kind: str = "plain") -> str:
    part = message.get_body(preferencelist=(kind,))
    assert part is not None, f"no text/{kind} part"
    return part.get_content()


@contextmanager
def smtp_server(port: int | None = None) -> Iterator[tuple[Inbox, int]]:
    """aiosmtpd on 127.0.0.1 (its own thread and event loop)."""
    inbox = Inbox()
    port = port or free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


class RestartableSmtp:
    """An SMTP server that a test can stop and start again on the same port
    (an owner's mail server that is down for a while)."""

    def __init__(self) -> None:
        self.inbox = Inbox()
        self.port = free_port()
        self._controller: Controller | None = None

    def start(self) -> RestartableSmtp:
        self._controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@dataclass
class SlackReceiver:
    posted: list[dict[str, Any]] = field(default_factory=list)
    fail_next: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        if self.fail_next > 0:
            self.fail_next -= 1
            return web.Response(status=500, text="try later")
        self.posted.append(await request.json())
        return web.Response(text="ok")


async def slack_receiver() -> tuple[SlackReceiver, TestServer]:
    receiver = SlackReceiver()
    app = web.Application()
    app.router.add_post("/services/T0/B0/x", receiver.handle)
    server = TestServer(app)
    await server.start_server()
    return receiver, server


async def until(condition: Any, within: float = 10) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)
