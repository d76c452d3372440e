"""Engines for DATABASE_URL: async for the app and actions, sync for
migrations and command-line jobs. SQLite is the default, PostgreSQL works too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.engine.url import URL
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

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


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the app and the action server read while the other writes; the
    # busy timeout makes a writer wait for the lock instead of failing.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def async_engine(database_url: str) -> AsyncEngine:
    url = _with_driver(database_url, _ASYNC_DRIVERS)
    engine = create_async_engine(url, pool_pre_ping=url.get_backend_name() != "sqlite")
    if url.get_backend_name() == "sqlite":
        event.listen(engine.sync_engine, "connect", _tune_sqlite)
    return engine


def sync_engine(database_url: str) -> Engine:
    url = _with_driver(database_url, _SYNC_DRIVERS)
    engine = create_engine(url, pool_pre_ping=url.get_backend_name() != "sqlite")
    if url.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _tune_sqlite)
    return engine
