"""sms: opt-outs, delivery status, schedule and send times

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "opt_outs",
        sa.Column("phone", sa.String(length=32), nullable=False),
        sa.Column("keyword", sa.String(length=16), nullable=False),
        sa.Column("opted_out_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("phone"),
    )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("peer", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("delivery_status", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("delivery_error", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("status_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.alter_column("survey_id", existing_type=sa.VARCHAR(length=36), nullable=True)
        batch_op.create_index(batch_op.f("ix_messages_peer"), ["peer"], unique=False)

    with op.batch_alter_table("surveys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("state_reason", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("send_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f("ix_surveys_send_at"), ["send_at"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("surveys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_surveys_send_at"))
        batch_op.drop_column("reminded_at")
        batch_op.drop_column("sent_at")
        batch_op.drop_column("send_at")
        batch_op.drop_column("state_reason")

    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_messages_peer"))
        batch_op.alter_column("survey_id", existing_type=sa.VARCHAR(length=36), nullable=False)
        batch_op.drop_column("status_at")
        batch_op.drop_column("delivery_error")
        batch_op.drop_column("delivery_status")
        batch_op.drop_column("peer")

    op.drop_table("opt_outs")
