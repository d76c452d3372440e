"""A small HTTP server that plays Twilio's Messages API for tests.

The real `twilio` library talks to it through TWILIO_API_BASE. It checks the
account's basic auth, records every request, answers like Twilio, and can be
told to fail the next requests (429, 500, a stall past the client timeout,
or a connection dropped after the message was accepted), or to fail a share
of all requests at random. It lists messages too (GET, newest first, as
Twilio does), which the sender asks when a send's outcome is unknown. It
runs on its own thread and event loop, so sync and async tests and other
processes can all reach it.
"""

from __future__ import annotations

import asyncio
import base64
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any

from aiohttp import web

ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "fake-auth-token"
FROM_NUMBER = "+15005550006"


@dataclass
class FakeTwilio:
    port: int = 0
    messages: list[dict[str, Any]] = field(default_factory=list)  # accepted
    # When each accepted message arrived (time.perf_counter()), for benchmarks.
    received_at: list[float] = field(default_factory=list)
    attempts: int = 0  # every request, failed ones too
    _failures: list[int | str] = field(default_factory=list)
    # A share of every request fails, each with one of these, chosen at random.
    _failure_rate: float = 0.0
    _failure_kinds: tuple[int | str, ...] = ()
    _random: random.Random = field(default_factory=lambda: random.Random(7))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def app_env(self) -> dict[str, str]:
        """The environment that points an app's SMS channel at this fake."""
        return {
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TWILIO_FROM_NUMBER": FROM_NUMBER,
            "TWILIO_API_BASE": self.base_url,
        }

    def fail_next(self, *how: int | str) -> None:
        """The next requests answer these statuses in turn ("stall": no answer for 30 s)."""
        with self._lock:
            self._failures.extend(how)

    def fail_at_random(self, rate: float, *kinds: int | str) -> None:
        """From now on, this share of requests fails, each as one of these
        kinds (as for fail_next; "drop": accepted, then the connection is
        cut before the answer). rate 0 stops it."""
        with self._lock:
            self._failure_rate = rate
            self._failure_kinds = kinds or (500,)

    def to(self, number: str) -> list[str]:
        with self._lock:
            return [m["Body"] for m in self.messages if m["To"] == number]

    def arrivals(self, number: str) -> list[float]:
        """When each message to this number arrived (time.perf_counter())."""
        with self._lock:
            return [
                t for m, t in zip(self.messages, self.received_at, strict=True) if m["To"] == number
            ]

    def wait_for(self, number: str, count: int, within: float = 30) -> list[str]:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            bodies = self.to(number)
            if len(bodies) >= count:
                return bodies
            time.sleep(0.05)
        raise AssertionError(f"{number} got {self.to(number)}, expected {count} messages")

    def reset(self) -> None:
        with self._lock:
            self.messages.clear()
            self.received_at.clear()
            self._failures.clear()
            self._failure_rate = 0.0
            self.attempts = 0

    async def _create(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Basic {_expected_auth()}":
            return web.json_response({"code": 20003, "message": "Authenticate"}, status=401)
        form = dict(await request.post())
        with self._lock:
            self.attempts += 1
            how = self._failures.pop(0) if self._failures else None
            if how is None and self._random.random() < self._failure_rate:
                how = self._random.choice(self._failure_kinds)
        if how == "stall":
            await asyncio.sleep(30)
        if isinstance(how, int):
            return web.json_response(
                {"code": 20000 + how, "message": f"failure {how} on request", "status": how},
                status=how,
            )
        if not str(form.get("To", "")).startswith("+"):
            return web.json_response(
                {"code": 21211, "message": "Invalid 'To' Phone Number", "status": 400}, status=400
            )
        message = {**form, "sid": "SM" + uuid.uuid4().hex, "created": time.time()}
        with self._lock:
            self.messages.append(message)
            self.received_at.append(time.perf_counter())
        if how == "drop":  # made, but the answer never reaches the client
            assert request.transport is not None
            request.transport.abort()
            return web.Response(status=500)
        return web.json_response(_resource(message), status=201)

    async def _list(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Basic {_expected_auth()}":
            return web.json_response({"code": 20003, "message": "Authenticate"}, status=401)
        to = request.query.get("To")
        size = int(request.query.get("PageSize", "50"))
        with self._lock:
            found = [m for m in reversed(self.messages) if to is None or m["To"] == to][:size]
        return web.json_response(
            {"messages": [_resource(m) for m in found], "next_page_uri": None, "page_size": size}
        )

    def start(self) -> FakeTwilio:
        ready = threading.Event()

        def serve() -> None:
            loop = asyncio.new_event_loop()
            app = web.Application()
            app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self._create)
            app.router.add_get("/2010-04-01/Accounts/{sid}/Messages.json", self._list)
            runner = web.AppRunner(app)
            loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, "127.0.0.1", self.port)
            loop.run_until_complete(site.start())
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            ready.set()
            loop.run_forever()

        threading.Thread(target=serve, daemon=True, name="fake-twilio").start()
        ready.wait(10)
        return self


def _expected_auth() -> str:
    return base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()


def _resource(message: dict[str, Any]) -> dict[str, Any]:
    """A message as Twilio's API shows it."""
    return {
        "sid": message["sid"],
        "account_sid": ACCOUNT_SID,
        "to": message.get("To"),
        "from": message.get("From"),
        "body": message.get("Body"),
        "status": "queued",
        "date_created": formatdate(message["created"], usegmt=True),
    }
