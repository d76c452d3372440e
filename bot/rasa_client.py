"""Talking to the Rasa server over its REST channel."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import aiohttp


class RasaUnavailable(Exception):
    """Rasa did not answer a turn (down, too slow, or an error)."""


@dataclass(frozen=True)
class BotMessage:
    text: str
    buttons: list[dict[str, str]] = field(default_factory=list)


class RasaClient:
    def __init__(self, session: aiohttp.ClientSession, base_url: str, timeout: float) -> None:
        self._session = session
        self._base_url = base_url
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def send(
        self, sender: str, text: str, metadata: dict[str, Any], channel: str
    ) -> list[BotMessage]:
        payload = {
            "sender": sender,
            "message": text,
            "metadata": metadata,
            "input_channel": channel,
        }
        try:
            async with self._session.post(
                f"{self._base_url}/webhooks/rest/webhook", json=payload, timeout=self._timeout
            ) as resp:
                if resp.status != 200:
                    raise RasaUnavailable(f"Rasa answered {resp.status}")
                replies = await resp.json()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RasaUnavailable(str(exc) or type(exc).__name__) from exc
        return [_bot_message(reply) for reply in replies if reply.get("text")]

    async def ping(self) -> None:
        """Raises unless Rasa answers (it listens only once its model is loaded)."""
        try:
            async with self._session.get(
                f"{self._base_url}/", timeout=aiohttp.ClientTimeout(total=3)
            ) as resp:
                if resp.status != 200:
                    raise RasaUnavailable(f"Rasa answered {resp.status}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RasaUnavailable(str(exc) or type(exc).__name__) from exc


def _bot_message(reply: dict[str, Any]) -> BotMessage:
    buttons = [
        {"title": str(b.get("title", "")), "payload": str(b.get("payload", ""))}
        for b in reply.get("buttons") or []
    ]
    return BotMessage(text=str(reply["text"]), buttons=buttons)
