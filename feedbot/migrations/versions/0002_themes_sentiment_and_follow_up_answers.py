"""themes, sentiment and follow-up answers

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "response_themes",
        sa.Column("survey_id", sa.String(length=36), nullable=False),
        sa.Column("theme", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["survey_id"],
            ["responses.survey_id"],
        ),
        sa.PrimaryKeyConstraint("survey_id", "theme"),
    )
    with op.batch_alter_table("response_themes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_response_themes_theme"), ["theme"], unique=False)

    with op.batch_alter_table("responses", schema=None) as batch_op:
        batch_op.add_column(sa.Column("follow_up", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("sentiment", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("follow_up_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f("ix_responses_sentiment"), ["sentiment"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("responses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_responses_sentiment"))
        batch_op.drop_column("follow_up_at")
        batch_op.drop_column("sentiment")
        batch_op.drop_column("follow_up")

    with op.batch_alter_table("response_themes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_response_themes_theme"))

    op.drop_table("response_themes")
