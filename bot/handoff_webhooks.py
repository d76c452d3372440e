"""Hand-off events POSTed to a team's own help desk (docs/handoff.md).

Each event (opened, claimed, released, replied, resolved) becomes one JSON body per
configured URL, logged in `webhook_deliveries` before it is sent, signed with
HMAC-SHA256 of the exact body (`X-Feedbot-Signature: sha256=<hex>`, keyed by
FEEDBOT_WEBHOOK_SECRET), and retried with backoff on timeouts, connection
errors and non-2xx answers. Sending runs in the background: a slow or failing
target never holds up a conversation or an agent.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import aiohttp

from feedbot.store.handoffs import HandoffStore

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-Feedbot-Signature"
SENT_EVENTS = ("opened", "claimed", "released", "replied", "resolved")
# A pending delivery untouched this long has lost its instance (retries are
# seconds apart): another instance resumes it.
STALLED_AFTER = timedelta(minutes=2)


def signature(secret: str, body: bytes) -> str:
    """What the header carries; receivers compute the same and compare."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class HandoffWebhooks:
    def __init__(
        self,
        urls: list[str],
        secret: str,
        handoffs: HandoffStore,
        http: aiohttp.ClientSession,
        clock: Callable[[], datetime],
        *,
        attempts: int = 5,
        first_delay: float = 1.0,
        timeout: float = 5.0,
    ) -> None:
        self._urls, self._secret, self._http, self._clock = urls, secret, http, clock
        self._handoffs = handoffs
        self._attempts, self._first_delay, self._timeout = attempts, first_delay, timeout
        self._tasks: set[asyncio.Task[None]] = set()

    def notify(self, event: dict[str, Any]) -> None:
        """Called for every hand-off event; sends the ones help desks get."""
        if event.get("event") not in SENT_EVENTS or not self._urls:
            return
        task = asyncio.create_task(self._send_all(event), name=f"webhook {event['event']}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self, within: float = 30) -> None:
        """Wait for deliveries under way (at shutdown, and in tests)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=within)

    async def _send_all(self, event: dict[str, Any]) -> None:
        try:
            payload = await self._payload(event)
            if payload is None:
                return
            body = json.dumps(payload, separators=(",", ":")).encode()
            await asyncio.gather(*(self._deliver(url, event, body) for url in self._urls))
        except Exception:  # a webhook must never take anything else down
            log.exception("hand-off webhook for %s failed", event.get("event"))

    async def _payload(self, event: dict[str, Any]) -> dict[str, Any] | None:
        handoff = await self._handoffs.get(event["handoff_id"])
        if handoff is None:
            return None
        return {
            "event": event["event"],
            "at": self._clock().isoformat(),
            "handoff": {
                "id": handoff.id,
                "survey_id": handoff.survey_id,
                "reason": handoff.reason,
                "urgency": handoff.urgency,
                "state": handoff.state,
                "claimed_by": handoff.claimed_by,
                "resolution_code": handoff.resolution_code,
                "created_at": handoff.created_at.isoformat(),
            },
            **{k: v for k, v in event.items() if k in ("agent", "code")},
        }

    async def _deliver(self, url: str, event: dict[str, Any], body: bytes) -> None:
        delivery = await self._handoffs.log_delivery(
            event["handoff_id"], event["event"], url, body.decode(), self._clock()
        )
        await self._try(delivery, url, event["event"], body, first_attempt=1)

    async def resume_stalled(self) -> int:
        """Deliveries an instance logged but stopped before finishing (a
        crash, a restart), resent now with their exact logged body."""
        stalled = await self._handoffs.claim_stalled_deliveries(self._clock(), STALLED_AFTER)
        for delivery in stalled:
            log.warning(
                "webhook %s to %s was left pending; resuming it", delivery.event, delivery.url
            )
            await self._try(
                delivery.id,
                delivery.url,
                delivery.event,
                delivery.payload.encode(),
                first_attempt=delivery.attempts + 1,
            )
        return len(stalled)

    async def _try(
        self, delivery: int, url: str, event_name: str, body: bytes, first_attempt: int
    ) -> None:
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature(self._secret, body),
        }
        limit = aiohttp.ClientTimeout(total=self._timeout)
        error = ""
        last = max(self._attempts, first_attempt)
        for attempt in range(first_attempt, last + 1):
            if attempt > first_attempt:
                await asyncio.sleep(self._first_delay * 2 ** (attempt - 2))
            try:
                async with self._http.post(url, data=body, headers=headers, timeout=limit) as resp:
                    if 200 <= resp.status < 300:  # (the last failure, if any, stays logged)
                        await self._handoffs.delivery_tried(
                            delivery, "delivered", attempt, error or None, self._clock()
                        )
                        return
                    error = f"HTTP {resp.status}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                error = f"{type(exc).__name__}: {exc}".rstrip(": ")
            status = "failed" if attempt == last else "pending"
            await self._handoffs.delivery_tried(delivery, status, attempt, error, self._clock())
            log.info("webhook %s to %s failed (attempt %d): %s", event_name, url, attempt, error)
        log.error("webhook %s to %s given up: %s", event_name, url, error)
