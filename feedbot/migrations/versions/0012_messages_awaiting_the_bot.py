"""messages: a customer's message waiting for the bot while Rasa is down

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("awaiting_bot_since", sa.DateTime(timezone=True), nullable=True)
        )
    op.create_index("ix_messages_awaiting_bot_since", "messages", ["awaiting_bot_since"])


def downgrade() -> None:
    op.drop_index("ix_messages_awaiting_bot_since", table_name="messages")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("awaiting_bot_since")
