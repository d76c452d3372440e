"""reports: facts copied for one-pass reports, and the indexes they read

Each survey keeps the UTC day it was made, its score, the time of its first
answer and the time to answer; each theme row keeps its survey's touchpoint,
location, day and score. Reports then count from one covering index with no
join, and find medians by walking an index (docs/analytics.md, "Speed").

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# A snapshot of feedbot.store.models.REPORT_INDEXES as of this revision.
INDEXES = {
    "surveys": {
        "ix_surveys_report": [
            "touchpoint",
            "location",
            "created_day",
            "state",
            "sent_at",
            "answered_at",
            "score",
            "answer_seconds",
        ],
        "ix_surveys_answer": ["answer_seconds", "created_day", "touchpoint", "location"],
        "ix_surveys_touchpoint_answer": ["touchpoint", "answer_seconds", "created_day", "location"],
        "ix_surveys_location_answer": ["location", "answer_seconds", "created_day", "touchpoint"],
        "ix_surveys_place_answer": ["touchpoint", "location", "answer_seconds", "created_day"],
    },
    "response_themes": {
        "ix_response_themes_report": ["touchpoint", "location", "theme", "score", "created_day"],
    },
}


def upgrade() -> None:
    with op.batch_alter_table("surveys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("created_day", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("score", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("answer_seconds", sa.Float(), nullable=True))
    with op.batch_alter_table("response_themes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("touchpoint", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("location", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("created_day", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("score", sa.Integer(), nullable=True))

    sqlite = op.get_bind().dialect.name == "sqlite"
    began = "coalesce(s.sent_at, s.started_at, s.created_at)"
    if sqlite:  # timestamps are kept as UTC ISO text
        day = "substr(created_at, 1, 10)"
        seconds = f"(julianday(r.scored_at) - julianday({began})) * 86400.0"
    else:
        day = "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
        seconds = f"extract(epoch from r.scored_at - {began})"
    first = "coalesce(r.scored_at, r.reason_at, r.follow_up_at)"
    op.execute(f"UPDATE surveys SET created_day = {day}")
    op.execute(
        f"""
        UPDATE surveys SET
          score = (SELECT r.score FROM responses r WHERE r.survey_id = surveys.id),
          answered_at = (SELECT {first} FROM responses r WHERE r.survey_id = surveys.id),
          answer_seconds = (
            SELECT {seconds} FROM responses r JOIN surveys s ON s.id = r.survey_id
            WHERE r.survey_id = surveys.id AND r.scored_at IS NOT NULL
          )
        WHERE EXISTS (SELECT 1 FROM responses r WHERE r.survey_id = surveys.id)
        """
    )
    copies = ", ".join(
        f"{name} = (SELECT s.{name} FROM surveys s WHERE s.id = response_themes.survey_id)"
        for name in ("touchpoint", "location", "created_day", "score")
    )
    op.execute(f"UPDATE response_themes SET {copies}")

    for table, indexes in INDEXES.items():
        for name, columns in indexes.items():
            op.create_index(name, table, columns)


def downgrade() -> None:
    for table, indexes in INDEXES.items():
        for name in indexes:
            op.drop_index(name, table)
    with op.batch_alter_table("response_themes", schema=None) as batch_op:
        for column in ("score", "created_day", "location", "touchpoint"):
            batch_op.drop_column(column)
    with op.batch_alter_table("surveys", schema=None) as batch_op:
        for column in ("answer_seconds", "answered_at", "score", "created_day"):
            batch_op.drop_column(column)
