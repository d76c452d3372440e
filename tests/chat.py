"""A customer on the web widget's WebSocket, for end-to-end tests."""

from __future__ import annotations

import uuid
from typing import Any

import aiohttp
import yaml

from feedbot.settings import PROJECT_ROOT


class ChatClient:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.survey_id: str | None = None

    async def frames_until(self, kind: str, within: float = 60) -> list[dict[str, Any]]:
        """Frames received up to and including the first of type ``kind``."""
        frames = []
        while True:
            frame = await self.ws.receive_json(timeout=within)
            frames.append(frame)
            if frame["type"] == "survey":
                self.survey_id = frame["survey_id"]
            if frame["type"] == kind:
                return frames

    async def start(self, **fields: str) -> list[str]:
        await self.ws.send_json({"type": "start", **fields})
        return bot_texts(await self.frames_until("ready"))

    async def say(self, text: str, message_id: str | None = None) -> list[str]:
        # Random ids, as the widget makes them: the server stores each id once.
        await self.ws.send_json(
            {"type": "message", "text": text, "id": message_id or uuid.uuid4().hex}
        )
        return bot_texts(await self.frames_until("ready"))


def bot_texts(frames: list[dict[str, Any]]) -> list[str]:
    return [f["text"] for f in frames if f["type"] == "bot"]


def response_texts(name: str) -> set[str]:
    """Every wording of a response in domain.yml, for asserting which one was said."""
    domain = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text())
    return {variation["text"] for variation in domain["responses"][name]}
