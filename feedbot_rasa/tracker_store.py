"""Rasa's SQL tracker store, made cheap per turn without changing what is
stored (docs/performance.md has the profiles).

Rasa 3.6's `SQLTrackerStore`, on every message: reloads every event of the
conversation's session from the database, JSON-decodes them and replays them
into a new tracker; then, to save, counts the stored events again and
inserts the new ones. All of it is synchronous, so the event loop (every
other conversation on that instance) waits while the database answers and
commits. `FeedbotTrackerStore` writes exactly the rows Rasa writes, and:

1. keeps in memory each conversation tracker it saved (a bounded LRU) and
   hands it out again at the next turn **only if the database holds exactly
   what was saved**, checked with one indexed query (the id of the
   conversation's last event). An instance that took a conversation over
   while this one was thought down, a deleted conversation, or a turn that
   failed before saving all make the check fail, and the tracker is
   reloaded from the database as Rasa would;
2. knows how many of a tracker's events are stored, so it does not count;
3. runs its database work in worker threads, so the event loop serves other
   conversations while PostgreSQL or SQLite works.

It relies on the internals of Rasa 3.6.21's SQLTrackerStore; `check()`
(called by feedbot_rasa.patches before Rasa starts) refuses to start when
those are not the code it was written against.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import sqlalchemy as sa
from rasa.core.tracker_store import FailSafeTrackerStore, SQLTrackerStore
from rasa.shared.core.events import SessionStarted
from rasa.shared.core.trackers import DialogueStateTracker

from feedbot_rasa.turns import TurnAbandoned, one_line

logger = logging.getLogger(__name__)
T = TypeVar("T")

# The SQLTrackerStore code this class's behaviour is defined against (sha256
# of the source, first 16 hex digits; checked by feedbot_rasa.patches).
EXPECTED_SOURCES = {
    "SQLTrackerStore.save": "57165e46eab3de08",
    "SQLTrackerStore._retrieve": "c8adbf6f4b61ddd1",
    "SQLTrackerStore._event_query": "cd44f7901b860bfd",
    "SQLTrackerStore._additional_events": "d22f99eb863acb07",
    # Catches Exception only: a TurnAbandoned gets through it (see _database).
    "FailSafeTrackerStore.retrieve": "35d77318b0cc7977",
    "FailSafeTrackerStore.save": "8426dc08f58d7110",
}

DEFAULT_CACHE_SIZE = 1000  # conversations; a three-turn survey's tracker is ~20 KB


def replaced_functions() -> dict[str, Any]:
    return {
        "SQLTrackerStore.save": SQLTrackerStore.save,
        "SQLTrackerStore._retrieve": SQLTrackerStore._retrieve,
        "SQLTrackerStore._event_query": SQLTrackerStore._event_query,
        "SQLTrackerStore._additional_events": SQLTrackerStore._additional_events,
        "FailSafeTrackerStore.retrieve": FailSafeTrackerStore.retrieve,
        "FailSafeTrackerStore.save": FailSafeTrackerStore.save,
    }


@dataclass
class _Kept:
    tracker: DialogueStateTracker
    stored: int  # how many of tracker.events are in the database
    last_id: int | None  # the id of the conversation's last stored event
    lent: bool = False  # handed out and not yet saved back


# Starts of Rasa's SQL tracker store tried when another instance creates the
# same tables at the same moment.
CREATE_TRIES = 3
# Seconds a starting instance waits for a database that does not answer
# (PostgreSQL still starting after a reboot) before it refuses to start (the
# store's `database_patience`).
DEFAULT_DATABASE_PATIENCE = 120.0
# While it waits, it says so once, then at most this often.
WAITING_TOLD_EVERY = 30.0


class FeedbotTrackerStore(SQLTrackerStore):
    """SQLTrackerStore that reuses the trackers it saved (see the module)."""

    def __init__(
        self,
        *args: Any,
        cache_size: int = DEFAULT_CACHE_SIZE,
        database_patience: float = DEFAULT_DATABASE_PATIENCE,
        **kwargs: Any,
    ) -> None:
        try:
            self._create(*args, **kwargs)
            self._wait_for_tables(float(database_patience))
            self._kept: OrderedDict[str, _Kept] = OrderedDict()
            self._absent: set[str] = set()  # looked up and not found, not yet saved
            self._cache_size = int(cache_size)
            if self.engine.dialect.name == "sqlite":
                sa.event.listen(self.engine, "connect", _sqlite_wal)
            self._index_events_by_conversation()
        except AttributeError as error:
            # Rasa silently falls back to an in-memory store on AttributeError
            # while creating a custom one: every conversation would be lost.
            raise RuntimeError(f"FeedbotTrackerStore could not start: {error}") from error
        logger.info(
            "FeedbotTrackerStore on %s, keeping up to %d conversations in memory",
            self.engine.dialect.name,
            self._cache_size,
        )

    def _create(self, *args: Any, **kwargs: Any) -> None:
        """Rasa's own start, which creates its tables. Instances started at
        once (the English and the Spanish model under systemd) race to create
        them: Rasa lets the loser go on after some errors, not after a
        duplicate type in PostgreSQL's catalogue; it is tried again then,
        when the tables are there."""
        for attempt in range(1, CREATE_TRIES + 1):
            try:
                super().__init__(*args, **kwargs)
                return
            except sa.exc.IntegrityError as error:
                if attempt == CREATE_TRIES:
                    raise
                logger.info("tables created by another instance meanwhile (%s); again", error)
                time.sleep(1.0)

    def _wait_for_tables(self, patience: float) -> None:
        """Rasa's start logs "Could not create tables" and goes on when the
        database does not answer, and never makes them later: every turn
        would fail, on a new database for good. So the tables are made here
        (what is missing; nothing when they are there), waiting for the
        database up to ``patience`` seconds, after which Rasa refuses to
        start (`feedbot run` or systemd starts it again)."""
        began = told = time.monotonic()
        first = True
        while True:
            try:
                with self.engine.begin() as connection:
                    self.Base.metadata.create_all(connection)
                if not first:
                    logger.info("the database answers after %.0f s", time.monotonic() - began)
                return
            except (sa.exc.OperationalError, sa.exc.IntegrityError) as error:
                # (IntegrityError: another instance made a table at the same moment.)
                reason = one_line(error)
                now = time.monotonic()
                if now - began >= patience:
                    raise RuntimeError(
                        f"Rasa's tracker store could not use its database for "
                        f"{now - began:.0f} s: {reason}"
                    ) from None
                if first or now - told >= WAITING_TOLD_EVERY:
                    logger.warning("waiting for the database (%s)", reason)
                    told = now
                first = False
                time.sleep(1.0)

    def _index_events_by_conversation(self) -> None:
        """Rasa indexes `sender_id` only; its session query and our check
        read a conversation's events by id too."""
        statement = "CREATE INDEX IF NOT EXISTS ix_events_sender_id_id ON events (sender_id, id)"
        try:
            with self.engine.begin() as connection:
                connection.execute(sa.text(statement))
        except sa.exc.DBAPIError as error:  # another instance created it at the same time
            logger.info("events index not created here: %s", error)

    async def _database(self, work: Callable[..., T], *args: Any) -> T:
        """Database work in a worker thread. A database error (a dropped
        connection) abandons the turn: Rasa's FailSafeTrackerStore would
        otherwise answer from an empty conversation and keep it in memory,
        and the customer would be told their survey is over."""
        try:
            return await asyncio.to_thread(work, *args)
        except sa.exc.DBAPIError as error:
            logger.warning("tracker store failed (%s): the turn is abandoned", error)
            raise TurnAbandoned(f"tracker store failed: {error}") from error

    # Reading ------------------------------------------------------------

    async def retrieve(self, sender_id: str) -> DialogueStateTracker | None:
        kept = self._kept.get(sender_id)
        if kept is not None and not kept.lent:
            last_id = await self._database(self._last_event_id, sender_id)
            if last_id == kept.last_id:
                kept.lent = True
                self._kept.move_to_end(sender_id)
                return kept.tracker
            logger.info("conversation %s changed in the database; reloading it", sender_id)
        self._kept.pop(sender_id, None)
        rows = await self._database(self._load_latest_session, sender_id)
        if not rows or not self.domain:
            if not rows:
                if len(self._absent) >= self._cache_size:
                    self._absent.clear()  # lookups that were never followed by a save
                self._absent.add(sender_id)  # Rasa creates it next: nothing to count
            return None
        tracker = DialogueStateTracker.from_dict(
            sender_id, [event for _, event in rows], self.domain.slots
        )
        self._keep(sender_id, _Kept(tracker, len(tracker.events), rows[-1][0], lent=True))
        return tracker

    def _load_latest_session(self, sender_id: str) -> list[tuple[int, dict[str, Any]]]:
        with self.session_scope() as session:
            query = self._event_query(session, sender_id, fetch_events_from_all_sessions=False)
            return [(row.id, json.loads(row.data)) for row in query.all()]

    def _last_event_id(self, sender_id: str) -> int | None:
        with self.engine.connect() as connection:
            return connection.execute(_LAST_EVENT_ID, {"sender_id": sender_id}).scalar()

    async def stream_events(self, tracker: DialogueStateTracker) -> None:
        """Rasa diffs against a fresh retrieve; ours would hand back the same
        object, so diff against the database instead."""
        if self.event_broker is None:
            return None
        old = await super().retrieve(tracker.sender_id)
        from rasa.shared.core.trackers import TrackerEventDiffEngine

        new_events = TrackerEventDiffEngine.event_difference(old, tracker)
        await self._stream_new_events(self.event_broker, new_events, tracker.sender_id)

    # Writing ------------------------------------------------------------

    async def save(self, tracker: DialogueStateTracker) -> None:
        await self.stream_events(tracker)
        sender_id = tracker.sender_id
        kept = self._kept.pop(sender_id, None)
        was_absent = sender_id in self._absent
        self._absent.discard(sender_id)
        events = list(tracker.events)
        if kept is not None and kept.tracker is tracker:
            stored, last_id = kept.stored, kept.last_id
        elif was_absent and not tracker.events:
            stored, last_id = 0, None  # the new, empty tracker Rasa just created
        else:  # not one we handed out: count what is stored, as Rasa does
            stored, last_id = await self._database(self._stored_count, sender_id), None
        rows = [_row(sender_id, event) for event in events[stored:]]
        if rows or last_id is None:
            last_id = await self._database(self._insert, sender_id, rows)
        logger.debug("Tracker with sender_id '%s' stored to database", sender_id)
        self._keep(sender_id, self._as_reloaded(tracker, events, last_id))

    def _stored_count(self, sender_id: str) -> int:
        with self.session_scope() as session:
            query = self._event_query(session, sender_id, fetch_events_from_all_sessions=False)
            return query.count()

    def _insert(self, sender_id: str, rows: list[dict[str, Any]]) -> int | None:
        """Insert the new events (one statement for all of them, where Rasa's
        ORM session sends one per event) and return the conversation's last
        event id, in one transaction."""
        with self.engine.begin() as connection:
            if rows:
                connection.execute(self.SQLEvent.__table__.insert(), rows)
            return connection.execute(_LAST_EVENT_ID, {"sender_id": sender_id}).scalar()

    def _as_reloaded(
        self, tracker: DialogueStateTracker, events: list[Any], last_id: int | None
    ) -> _Kept:
        """What a reload would give: Rasa reloads only the latest session, so
        a tracker whose events cross a session start (every survey's do: it
        begins `action_session_start`, `session_started`) loses the events
        before the last one. They are cut from the same tracker object, in
        place: `SessionStarted` resets the tracker's state when applied, so
        the state is the reload's, and the tracker stays the one that
        feedbot_rasa.tracker_states has replayed (a new object every turn
        would be replayed from the start at each turn)."""
        starts = [i for i, event in enumerate(events) if isinstance(event, SessionStarted)]
        if starts and starts[-1] > 0:
            for _ in range(starts[-1]):
                tracker.events.popleft()
        return _Kept(tracker, len(tracker.events), last_id)

    def _keep(self, sender_id: str, kept: _Kept) -> None:
        self._kept[sender_id] = kept
        self._kept.move_to_end(sender_id)
        while len(self._kept) > self._cache_size:
            self._kept.popitem(last=False)


_LAST_EVENT_ID = sa.text("SELECT max(id) FROM events WHERE sender_id = :sender_id")


def _row(sender_id: str, event: Any) -> dict[str, Any]:
    """The row Rasa's SQLTrackerStore.save writes for an event."""
    data = event.as_dict()
    return {
        "sender_id": sender_id,
        "type_name": event.type_name,
        "timestamp": data.get("timestamp"),
        "intent_name": data.get("parse_data", {}).get("intent", {}).get("name"),
        "action_name": data.get("name"),
        "data": json.dumps(data),
    }


def _sqlite_wal(dbapi_connection: Any, _record: Any) -> None:
    # WAL: the worker threads read while another one writes.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()
