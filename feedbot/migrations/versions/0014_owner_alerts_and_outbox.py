"""owners: alerts waiting for a batch, an e-mail/Slack outbox, turn clocks, surveys' alert state

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Surveys that ended before this version are never alerted: the column
    # starts empty.
    with op.batch_alter_table("surveys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("alert_state", sa.String(length=8), nullable=True))
    op.create_index("ix_surveys_alert_state", "surveys", ["alert_state"])
    op.create_table(
        "owner_messages",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("owner", sa.String(length=254), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("batch", sa.String(length=36), nullable=True),
        sa.Column("dedupe_key", sa.String(length=200), nullable=True, unique=True),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("html", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_owner_messages_owner", "owner_messages", ["owner"])
    op.create_index("ix_owner_messages_batch", "owner_messages", ["batch"])
    op.create_index("ix_owner_messages_next_attempt_at", "owner_messages", ["next_attempt_at"])
    op.create_table(
        "owner_alerts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("owner", sa.String(length=254), nullable=False),
        sa.Column("survey_id", sa.String(length=36), sa.ForeignKey("surveys.id"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("batch", sa.String(length=36), nullable=True),
        sa.UniqueConstraint("owner", "survey_id"),
    )
    op.create_index("ix_owner_alerts_batch", "owner_alerts", ["owner", "batch"])
    op.create_index("ix_owner_alerts_survey_id", "owner_alerts", ["survey_id"])
    op.create_table(
        "turn_clocks",
        sa.Column("subject", sa.String(length=254), primary_key=True),
        sa.Column("kind", sa.String(length=16), primary_key=True),
        sa.Column("next_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("turn_clocks")
    op.drop_index("ix_owner_alerts_survey_id", table_name="owner_alerts")
    op.drop_index("ix_owner_alerts_batch", table_name="owner_alerts")
    op.drop_table("owner_alerts")
    op.drop_index("ix_owner_messages_next_attempt_at", table_name="owner_messages")
    op.drop_index("ix_owner_messages_batch", table_name="owner_messages")
    op.drop_index("ix_owner_messages_owner", table_name="owner_messages")
    op.drop_table("owner_messages")
    op.drop_index("ix_surveys_alert_state", table_name="surveys")
    with op.batch_alter_table("surveys", schema=None) as batch_op:
        batch_op.drop_column("alert_state")
