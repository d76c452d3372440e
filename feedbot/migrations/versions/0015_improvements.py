"""improvements ("you said, we did") and the notices that tell customers

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "improvements",
        sa.Column("id", sa.String(length=36), primary_key=True),
        sa.Column("theme", sa.String(length=32), nullable=False),
        sa.Column("touchpoint", sa.String(length=64), nullable=True),
        sa.Column("location", sa.String(length=64), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("lookback_days", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("recipients", sa.Integer(), nullable=False),
    )
    op.create_index("ix_improvements_theme", "improvements", ["theme"])
    op.create_index("ix_improvements_created_at", "improvements", ["created_at"])
    op.create_table(
        "improvement_notices",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "improvement_id", sa.String(length=36), sa.ForeignKey("improvements.id"), nullable=False
        ),
        sa.Column("survey_id", sa.String(length=36), sa.ForeignKey("surveys.id"), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("customer_ref", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("why", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("improvement_id", "customer_ref", "channel"),
    )
    for column in ("improvement_id", "survey_id", "customer_ref", "status", "next_attempt_at"):
        op.create_index(f"ix_improvement_notices_{column}", "improvement_notices", [column])


def downgrade() -> None:
    for column in ("improvement_id", "survey_id", "customer_ref", "status", "next_attempt_at"):
        op.drop_index(f"ix_improvement_notices_{column}", table_name="improvement_notices")
    op.drop_table("improvement_notices")
    op.drop_index("ix_improvements_created_at", table_name="improvements")
    op.drop_index("ix_improvements_theme", table_name="improvements")
    op.drop_table("improvements")
