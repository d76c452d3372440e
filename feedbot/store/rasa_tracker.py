"""Reading Rasa's tracker store (its SQL `events` table, in Feedbot's
database or beside it) to learn whether Rasa saved a turn, and what the bot
said in it.

A turn whose app instance stopped (or timed out) while Rasa worked may have
been saved by Rasa or not; Rasa saves a turn whole, after it. Every message
the app sends carries its transcript id in the metadata Rasa stores on the
user event, so the turn is found by it: if it is there, its replies are the
bot events that follow, up to the next user event, and the message must not
be sent to Rasa again (the bot would read the score twice).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from sqlalchemy import Engine, MetaData, Table, select
from sqlalchemy.exc import NoSuchTableError

from feedbot.store.database import sync_engine

RASA_EVENTS = "events"
# The key under which the app puts its transcript id in a message's metadata.
MESSAGE_ID = "message_id"

Reply = tuple[str, list[dict[str, str]] | None]


class RasaTracker:
    def __init__(self, url: str) -> None:
        self._url = url
        self._engine: Engine | None = None
        self._events: Table | None = None

    async def answer_to(self, conversation_id: str, message_id: int) -> list[Reply] | None:
        """The bot's replies in the turn Rasa saved for this message, or None
        when Rasa has no such turn."""
        return await asyncio.to_thread(self._answer_to, conversation_id, message_id)

    def _answer_to(self, conversation_id: str, message_id: int) -> list[Reply] | None:
        events = self._table()
        if events is None:
            return None
        assert self._engine is not None
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(events.c.type_name, events.c.data)
                .where(
                    events.c.sender_id == conversation_id,
                    events.c.type_name.in_(["user", "bot"]),
                )
                .order_by(events.c.id)
            ).all()
        found = False
        replies: list[Reply] = []
        for type_name, data in rows:
            event: dict[str, Any] = json.loads(data)
            if type_name == "user":
                if found:
                    break
                found = (event.get("metadata") or {}).get(MESSAGE_ID) == message_id
            elif found and event.get("text"):
                buttons = (event.get("data") or {}).get("buttons") or None
                replies.append((str(event["text"]), buttons))
        return replies if found else None

    def _table(self) -> Table | None:
        if self._events is None:
            self._engine = self._engine or sync_engine(self._url)
            try:
                self._events = Table(RASA_EVENTS, MetaData(), autoload_with=self._engine)
            except NoSuchTableError:
                return None  # Rasa has saved nothing yet
        return self._events

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
