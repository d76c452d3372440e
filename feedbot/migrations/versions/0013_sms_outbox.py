"""messages: an outbound SMS outbox (attempts, next attempt, sent despite an opt-out)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("delivery_attempts", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("despite_opt_out", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_index("ix_messages_next_attempt_at", "messages", ["next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_messages_next_attempt_at", table_name="messages")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("despite_opt_out")
        batch_op.drop_column("next_attempt_at")
        batch_op.drop_column("delivery_attempts")
