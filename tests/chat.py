"""A customer on the web widget's WebSocket, for end-to-end tests."""

from __future__ import annotations

import uuid
from typing import Any

import aiohttp
import yaml

from feedbot.nps import Category
from feedbot.settings import PROJECT_ROOT
from feedbot.touchpoints import load_survey_config

CONFIG = load_survey_config(PROJECT_ROOT / "touchpoints.yml")


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


def response_variations(name: str, language: str = "en") -> list[dict[str, Any]]:
    """A response's variations in domain.yml, or a language's own domain
    (locales/<language>/domain.yml): text, buttons, conditions."""
    path = PROJECT_ROOT / ("domain.yml" if language == "en" else f"locales/{language}/domain.yml")
    return yaml.safe_load(path.read_text())["responses"][name]


def response_texts(name: str, language: str = "en") -> set[str]:
    """Every wording of a response, for asserting which one was said."""
    return {variation["text"] for variation in response_variations(name, language)}


def follow_up(touchpoint: str, category: Category | str, language: str = "en") -> str:
    """The why question the shipped touchpoints.yml asks for this touchpoint."""
    tp = CONFIG.in_language(language).touchpoint(touchpoint)
    assert tp is not None and tp.follow_up is not None
    return tp.follow_up.for_category(Category(category))


def about(touchpoint: str, language: str = "en") -> str:
    tp = CONFIG.in_language(language).touchpoint(touchpoint)
    assert tp is not None
    return tp.about
