"""Outbound hand-off webhooks against a local receiver: signed with the
documented secret, retried, logged, and never in the way of the people."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.app import create_app
from bot.handoff_webhooks import HandoffWebhooks
from bot.keys import HANDOFF_EVENTS, STORE, WEBHOOKS
from feedbot.settings import Settings
from feedbot.store.database import sync_engine
from feedbot.store.handoffs import HandoffStore
from feedbot.store.migrate import upgrade
from feedbot.store.models import WebhookDelivery
from feedbot.store.surveys import NewSurvey

SECRET = "documented-secret"
AGENT = {"Authorization": "Bearer agent-token"}
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


@dataclass
class Receiver:
    """A help desk's endpoint: records what arrives; can fail or hold requests."""

    received: list[tuple[bytes, str]] = field(default_factory=list)
    fail_first: int = 0
    hold: asyncio.Event | None = None
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.received.append((body, request.headers.get("X-Feedbot-Signature", "")))
        self.arrived.set()
        if self.hold is not None:
            await self.hold.wait()
        if self.fail_first > 0:
            self.fail_first -= 1
            return web.Response(status=500)
        return web.Response(status=204)


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    found = Receiver()
    app = web.Application()
    app.router.add_post("/hooks/feedbot", found.handle)
    server = TestServer(app)
    await server.start_server()
    yield found, str(server.make_url("/hooks/feedbot"))
    if found.hold is not None:
        found.hold.set()
    await server.close()


@pytest.fixture
async def app_client(tmp_path: Path, receiver: tuple[Receiver, str]) -> AsyncIterator[TestClient]:
    url = f"sqlite:///{tmp_path / 'hooks.db'}"
    upgrade(url)
    settings = Settings(
        database_url=url,
        agent_token="agent-token",
        webhook_urls=(receiver[1],),
        webhook_secret=SECRET,
        webhook_retry_seconds=0.05,
    )
    async with TestClient(TestServer(create_app(settings, run_scheduler=False))) as client:
        yield client


async def open_handoff(client: TestClient) -> str:
    """A web survey handed over, announced as the app announces it after a turn."""
    store = client.app[STORE]
    survey = await store.create_survey(NewSurvey("web", "support"), T0)
    handoff, _ = await HandoffStore(store.engine).open(survey.id, "asked_for_person", None, 2, T0)
    client.app[HANDOFF_EVENTS].publish({"event": "opened", "handoff_id": handoff.id})
    return handoff.id


async def drain(client: TestClient) -> None:
    webhooks = client.app[WEBHOOKS]
    assert isinstance(webhooks, HandoffWebhooks)
    await webhooks.drain()


def logged(database_url: str) -> list[WebhookDelivery]:
    engine = sync_engine(database_url)
    with Session(engine) as session:
        rows = list(session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))
    engine.dispose()
    return rows


def expected_signature(body: bytes) -> str:
    return "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


async def test_each_event_is_posted_signed_and_logged(
    app_client: TestClient, receiver: tuple[Receiver, str], tmp_path: Path
) -> None:
    found, url = receiver
    handoff_id = await open_handoff(app_client)
    api = f"/api/handoffs/{handoff_id}"
    await app_client.post(f"{api}/claim", json={"agent": "sam"}, headers=AGENT)
    await app_client.post(f"{api}/reply", json={"agent": "sam", "text": "Hi"}, headers=AGENT)
    await app_client.post(f"{api}/notes", json={"agent": "sam", "text": "x"}, headers=AGENT)
    await app_client.post(
        f"{api}/resolve", json={"agent": "sam", "code": "resolved"}, headers=AGENT
    )
    await drain(app_client)

    events = []
    for body, header in found.received:
        assert header == expected_signature(body)  # verifies with the documented secret
        payload: dict[str, Any] = json.loads(body)
        assert payload["handoff"]["id"] == handoff_id
        events.append(payload["event"])
    assert sorted(events) == sorted(["opened", "claimed", "replied", "resolved"])  # no notes
    resolved = next(json.loads(b) for b, _ in found.received if b"resolved" in b)
    assert resolved["code"] == "resolved" and resolved["handoff"]["claimed_by"] == "sam"
    rows = logged(f"sqlite:///{tmp_path / 'hooks.db'}")
    assert [(r.status, r.attempts, r.url) for r in rows] == [("delivered", 1, url)] * 4


