"""the SMS inbox: inbound texts stored before Twilio is answered

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sms_inbox",
        sa.Column("sid", sa.String(length=64), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("handled_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("sid"),
    )
    op.create_index("ix_sms_inbox_handled_at", "sms_inbox", ["handled_at"])


def downgrade() -> None:
    op.drop_index("ix_sms_inbox_handled_at", table_name="sms_inbox")
    op.drop_table("sms_inbox")
