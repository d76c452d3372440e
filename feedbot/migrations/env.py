"""Alembic environment: runs migrations on a sync engine for DATABASE_URL."""

from __future__ import annotations

import logging

from alembic import context

from feedbot.settings import Settings
from feedbot.store.database import sync_engine
from feedbot.store.models import Base

config = context.config
logging.getLogger("alembic").setLevel(logging.WARNING)
database_url = config.attributes.get("database_url") or Settings.from_env().database_url

engine = sync_engine(database_url)
with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
