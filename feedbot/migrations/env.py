"""Alembic environment: runs migrations on a sync engine for DATABASE_URL."""

from __future__ import annotations

import logging

from alembic import context
from sqlalchemy import text

from feedbot.settings import Settings
from feedbot.store.database import sync_engine
from feedbot.store.models import Base

config = context.config
logging.getLogger("alembic").setLevel(logging.WARNING)
database_url = config.attributes.get("database_url") or Settings.from_env().database_url
# Every instance migrates as it starts (`feedbot serve`), and a service
# manager starts them together: on PostgreSQL they take turns on this lock,
# held until the migration commits, and the later ones find the database at
# head. (SQLite serves one instance.)
MIGRATION_LOCK = 0x46454544424F54  # "FEEDBOT"

engine = sync_engine(database_url)
with engine.begin() as connection:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