async def test_a_failing_target_is_retried_then_delivered(
    app_client: TestClient, receiver: tuple[Receiver, str], tmp_path: Path
) -> None:
    found, _ = receiver
    found.fail_first = 2
    await open_handoff(app_client)
    await drain(app_client)
    (row,) = logged(f"sqlite:///{tmp_path / 'hooks.db'}")
    assert (row.status, row.attempts, row.last_error) == ("delivered", 3, "HTTP 500")
    assert len(found.received) == 3 and len({body for body, _ in found.received}) == 1


async def test_a_target_that_never_answers_well_is_given_up_and_logged(
    app_client: TestClient, receiver: tuple[Receiver, str], tmp_path: Path
) -> None:
    found, _ = receiver
    found.fail_first = 99
    await open_handoff(app_client)
    await drain(app_client)
    (row,) = logged(f"sqlite:///{tmp_path / 'hooks.db'}")
    assert (row.status, row.attempts, row.last_error) == ("failed", 5, "HTTP 500")


async def test_a_slow_target_never_holds_up_an_agent(
    app_client: TestClient, receiver: tuple[Receiver, str]
) -> None:
    found, _ = receiver
    found.hold = asyncio.Event()  # the help desk does not answer until released
    handoff_id = await open_handoff(app_client)
    await asyncio.wait_for(found.arrived.wait(), 10)
    # While the help desk still holds the 'opened' event, the agent works on.
    resp = await app_client.post(
        f"/api/handoffs/{handoff_id}/claim", json={"agent": "sam"}, headers=AGENT
    )
    assert resp.status == 200
    assert not found.hold.is_set()
    found.hold.set()
    await drain(app_client)


def test_webhook_urls_need_a_secret() -> None:
    from feedbot.settings import SettingsError

    with pytest.raises(SettingsError, match="FEEDBOT_WEBHOOK_SECRET"):
        Settings.from_env({"FEEDBOT_WEBHOOK_URLS": "https://desk.example/hooks"})
    with pytest.raises(SettingsError, match="not an http"):
        Settings.from_env({"FEEDBOT_WEBHOOK_URLS": "desk.example", "FEEDBOT_WEBHOOK_SECRET": "s"})


async def test_a_delivery_left_pending_by_a_stopped_instance_is_resumed_once(
    app_client: TestClient, receiver: tuple[Receiver, str], tmp_path: Path
) -> None:
    found, url = receiver
    handoff_id = await open_handoff(app_client)
    await drain(app_client)
    found.received.clear()
    # As an instance leaves it when it stops mid-retry: logged, tried once,
    # still pending, its claim long lapsed.
    body = json.dumps({"event": "claimed", "handoff": {"id": handoff_id}}, separators=(",", ":"))
    long_ago = datetime.now(UTC) - timedelta(minutes=10)
    engine = sync_engine(f"sqlite:///{tmp_path / 'hooks.db'}")
    with Session(engine) as session, session.begin():
        session.add(
            WebhookDelivery(
                handoff_id=handoff_id, event="claimed", url=url, payload=body, status="pending",
                attempts=1, last_error="HTTP 502", created_at=long_ago, claimed_at=long_ago,
            )
        )  # fmt: skip
    engine.dispose()
    webhooks = app_client.app[WEBHOOKS]
    assert isinstance(webhooks, HandoffWebhooks)
    assert await webhooks.resume_stalled() == 1
    assert await webhooks.resume_stalled() == 0  # taken on and delivered: not again
    assert found.received == [(body.encode(), expected_signature(body.encode()))]  # as logged
    resumed = [d for d in logged(f"sqlite:///{tmp_path / 'hooks.db'}") if d.payload == body]
    assert [(d.status, d.attempts) for d in resumed] == [("delivered", 2)]
