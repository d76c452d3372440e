"""each theme of an answer: its own sentiment and the words that made it

Theme rows take their answer's sentiment, which is what every theme had
before; `feedbot retag` reads each theme's own from the stored words. The
report index gains the sentiment, so the drivers report still counts from it
alone.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

REPORT_INDEX = "ix_response_themes_report"
# A snapshot of feedbot.store.models.REPORT_INDEXES["response_themes"] as of
# this revision, and as of the one before.
COLUMNS = ["touchpoint", "location", "theme", "score", "created_day", "sentiment"]
COLUMNS_BEFORE = ["touchpoint", "location", "theme", "score", "created_day"]


def upgrade() -> None:
    with op.batch_alter_table("response_themes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sentiment", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("words", sa.JSON(), nullable=True))
    op.execute(
        """
        UPDATE response_themes SET sentiment = (
          SELECT r.sentiment FROM responses r WHERE r.survey_id = response_themes.survey_id
        )
        """
    )
    op.drop_index(REPORT_INDEX, table_name="response_themes")
    op.create_index(REPORT_INDEX, "response_themes", COLUMNS)


def downgrade() -> None:
    op.drop_index(REPORT_INDEX, table_name="response_themes")
    op.create_index(REPORT_INDEX, "response_themes", COLUMNS_BEFORE)
    with op.batch_alter_table("response_themes", schema=None) as batch_op:
        batch_op.drop_column("words")
        batch_op.drop_column("sentiment")
