"""satisfaction ratings: the author's one rating (1-5, optional comment) of a closed ticket

Revision ID: 0010_ratings
Revises: 0007_discord
Create Date: 2026-11-30 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_ratings"
down_revision: str | None = "0008_sla"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ticket_ratings",
        sa.Column("ticket_id", sa.Uuid(), nullable=False),
        sa.Column("author_id", sa.BigInteger(), nullable=False),
        sa.Column("score", sa.SmallInteger(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("score BETWEEN 1 AND 5", name=op.f("ck_ticket_ratings_score")),
        sa.CheckConstraint(
            "char_length(comment) <= 2000", name=op.f("ck_ticket_ratings_comment_length")
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_ticket_ratings_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name=op.f("fk_ticket_ratings_author_id_users")
        ),
        sa.PrimaryKeyConstraint("ticket_id", name=op.f("pk_ticket_ratings")),
    )
    op.create_index(
        op.f("ix_ticket_ratings_created_at"), "ticket_ratings", ["created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_ticket_ratings_created_at"), table_name="ticket_ratings")
    op.drop_table("ticket_ratings")
