"""Engines for DATABASE_URL: async for the app and actions, sync for
migrations and command-line jobs. SQLite is the default, PostgreSQL works too."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.engine.url import URL
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.sql import Executable

T = TypeVar("T")

_ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+psycopg"}
_SYNC_DRIVERS = {"sqlite": "sqlite", "postgresql": "postgresql+psycopg"}


class DatabaseURLError(ValueError):
    """DATABASE_URL names a database Feedbot does not support."""


def _with_driver(database_url: str, drivers: dict[str, str]) -> URL:
    url = make_url(database_url)
    backend = url.get_backend_name()
    if backend not in drivers:
        raise DatabaseURLError(
            f"DATABASE_URL uses {backend!r}; Feedbot supports sqlite:/// and postgresql://"
        )
    if backend == "sqlite" and url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    return url.set(drivername=drivers[backend])


# The conversation engine's SQLite page cache, per connection. SQLite's
# default is 2 MB per connection, and the pool keeps up to 15: a cache that
# fills slowly as the database grows, which in a long bulk send looked like a
# leak (+3.6 MB over 5,400 messages, still rising; 128 KiB: +0.5 MB, level;
# docs/performance.md). Conversation queries are point lookups, and in WAL
# mode a connection's cache is emptied whenever another connection writes, so
# a large cache buys nothing there. Reports and exports use the sync engine,
# which keeps SQLite's default.
CONVERSATION_PAGE_CACHE_KIB = 128


def _tune_sqlite(dbapi_connection: Any, _record: Any, page_cache_kib: int | None = None) -> None:
    # WAL lets the app and the action server read while the other writes; the
    # busy timeout makes a writer wait for the lock instead of failing.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    if page_cache_kib is not None:
        cursor.execute(f"PRAGMA cache_size=-{int(page_cache_kib)}")  # negative: KiB
    cursor.close()


# A pooled connection that sat unused for longer than this is pinged before
# use, so one that PostgreSQL dropped (a restart, an idle timeout) is replaced
# instead of failing a customer's turn. A connection in steady use is not
# pinged: SQLAlchemy's `pool_pre_ping` pings on every checkout, which was a
# sixth of all statements sent per turn (docs/performance.md). A connection
# that breaks while in use fails that statement, and SQLAlchemy then
# replaces every pooled connection older than the failure.
PING_AFTER_IDLE_SECONDS = 5.0


# Connections each app instance or action server keeps open to PostgreSQL,
# and how many more it may open in a burst (closed again after use).
# SQLAlchemy's default (5 kept, 10 more) meant 0.7 new connections a turn at
# 50 conversations an instance, each a new PostgreSQL backend to start
# (docs/performance.md). Size PostgreSQL's max_connections for
# (POOL_SIZE + POOL_BURST) x (app instances + action servers), plus 6 per
# Rasa instance (docs/deployment.md).
POOL_SIZE = 15
POOL_BURST = 5


def _ping_after_idle(engine: Engine) -> None:
    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info["feedbot_checked_in"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("feedbot_checked_in")
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
            return  # new, or in steady use
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:  # the pool retries with a fresh connection
            raise exc.DisconnectionError(f"pooled connection is gone: {error}") from error


def async_engine(
    database_url: str, page_cache_kib: int | None = CONVERSATION_PAGE_CACHE_KIB
) -> AsyncEngine:
    """The engine the app and the action server hold conversations through.
    ``page_cache_kib=None`` leaves SQLite's page cache at its default."""
    url = _with_driver(database_url, _ASYNC_DRIVERS)
    if url.get_backend_name() != "sqlite":
        engine = create_async_engine(url, pool_size=POOL_SIZE, max_overflow=POOL_BURST)
        _ping_after_idle(engine.sync_engine)
    else:
        engine = create_async_engine(url)
        event.listen(
            engine.sync_engine,
            "connect",
            lambda conn, record: _tune_sqlite(conn, record, page_cache_kib),
        )
    return engine


def sync_engine(database_url: str) -> Engine:
    url = _with_driver(database_url, _SYNC_DRIVERS)
    engine = create_engine(url)
    if url.get_backend_name() != "sqlite":
        _ping_after_idle(engine)
    else:
        event.listen(engine, "connect", _tune_sqlite)
    return engine


async def claim_each(
    sessions: async_sessionmaker[AsyncSession],
    candidates: Iterable[T],
    claim: Callable[[T], Executable],
) -> list[T]:
    """The candidates this caller won: each taken by its own conditional
    update in its own transaction, so that several app instances looking at
    the same candidates never take the same one."""
    won = []
    for candidate in candidates:
        async with sessions.begin() as session:
            result = await session.execute(claim(candidate))
        if result.rowcount:
            won.append(candidate)
    return won
