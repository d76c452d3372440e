"""Talking to the Rasa instances over their REST channel: every conversation
goes to one instance, chosen by a stable hash over the healthy ones."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from feedbot.locales import DEFAULT

log = logging.getLogger(__name__)

# An instance that refused a connection is passed over for this long, then
# tried again (its conversations come back to it once it answers).
DOWN_FOR_SECONDS = 5.0
# Rasa's one reply to a turn it refused before it began (feedbot_rasa.turns,
# in Rasa's environment, has the same key; tests/test_rasa_patches.py ties them).
TURN_REFUSED = "feedbot.turn_refused"


class RasaUnavailable(Exception):
    """Rasa did not answer a turn (down, too slow, or an error)."""


class RasaUnreachable(RasaUnavailable):
    """No Rasa instance took the turn at all (refused, or died before saving
    it): the turn can safely be sent again later."""

    def __init__(self, message: str, mid_turn: bool = False) -> None:
        super().__init__(message)
        # Some instance began the turn and dropped it (it died, or abandoned
        # the turn when its action server failed): not merely down.
        self.mid_turn = mid_turn


class _Unreachable(RasaUnavailable):
    """This instance is not there (refused, reset, died mid-turn): another may answer."""

    def __init__(self, message: str, mid_turn: bool) -> None:
        super().__init__(message)
        self.mid_turn = mid_turn


@dataclass(frozen=True)
class BotMessage:
    text: str
    buttons: list[dict[str, str]] = field(default_factory=list)
    # A custom payload instead of words: what the actions decided
    # (feedbot.bot_decisions); never shown to the customer.
    custom: dict[str, Any] | None = None


def instance_order(conversation_id: str, urls: Sequence[str]) -> list[str]:
    """The instances in the order this conversation tries them: rendezvous
    hashing, so a conversation keeps its instance while it is healthy, and
    only the conversations of an instance that is down move."""

    def weight(url: str) -> int:
        digest = hashlib.blake2b(f"{url}\n{conversation_id}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big")

    return sorted(urls, key=weight, reverse=True)


class RasaClient:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_urls: str | Sequence[str],
        timeout: float,
        clock: Callable[[], float] = time.monotonic,
        release_lock: Callable[[str], Awaitable[None]] | None = None,
        more_languages: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        """``base_urls``: the instances of the default language (English);
        ``more_languages``: each other language's instances (one model per
        language), by language."""
        self._session = session
        self.urls = [base_urls] if isinstance(base_urls, str) else list(base_urls)
        self._by_language = {DEFAULT: self.urls}
        self._by_language |= {lang: list(urls) for lang, urls in (more_languages or {}).items()}
        self._all = [u for urls in self._by_language.values() for u in urls]
        self._timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=min(timeout, 2.0))
        self._clock = clock
        self._down_until: dict[str, float] = {}
        # An instance that died mid-turn leaves the conversation's lock in
        # Rasa's Redis lock store, and the next instance would wait on it.
        self._release_lock = release_lock

    @property
    def languages(self) -> list[str]:
        """The languages some instance speaks (the default first)."""
        return [lang for lang, urls in self._by_language.items() if urls]

    def healthy(self) -> list[str]:
        now = self._clock()
        return [u for u in self._all if self._down_until.get(u, 0.0) <= now]

    def _candidates(self, conversation_id: str, language: str) -> list[str]:
        """The instances of the conversation's language: healthy ones first,
        in this conversation's order; then the others, in case they are back."""
        urls = self._by_language.get(language)
        if not urls:
            log.warning(
                "no Rasa instance speaks %r (conversation %s): using %s's",
                language,
                conversation_id,
                DEFAULT,
            )
            urls = self.urls
        order = instance_order(conversation_id, urls)
        healthy = set(self.healthy())
        return [u for u in order if u in healthy] + [u for u in order if u not in healthy]

    async def send(
        self,
        sender: str,
        text: str,
        metadata: dict[str, Any],
        channel: str,
        language: str = DEFAULT,
    ) -> list[BotMessage]:
        """One turn of this conversation, on an instance of its language."""
        payload = {
            "sender": sender,
            "message": text,
            "metadata": metadata,
            "input_channel": channel,
        }
        failures = []
        mid_turn = False
        candidates = self._candidates(sender, language)
        for url in candidates:
            try:
                replies = await self._send_to(url, payload)
            except _Unreachable as exc:  # (any other failure is raised as it is)
                self._down_until[url] = self._clock() + DOWN_FOR_SECONDS
                failures.append(f"{url}: {exc}")
                mid_turn = mid_turn or exc.mid_turn
                if exc.mid_turn and self._release_lock is not None:
                    await self._release_lock(sender)
                if len(candidates) > 1:
                    log.warning("Rasa at %s did not answer (%s); trying another instance", url, exc)
                continue
            self._down_until.pop(url, None)
            return replies
        raise RasaUnreachable("; ".join(failures), mid_turn)

    async def _send_to(self, url: str, payload: dict[str, Any]) -> list[BotMessage]:
        try:
            async with self._session.post(
                f"{url}/webhooks/rest/webhook", json=payload, timeout=self._timeout
            ) as resp:
                if resp.status != 200:
                    raise RasaUnavailable(f"Rasa answered {resp.status}")
                replies = await resp.json()
        except aiohttp.ClientConnectorError as exc:  # refused: the turn never began
            raise _Unreachable(str(exc) or type(exc).__name__, mid_turn=False) from exc
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
            # The process died during the turn. Rasa saves a conversation
            # only after the whole turn, so another instance replays it from
            # the last saved state.
            raise _Unreachable(str(exc) or type(exc).__name__, mid_turn=True) from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            # Too slow, or a garbled answer: the turn may still be running
            # there, so it is not replayed elsewhere.
            raise RasaUnavailable(str(exc) or type(exc).__name__) from exc
        for reply in replies:
            custom = reply.get("custom")
            if isinstance(custom, dict) and TURN_REFUSED in custom:
                # (feedbot_rasa patch 12: its lock store, Redis, is down.)
                raise _Unreachable(f"refused the turn: {custom[TURN_REFUSED]}", mid_turn=False)
        return [_bot_message(r) for r in replies if r.get("text") or r.get("custom")]

    async def ping(self) -> dict[str, str]:
        """Each instance's state ("ok" or why not); Rasa answers only once its
        model is loaded. Raises when no instance answers."""
        states = {}
        for url in self._all:
            try:
                async with self._session.get(
                    f"{url}/", timeout=aiohttp.ClientTimeout(total=3)
                ) as resp:
                    states[url] = "ok" if resp.status == 200 else f"answered {resp.status}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                states[url] = f"down: {exc or type(exc).__name__}"
            if states[url] == "ok":
                self._down_until.pop(url, None)
            else:
                self._down_until[url] = self._clock() + DOWN_FOR_SECONDS
        if "ok" not in states.values():
            raise RasaUnavailable("; ".join(f"{u} {s}" for u, s in states.items()))
        return states


def _bot_message(reply: dict[str, Any]) -> BotMessage:
    buttons = [
        {"title": str(b.get("title", "")), "payload": str(b.get("payload", ""))}
        for b in reply.get("buttons") or []
    ]
    custom = reply.get("custom")
    return BotMessage(
        text=str(reply.get("text") or ""),
        buttons=buttons,
        custom=custom if isinstance(custom, dict) else None,
    )
